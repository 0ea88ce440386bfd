"""End to end through train.py with the real configs on tiny generated images."""

import json
from pathlib import Path

import lightning as L
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from age_lightning.data.datamodule import AgeDataModule
from age_lightning.tasks.resolvers import native_cpu_bf16
from age_lightning.tasks.train import console_summary, train
from helpers import CONF_DIR, compose_config, run_command, tiny_train_overrides


def event_tags(folder: Path) -> dict:
    accumulator = EventAccumulator(str(folder))
    accumulator.Reload()
    return accumulator.Tags()


@pytest.mark.slow
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
    assert {
        "train/loss_epoch",
        "val/mae",
        "val/mae_best",
        "hp_metric",
        "test/mae",
        "test/rmse",
        "test/bands/25-39/mae",
    } <= set(tags["scalars"])
    assert "val/predictions" in tags["images"]


def test_progressive_resizing_trains_the_first_passes_smaller_and_validates_at_full_size(tmp_path, monkeypatch):
    seen = set()
    transfer = AgeDataModule.on_after_batch_transfer

    def record(self, batch, dataloader_idx):
        images, ages = transfer(self, batch, dataloader_idx)
        seen.add(("train" if self.trainer.training else "eval", self.trainer.current_epoch, images.shape[-1]))
        return images, ages

    monkeypatch.setattr(AgeDataModule, "on_after_batch_transfer", record)
    # fp32: in bf16 a 16 px ResNet50 (1x1 maps from layer3 on) sometimes diverges, and this test is about sizes
    overrides = tiny_train_overrides(
        tmp_path, "trainer.max_epochs=2", "trainer.precision=32-true", "data.progressive={size: 16, epochs: 1}"
    )
    train(compose_config("train", overrides))
    assert {(stage, epoch, side) for stage, epoch, side in seen if stage == "train" or epoch < 2} == {
        ("train", 0, 16),
        ("eval", 0, 32),
        ("train", 1, 32),
        ("eval", 1, 32),
    }


@pytest.mark.slow
def test_resume_from_last_checkpoint_continues_epochs(tmp_path, recwarn):
    first = train(compose_config("train", tiny_train_overrides(tmp_path, "trainer.max_epochs=1")))
    # a fresh start says nothing about resuming (Lightning's ckpt_path warnings are train.py's to decide)
    assert not [w for w in recwarn if "ckpt_path" in str(w.message)], [str(w.message) for w in recwarn]
    last = Path(first["best_checkpoint"]).with_name("last.ckpt")
    resumed = train(
        compose_config(
            "train",
            tiny_train_overrides(
                tmp_path / "second", "trainer.max_epochs=2", f"ckpt_path={last}", f"data.root={tmp_path}/faces"
            ),
        )
    )
    assert resumed["epochs"] == 2
    state = torch.load(resumed["best_checkpoint"], map_location="cpu", weights_only=False)
    assert state["global_step"] == 2 * torch.load(last, map_location="cpu", weights_only=False)["global_step"]


@pytest.mark.slow
def test_broken_labels_give_a_clear_error_not_a_traceback(tmp_path, make_folder):
    root = make_folder([("a.jpg", 30), ("b.jpg", "thirty")], images=["a.jpg"])
    result = run_command(
        "train.py", f"data.root={root}", f"paths.log_dir={tmp_path}/logs", "model.weights=null", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "line 3: b.jpg: age 'thirty' is not a number" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.slow
def test_missing_pretrained_weights_give_instructions_not_a_traceback(tmp_path, make_folder):
    root = make_folder([("a.jpg", 30)])
    result = run_command(
        "train.py", f"data.root={root}", f"paths.log_dir={tmp_path}/logs", "model.download=false", cwd=tmp_path
    )
    assert result.returncode == 1
    assert "resnet50-11ad3fa6.pth" in result.stderr and "model.weights=null" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes_and_its_objects_build(tmp_path, experiment):
    """What a user's `python train.py experiment=X` builds before touching data (whose folder may be absent)."""
    from hydra.utils import instantiate

    from age_lightning.tasks.runs import instantiate_dict

    on_this_machine = [] if torch.cuda.is_available() else ["trainer.accelerator=cpu"]  # utkface_gpu here
    cfg = compose_config(
        "train", [f"experiment={experiment}", f"paths.output_dir={tmp_path}", "model.weights=null", *on_this_machine]
    )
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    trainer = instantiate(cfg.trainer, callbacks=instantiate_dict(cfg.callbacks), logger=instantiate_dict(cfg.logger))
    squares = torch.randint(0, 256, (2, 3, datamodule.spec.side, datamodule.spec.side), dtype=torch.uint8)
    images = datamodule.augmentation(squares, seeds=[1, 2])
    assert images.shape == (2, 3, cfg.data.image_size, cfg.data.image_size)
    assert model(images)[0].shape == (2,)
    assert trainer.max_epochs == cfg.trainer.max_epochs


@pytest.mark.parametrize(
    "overrides",
    [
        ["trainer=gpu"],
        ["trainer=ddp", "trainer.devices=4"],
        ["trainer=cpu"],
        ["trainer=ddp", "trainer.accelerator=cpu"],
        ["callbacks=early_stopping", "logger=many_loggers"],
        ["optimizer=adamw", "scheduler=onecycle", "augmentation=strong"],
    ],
)
def test_config_groups_compose_into_working_objects(tmp_path, overrides):
    from hydra.utils import instantiate

    from age_lightning.tasks.runs import instantiate_dict

    cfg = compose_config("train", [f"paths.output_dir={tmp_path}", "model.weights=null", *overrides])
    callbacks = instantiate_dict(cfg.callbacks)
    loggers = instantiate_dict(cfg.logger)
    assert any(type(c).__name__ == "ModelCheckpoint" for c in callbacks) and loggers
    if "callbacks=early_stopping" in overrides:
        assert any(type(c).__name__ == "EarlyStopping" for c in callbacks) and len(loggers) == 2
    if overrides[0].startswith("trainer=") and "cpu" in " ".join(overrides):  # the CPU picks its own precision
        assert cfg.trainer.precision == ("bf16-mixed" if native_cpu_bf16() else "32-true")
        assert not cfg.trainer.get("sync_batchnorm")  # SyncBatchNorm only works on GPUs
    if overrides == ["trainer=gpu"]:
        assert cfg.trainer.precision == "bf16-mixed"
    model = instantiate(cfg.model)
    trainer = L.Trainer(
        max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False
    )
    model.trainer = trainer
    optimizers = model.configure_optimizers()
    optimizer = optimizers["optimizer"] if isinstance(optimizers, dict) else optimizers
    before = model.head[1].weight.detach().clone()
    model.head[1].weight.grad = torch.ones_like(before)
    optimizer.step()
    assert not torch.equal(model.head[1].weight, before)  # the configured optimizer really trains the head


def test_the_console_summary_names_the_teenagers_the_promise_covers():
    rule = "test/uncertainty/calibrated_rules/interval"
    scalars = {"test/mae": 6.0, f"{rule}/adult_friction/share": 0.4, f"{rule}/pass_through_by_age/13-17/share": 0.012}
    scalars |= {f"{rule}/pass_through_by_age/{year}/share": (year - 12) / 200 for year in range(13, 18)}
    summary = console_summary(scalars)
    assert "13-17 not asked 1.2% (by year: 13 0.5%  14 1.0%  15 1.5%  16 2.0%  17 2.5%)" in summary
    assert "adults 25+ asked 40.0%" in summary and "interval rule" not in console_summary({"test/mae": 6.0})
