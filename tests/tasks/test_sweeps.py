"""Multirun sweeps: run folders named after the swept values, a summary, hparams in TensorBoard, failed runs."""

import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from helpers import run_command, tiny_train_overrides

pytestmark = pytest.mark.slow


def test_sweep_with_a_failing_run_gives_folders_summary_and_hparams(tmp_path):
    # as a user types it: the sweep folder goes under logs/ of the folder the command runs in
    overrides = [o for o in tiny_train_overrides(tmp_path) if not o.startswith(("paths.output_dir", "paths.log_dir"))]
    result = run_command(
        "train.py", "-m", *overrides, "optimizer.lr=1e-3,1e-4", "model.loss=l1,bogus", "test=false", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]

    sweep = next((tmp_path / "logs" / "train" / "multiruns").iterdir())
    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert runs == [
        "0_optimizer.lr=0.001,model.loss=l1",
        "1_optimizer.lr=0.001,model.loss=bogus",
        "2_optimizer.lr=0.0001,model.loss=l1",
        "3_optimizer.lr=0.0001,model.loss=bogus",
    ]

    summary = pd.read_csv(sweep / "sweep_summary.csv")
    assert len(summary) == 4
    assert summary["status"].tolist() == ["completed", "completed", "failed", "failed"]
    completed = summary[summary["status"] == "completed"]
    assert completed["val_mae_best"].is_monotonic_increasing and completed["val_mae_best"].notna().all()
    assert summary["error"].iloc[2:].str.contains("model.loss must be one of").all()
    assert "Rerun the best: `python train.py" in (sweep / "sweep_summary.md").read_text()
    assert (sweep / "val_mae_curves.png").read_bytes()[:4] == b"\x89PNG"

    events = EventAccumulator(str(sweep / runs[0] / "tensorboard"))
    events.Reload()
    assert "_hparams_/session_start_info" in events.summary_metadata


def test_sweep_configs_in_conf_name_their_runs(tmp_path):
    overrides = [o for o in tiny_train_overrides(tmp_path) if not o.startswith("paths.output_dir")]
    result = run_command(
        "train.py",
        "-m",
        *overrides,
        "+sweep=loss",
        "hydra.sweeper.params={model.loss:'l1,mse'}",
        "test=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    sweep = next((tmp_path / "logs" / "train" / "multiruns").iterdir())
    assert sorted(p.name for p in sweep.iterdir() if p.is_dir()) == ["0_model.loss=l1", "1_model.loss=mse"]
