"""End to end through train.py with the real configs on tiny generated images."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from conftest import ROOT, compose_config, tiny_train_overrides
from train import train


def event_tags(folder: Path) -> dict:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator.Tags()


def test_demo_config_trains_checkpoints_and_tests(tmp_path):
    cfg = compose_config("train", tiny_train_overrides(tmp_path, "trainer.max_epochs=2"))
    summary = train(cfg)

    metrics = summary["metrics"]
    assert {"train/loss", "train/mae", "val/loss", "val/mae", "val/mae_best", "test/mae"} <= set(metrics)
    assert all(torch.isfinite(torch.tensor(v)) for v in metrics.values())
    assert summary["epochs"] == 2
    run = Path(cfg.paths.output_dir)
    assert Path(summary["best_checkpoint"]).is_file() and (run / "checkpoints" / "last.ckpt").is_file()
    assert json.loads((run / "run_summary.json").read_text())["metrics"]["test/mae"] == metrics["test/mae"]
    checkpoint = torch.load(summary["best_checkpoint"], map_location="cpu", weights_only=False)
    assert checkpoint["state_dict"]["age_std"] > 1  # target normalization travels with the model

    tags = event_tags(run / "tensorboard")
    assert {"train/loss_epoch", "val/mae", "val/mae_best", "hp_metric", "test/mae", "test/rmse",
            "test/bands/25-39/mae"} <= set(tags["scalars"])
    assert "val/predictions" in tags["images"]


def test_resume_from_last_checkpoint_continues_epochs(tmp_path):
    first = train(compose_config("train", tiny_train_overrides(tmp_path, "trainer.max_epochs=1")))
    last = Path(first["best_checkpoint"]).with_name("last.ckpt")
    resumed = train(compose_config("train", tiny_train_overrides(
        tmp_path / "second", "trainer.max_epochs=2", f"ckpt_path={last}", f"data.root={tmp_path}/faces")))
    assert resumed["epochs"] == 2
    state = torch.load(resumed["best_checkpoint"], map_location="cpu", weights_only=False)
    assert state["global_step"] == 2 * torch.load(last, map_location="cpu", weights_only=False)["global_step"]


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=600)


def test_broken_labels_give_a_clear_error_not_a_traceback(tmp_path, make_folder):
    root = make_folder([("a.jpg", 30), ("b.jpg", "thirty")], images=["a.jpg"])
    result = run_cli(f"data.root={root}", f"paths.log_dir={tmp_path}/logs", "model.weights=null", cwd=tmp_path)
    assert result.returncode == 1
    assert "line 3: b.jpg: age 'thirty' is not a number" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_missing_pretrained_weights_give_instructions_not_a_traceback(tmp_path, make_folder):
    root = make_folder([("a.jpg", 30)])
    result = run_cli(f"data.root={root}", f"paths.log_dir={tmp_path}/logs", "model.download=false", cwd=tmp_path)
    assert result.returncode == 1
    assert "resnet50-11ad3fa6.pth" in result.stderr and "model.weights=null" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize("experiment", ["demo", "seed_notebook"])
def test_experiment_configs_compose(tmp_path, experiment):
    cfg = compose_config("train", [f"experiment={experiment}", f"paths.output_dir={tmp_path}"])
    assert cfg.model._target_ == "age_lightning.module.AgeRegressor"
    if experiment == "seed_notebook":
        assert cfg.data.split.protocol == "seed_notebook" and cfg.augmentation.hflip == 0.5
        assert cfg.augmentation.crop_scale is None and not cfg.scheduler


@pytest.mark.parametrize("overrides", [["trainer=gpu"], ["trainer=ddp", "trainer.devices=4"], ["trainer=cpu"],
                                       ["callbacks=early_stopping", "logger=many_loggers"],
                                       ["optimizer=adamw", "scheduler=none", "augmentation=strong"]])
def test_config_groups_compose_and_instantiate(tmp_path, overrides):
    from hydra.utils import instantiate

    from age_lightning.hydra_utils import instantiate_dict

    cfg = compose_config("train", [f"paths.output_dir={tmp_path}", *overrides])
    callbacks = instantiate_dict(cfg.callbacks)
    loggers = instantiate_dict(cfg.logger)
    assert len(callbacks) >= 4 and loggers
    if "callbacks=early_stopping" in overrides:
        assert any(type(c).__name__ == "EarlyStopping" for c in callbacks) and len(loggers) == 2
    if "trainer=gpu" in overrides:
        assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    datamodule = instantiate(cfg.data)
    assert datamodule.train_transform is not None
    optimizer = instantiate(cfg.optimizer)
    assert optimizer.keywords["lr"] > 0
