"""Crashes, interruptions, determinism and several processes."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import fsspec.implementations.local
import pytest
import torch

from age_lightning.tasks.train import train
from helpers import compose_config, run_command, started_command, tiny_train_overrides

pytestmark = pytest.mark.slow
WAIT = 900  # seconds: an upper bound for a loaded machine, never a pace the test expects


def wait_for(condition, process: subprocess.Popen, what: str) -> None:
    """Poll until condition() holds; fail early if the process ends first, or after WAIT seconds."""
    deadline = time.monotonic() + WAIT
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the command ended (exit code {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {WAIT} s")
        time.sleep(0.05)


def test_same_seed_same_metrics_on_cpu(tmp_path):
    first = train(
        compose_config(
            "train", tiny_train_overrides(tmp_path / "a", "trainer.max_epochs=2", f"data.root={tmp_path}/faces")
        )
    )
    second = train(
        compose_config(
            "train", tiny_train_overrides(tmp_path / "b", "trainer.max_epochs=2", f"data.root={tmp_path}/faces")
        )
    )
    for key in ("val/mae", "val/mae_best", "test/mae", "train/loss"):
        assert first["metrics"][key] == second["metrics"][key], key


def test_nan_loss_stops_with_a_message(tmp_path):
    result = run_command(
        "train.py",
        *tiny_train_overrides(tmp_path),
        "optimizer.lr=1e30",
        "trainer.max_epochs=3",
        "scheduler=none",
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "the training loss became" in result.stderr and "at epoch 0, step" in result.stderr
    assert "lower learning rate" in result.stderr and "Traceback" not in result.stderr


def test_a_crash_while_saving_leaves_the_previous_checkpoint_usable(tmp_path, monkeypatch):
    """train.py's checkpointing (conf/callbacks/model_checkpoint.yaml): a save that dies halfway through writing
    must leave the previous last.ckpt intact, and a rerun resumes from it."""
    first = train(compose_config("train", tiny_train_overrides(tmp_path, "test=false")))
    last = Path(first["best_checkpoint"]).with_name("last.ckpt")
    good = last.read_bytes()

    def crash_halfway(self, data):
        original_write(self, data[: len(data) // 2])
        raise OSError("simulated crash while saving")

    original_write = fsspec.implementations.local.LocalFileOpener.write
    with monkeypatch.context() as patch:
        patch.setattr(fsspec.implementations.local.LocalFileOpener, "write", crash_halfway)
        with pytest.raises(OSError, match="simulated crash"):
            train(
                compose_config(
                    "train", tiny_train_overrides(tmp_path, "trainer.max_epochs=2", "test=false", f"ckpt_path={last}")
                )
            )
    assert last.read_bytes() == good
    resumed = train(
        compose_config(
            "train", tiny_train_overrides(tmp_path, "trainer.max_epochs=2", "test=false", f"ckpt_path={last}")
        )
    )
    assert resumed["epochs"] == 2


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path):
    overrides = [o for o in tiny_train_overrides(tmp_path, "trainer.max_epochs=200") if "output_dir" not in o]
    checkpoints = tmp_path / "run" / "checkpoints"
    with started_command(
        "train.py",
        *overrides,
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        wait_for((checkpoints / "last.ckpt").exists, process, "first checkpoint")
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=WAIT)[0]
    assert process.returncode == 1, output[-2000:]
    assert (checkpoints / "interrupted.ckpt").is_file(), output[-2000:]
    resumed = train(
        compose_config(
            "train",
            tiny_train_overrides(
                tmp_path / "resumed",
                f"data.root={tmp_path}/faces",
                "trainer.max_epochs=1",
                f"ckpt_path={checkpoints / 'interrupted.ckpt'}",
                "test=false",
            ),
        )
    )
    assert resumed["status"] == "completed"


def test_killed_run_resumes_exactly_like_an_uninterrupted_one(tmp_path):
    faces = f"data.root={tmp_path}/faces"
    whole = train(
        compose_config("train", tiny_train_overrides(tmp_path / "whole", faces, "trainer.max_epochs=2", "test=false"))
    )
    killed_dir = tmp_path / "killed"
    overrides = [
        o
        for o in tiny_train_overrides(tmp_path / "k", faces, "trainer.max_epochs=2", "test=false")
        if "output_dir" not in o
    ]
    last = killed_dir / "checkpoints" / "last.ckpt"
    with started_command(
        "train.py",
        *overrides,
        f"hydra.run.dir={killed_dir}",
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    ) as process:
        wait_for(last.exists, process, "first checkpoint")
        process.send_signal(signal.SIGKILL)  # hard kill, somewhere in the second epoch
        process.wait(timeout=WAIT)
    assert torch.load(last, map_location="cpu", weights_only=True)["epoch"] == 0, "the run ended before the kill"

    resumed = train(
        compose_config(
            "train",
            tiny_train_overrides(
                tmp_path / "resumed", faces, "trainer.max_epochs=2", f"ckpt_path={last}", "test=false"
            ),
        )
    )
    assert resumed["metrics"]["val/mae"] == whole["metrics"]["val/mae"]
    assert resumed["metrics"]["train/loss"] == whole["metrics"]["train/loss"]


VALIDATE_SCRIPT = """
import sys
import lightning as L
import torch
from age_lightning.data.datamodule import AgeDataModule
from age_lightning.model.module import AgeRegressor

if __name__ == "__main__":
    devices, root = int(sys.argv[1]), sys.argv[2]
    torch.manual_seed(0)
    model = AgeRegressor(weights=None)
    model.age_mean.fill_(30.0)
    model.age_std.fill_(15.0)
    datamodule = AgeDataModule(root=root, image_size=32, loader={'batch_size': 4, 'num_workers': 0}, check_images=False,
                               split={"fractions": {"train": 0.5, "val": 0.5, "test": 0.0}})
    trainer = L.Trainer(accelerator="cpu", devices=devices, strategy="ddp_spawn" if devices > 1 else "auto",
                        logger=False, enable_progress_bar=False, enable_model_summary=False)
    result = trainer.validate(model, datamodule=datamodule)
    if trainer.is_global_zero:
        print("VAL_MAE", result[0]["val/mae"])
"""


def test_two_process_ddp_validates_the_whole_val_set(tmp_path):
    from age_lightning.data.synthetic import ensure_synthetic_dataset

    root = ensure_synthetic_dataset(tmp_path / "faces", num_images=40, image_size=40)  # 20 val images: no padding
    (tmp_path / "validate.py").write_text(VALIDATE_SCRIPT)
    maes = []
    for devices in (1, 2):
        result = subprocess.run(
            [sys.executable, str(tmp_path / "validate.py"), str(devices), str(root)],
            capture_output=True,
            text=True,
            timeout=WAIT,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        maes.append(float(result.stdout.split("VAL_MAE")[1].split()[0]))
    assert maes[1] == pytest.approx(maes[0], abs=1e-4)


def test_ddp_on_cpu_processes_as_a_user_types_it_writes_one_run_folder_and_checkpoint(tmp_path):
    result = run_command(
        "train.py",
        *[o for o in tiny_train_overrides(tmp_path) if "output_dir" not in o],
        "trainer=ddp",
        "trainer.devices=2",
        "trainer.accelerator=cpu",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = list((tmp_path / "logs" / "train" / "runs").iterdir())
    assert len(runs) == 1
    assert len(list((runs[0] / "checkpoints").glob("epoch_*.ckpt"))) == 1
