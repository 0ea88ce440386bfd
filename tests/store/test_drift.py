"""drift.py: the shift alarm replayed over a predictions file, per till, on generated statistics."""

import dataclasses
import json

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from age_lightning.shift import ShiftReference
from age_lightning.store.drift import LOOKS
from helpers import run_command
from helpers.store import model_file

CENTER, SPREAD = np.array([0.1, 0.85, 0.32]), np.array([0.5, 0.23, 0.07])


def looks(rng, count: int, darker: float = 0.0) -> np.ndarray:
    """Statistics like the calibration photos', or `darker` spreads darker, flatter and rougher, with the
    predicted age as a fourth column (LOOKS)."""
    statistics = rng.normal(CENTER + darker * SPREAD * np.array([-1, -1, 1]), SPREAD, (count, 3))
    return np.column_stack([statistics, rng.uniform(0, 80, count)])


def fitted(rng, count: int) -> ShiftReference:
    reference = looks(rng, count)
    return ShiftReference.fit(reference[:, :3], reference[:, 3])


def test_drift_finds_the_till_that_went_dark_and_when(tmp_path):
    rng = np.random.default_rng(0)
    model = dataclasses.replace(model_file(), shift_reference=fitted(rng, 2000))
    model.write(tmp_path / "model.json")
    steady, changed = looks(rng, 1500), np.concatenate([looks(rng, 500), looks(rng, 500, darker=1.0)])
    tills = ["till-a"] * len(steady) + ["till-b"] * len(changed)
    values = np.concatenate([steady, changed])
    table = {"till": tills, "status": ["ok"] * len(tills), **dict(zip(LOOKS, values.T))}
    pa_csv.write_csv(pa.table(table), tmp_path / "log.csv")
    shown = run_command("drift.py", "predictions=log.csv", "model=model.json", "output=out", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    found = {entry["till"]: entry for entry in json.loads((tmp_path / "out" / "drift.json").read_text())}
    assert found["till-a"]["alarm"] is False and found["till-a"]["photos"] == 1500
    assert found["till-b"]["alarm"] is True and 500 <= found["till-b"]["alarm_at"] < 800
    assert "till-b: 1000 photos, ALARM at photo" in shown.stdout
    assert (tmp_path / "out" / "drift.png").is_file() and (tmp_path / "out" / "drift.csv").is_file()


def test_a_file_without_the_statistics_or_a_till_column(tmp_path):
    model = dataclasses.replace(model_file(), shift_reference=fitted(np.random.default_rng(1), 500))
    model.write(tmp_path / "model.json")
    (tmp_path / "old.csv").write_text("file,status,predicted_age\na.jpg,ok,30\n")
    old = run_command("drift.py", "predictions=old.csv", "model=model.json", cwd=tmp_path)
    assert old.returncode == 1 and "no column brightness, contrast, roughness" in old.stderr
    values = looks(np.random.default_rng(2), 200)
    pa_csv.write_csv(pa.table(dict(zip(LOOKS, values.T))), tmp_path / "one.csv")
    one = run_command("drift.py", "predictions=one.csv", "model=model.json", cwd=tmp_path)
    assert one.returncode == 0 and "(all): 200 photos, no alarm" in one.stdout
