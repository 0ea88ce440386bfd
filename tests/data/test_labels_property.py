"""Property: any labels.csv content gives a validated table or the documented DatasetError, nothing else."""

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from age_lightning.ages import MAX_AGE, MIN_AGE
from age_lightning.data.labels import LabelsSpec, read_labels
from age_lightning.errors import DatasetError

NAMES = ["a.jpg", "b.png", "missing.jpg", "", "a.jpg", "sub/c.jpg", "x,y.jpg"]
AGES = st.one_of(
    st.integers(-5, 200).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", "abc", " 30 ", "1e2", "NaN", "-0", "30;40", '"12"']),
    st.text(max_size=6),
)
ROWS = st.lists(st.tuples(st.sampled_from(NAMES), AGES), max_size=12)
HEADERS = st.sampled_from(
    [
        "file_name,real_age",
        "file_name;real_age",
        "\ufefffile_name,real_age",
        "name,age",
        "real_age,file_name",
        "file_name,real_age,split",
        "",
    ]
)
RAW = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("labels_property")
    (root / "final_files" / "sub").mkdir(parents=True)
    for name in ("a.jpg", "b.png", "sub/c.jpg"):
        Image.new("RGB", (8, 8)).save(root / "final_files" / name)
    return root


def check(folder: Path, content: str) -> None:
    (folder / "labels.csv").write_text(content, encoding="utf-8")
    try:
        table, problems = read_labels(LabelsSpec(root=str(folder)))
    except DatasetError as error:
        assert str(error)
        return
    assert table["age"].between(MIN_AGE, MAX_AGE).all()
    assert table["file_name"].is_unique
    assert set(table["line"]).isdisjoint(p.line for p in problems)
    assert all(Path(path).is_file() for path in table["path"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HEADERS, ROWS)
def test_structured_csv_contents(folder, header, rows):
    check(folder, "\n".join([header, *(f"{name},{age}" for name, age in rows)]) + "\n")


@settings(max_examples=150, deadline=None)
@given(RAW)
def test_arbitrary_text(folder, text):
    check(folder, text)
