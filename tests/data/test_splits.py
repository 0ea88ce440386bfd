import pandas as pd
import pytest

from age_lightning.data.splits import assign_splits, enrich_calibration
from age_lightning.errors import DatasetError

FRACTIONS = {"train": 0.7, "val": 0.15, "test": 0.15}


def table(n, **columns):
    return pd.DataFrame({"line": range(2, n + 2), "age": [30.0] * n, **columns})


def test_random_split_sizes_and_seed():
    first = assign_splits(table(100), "random", FRACTIONS, seed=1, total_rows=100)
    assert first.value_counts().to_dict() == {"train": 70, "val": 15, "test": 15}
    assert first.equals(assign_splits(table(100), "random", FRACTIONS, seed=1, total_rows=100))
    assert not first.equals(assign_splits(table(100), "random", FRACTIONS, seed=2, total_rows=100))


def test_calibration_rows_come_out_of_val_and_leave_train_and_test_unchanged():
    three_way = assign_splits(table(1000), "random", FRACTIONS, seed=3, total_rows=1000)
    with_calibration = {"train": 0.7, "val": 0.075, "calibration": 0.075, "test": 0.15}
    four_way = assign_splits(table(1000), "random", with_calibration, seed=3, total_rows=1000)
    assert four_way.value_counts().to_dict() == {"train": 700, "test": 150, "val": 75, "calibration": 75}
    for name in ("train", "test"):
        assert (four_way == name).equals(three_way == name)
    assert set(four_way[three_way == "val"]) == {"val", "calibration"}
    # with very few rows val is kept and calibration left empty rather than refusing to train
    assert assign_splits(table(6), "random", with_calibration, seed=0, total_rows=6).value_counts().to_dict() == {
        "train": 4,
        "val": 1,
        "test": 1,
    }


def test_column_split_is_used_automatically():
    split = assign_splits(table(3, split=["train", "val", "test"]), "auto", FRACTIONS, seed=0, total_rows=3)
    assert split.tolist() == ["train", "val", "test"]


def test_seed_notebook_takes_first_quarter_of_csv_rows_as_val():
    rows = table(8)
    split = assign_splits(rows, "seed_notebook", FRACTIONS, seed=0, total_rows=8)
    assert split.tolist() == ["val", "val"] + ["train"] * 6
    # an invalid (dropped) row does not move the boundary: it is counted by line number
    without_line_3 = rows[rows["line"] != 3]
    split = assign_splits(without_line_3, "seed_notebook", FRACTIONS, 0, total_rows=8)
    assert split.tolist() == ["val"] + ["train"] * 6


@pytest.mark.parametrize("fractions", [{"train": 0.5, "val": 0.2}, {"train": 0.7, "val": 0.3, "holdout": 0.0}])
def test_bad_fractions_are_refused(fractions):
    with pytest.raises(DatasetError, match="fractions"):
        assign_splits(table(10), "random", fractions, seed=0, total_rows=10)


def test_unknown_protocol_is_refused():
    with pytest.raises(DatasetError, match="unknown split protocol"):
        assign_splits(table(10), "kfold", FRACTIONS, seed=0, total_rows=10)


def test_a_teen_enriched_calibration_split_moves_only_training_teenagers():
    ages = pd.Series([10.0, 14.0, 15.5, 17.9, 30.0] * 200)
    rows = pd.DataFrame({"line": range(2, 1002), "age": ages})
    fractions = {"train": 0.7, "val": 0.075, "calibration": 0.075, "test": 0.15}
    plain = assign_splits(rows, "random", fractions, seed=3, total_rows=1000)
    enriched = enrich_calibration(plain, ages, {"ages": [13, 17], "calibration": 0.35}, seed=3)
    teens = (ages >= 13) & (ages < 18)
    assert (enriched[teens] == "calibration").sum() == round(0.35 * teens.sum())  # 210 of the 600 teenagers
    changed = enriched != plain
    assert (plain[changed] == "train").all() and (enriched[changed] == "calibration").all() and teens[changed].all()
    assert enrich_calibration(plain, ages, None, seed=3).equals(plain)
    enrich = {"ages": [13, 17], "calibration": 0.35}
    assert assign_splits(rows, "random", fractions, seed=3, total_rows=1000, enrich=enrich).equals(enriched)
    given = rows.assign(split=plain)  # a split column is kept as given
    assert assign_splits(given, "column", fractions, seed=3, total_rows=1000, enrich=enrich).equals(plain)
    with pytest.raises(DatasetError, match="data.split.enrich"):
        enrich_calibration(plain, ages, {"ages": [13, 17], "calibration": 1.5}, seed=3)
