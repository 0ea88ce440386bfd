import re

import pandas as pd
import pytest
from PIL import Image

from age_lightning.data.datamodule import AgeDataModule
from age_lightning.data.folders import INVALID_ROWS_FILE
from age_lightning.data.labels import LabelsSpec, read_labels
from age_lightning.errors import DatasetError


def problems_of(root):
    _, problems = read_labels(LabelsSpec(root=str(root)))
    return {p.file_name: (p.line, p.reason) for p in problems}


def test_valid_folder_reads_all_rows(make_folder):
    root = make_folder([("a.jpg", 30), ("b.jpg", 4.5)])
    table, problems = read_labels(LabelsSpec(root=str(root)))
    assert problems == []
    assert table["age"].tolist() == [30.0, 4.5] and table["line"].tolist() == [2, 3]


def test_every_bad_row_kind_is_reported_with_line_and_file(make_folder):
    rows = [
        ("ok.jpg", 30),
        ("missing.jpg", 30),
        ("empty.jpg", 30),
        ("truncated.jpg", 30),
        ("text.jpg", 30),
        ("abc.jpg", "abc"),
        ("nan.jpg", "nan"),
        ("negative.jpg", -1),
        ("old.jpg", 150),
        ("blank.jpg", ""),
        ("ok.jpg", 31),
    ]
    root = make_folder(rows, images=["ok.jpg", "abc.jpg", "nan.jpg", "negative.jpg", "old.jpg", "blank.jpg"])
    files = root / "final_files"
    (files / "empty.jpg").write_bytes(b"")
    Image.new("RGB", (64, 64), (1, 2, 3)).save(files / "full.jpg")
    (files / "truncated.jpg").write_bytes((files / "full.jpg").read_bytes()[:300])
    (files / "text.jpg").write_text("this is not a picture")

    found = problems_of(root)
    assert found["missing.jpg"][0] == 3 and "not found" in found["missing.jpg"][1]
    assert "0 bytes" in found["empty.jpg"][1]
    assert "truncated" in found["truncated.jpg"][1]
    assert "not an image" in found["text.jpg"][1]
    assert "'abc' is not a number" in found["abc.jpg"][1]
    assert "NaN" in found["nan.jpg"][1]
    assert "outside" in found["negative.jpg"][1] and "outside" in found["old.jpg"][1]
    assert "missing" in found["blank.jpg"][1]
    assert found["ok.jpg"] == (12, "duplicate file name (first on line 2)")


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "is empty"),
        ("file_name,real_age\n", "no rows"),
        ("name,age\na.jpg,3\n", "no column(s) ['file_name', 'real_age']"),
        ("file_name;real_age\na.jpg;3\n", "';'-separated"),
    ],
)
def test_unusable_csv_raises_clear_error(make_folder, content, message):
    root = make_folder([])
    (root / "labels.csv").write_text(content)
    with pytest.raises(DatasetError, match=re.escape(message)):
        read_labels(LabelsSpec(root=str(root)))


def test_bom_and_semicolon_option_are_accepted(make_folder):
    root = make_folder([("a.jpg", 5)])
    (root / "labels.csv").write_bytes("\ufefffile_name;real_age\na.jpg;5\n".encode())
    table, problems = read_labels(LabelsSpec(root=str(root), sep=";"))
    assert problems == [] and table["age"].tolist() == [5.0]


def test_missing_root_and_image_folder(tmp_path, make_folder):
    with pytest.raises(DatasetError, match="does not exist"):
        read_labels(LabelsSpec(root=str(tmp_path / "nowhere")))
    root = make_folder([("a.jpg", 5)])
    with pytest.raises(DatasetError, match="image folder"):
        read_labels(LabelsSpec(root=str(root), image_dir="photos"))


def test_datamodule_error_lists_first_20_and_count(make_folder):
    root = make_folder([(f"{i}.jpg", "x") for i in range(25)])
    with pytest.raises(DatasetError) as error:
        AgeDataModule(root=str(root)).setup("fit")
    text = str(error.value)
    assert "25 problem(s)" in text and "line 2: 0.jpg" in text and "... and 5 more" in text
    assert "data.on_invalid=skip" in text


def test_skip_drops_bad_rows_and_writes_them(make_folder, tmp_path):
    rows = [(f"{i}.jpg", 20 + i) for i in range(20)] + [("bad.jpg", "abc"), ("gone.jpg", 3)]
    root = make_folder(rows, images=[f"{i}.jpg" for i in range(20)] + ["bad.jpg"])
    datamodule = AgeDataModule(
        root=str(root),
        on_invalid="skip",
        report_dir=str(tmp_path / "out"),
        image_size=16,
        split={"fractions": {"train": 0.5, "val": 0.5, "test": 0.0}},
    )
    datamodule.setup("fit")
    assert sum(len(t) for t in datamodule.folders.tables.values()) == 20
    written = pd.read_csv(tmp_path / "out" / INVALID_ROWS_FILE)
    assert written["file_name"].tolist() == ["bad.jpg", "gone.jpg"] and written["line"].tolist() == [22, 23]


def test_split_column_values_are_checked(make_folder):
    root = make_folder([("a.jpg", 5, "train"), ("b.jpg", 6, "holdout")], header="file_name,real_age,split")
    assert "not one of train, val, calibration, test" in problems_of(root)["b.jpg"][1]
