"""What the tests share besides fixtures: the repository's paths, running the project's commands as a user would,
and composing its real configs."""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

from age_lightning.tasks.config_store import register_configs
from age_lightning.tasks.resolvers import register_resolvers

ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = ROOT / "conf"
UTKFACE = Path(os.environ.get("UTKFACE_DIR", ROOT.parent / "shared" / "data" / "utkface"))
AAF = ROOT.parent / "shared" / "data" / "aaf_train"
ASTRONAUT = ROOT / "tests" / "assets" / "astronaut.jpg"  # NASA's public-domain portrait (scikit-image's data.astronaut)


def run_command(script: str, *args: str, cwd: Path, timeout: float = 600, **popen) -> subprocess.CompletedProcess:
    """Run one of the project's commands (train.py, predict_onnx.py, scripts/bench.py, scripts/screen_gpu.sh, ...)
    as a user would: a fresh interpreter or shell, output captured; killed with all its children if it outlives
    `timeout`."""
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    with started_command(script, *args, cwd=cwd, **pipes, **popen) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@contextlib.contextmanager
def started_command(script: str, *args: str, cwd: Path, **popen):
    """A command running in the background for the `with` block; whatever happens in the block, the command and
    all its children (data loader workers, DDP ranks) are killed when it ends, so a failing test leaks nothing."""
    runner = "bash" if script.endswith(".sh") else sys.executable
    process = subprocess.Popen([runner, str(ROOT / script), *args], cwd=cwd, start_new_session=True, **popen)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def compose_config(config_name: str, overrides: list[str]):
    """Compose a real config from conf/ as Hydra would for a run (hydra.* included, so ${hydra:...} resolves)."""
    register_resolvers()
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def tiny_train_overrides(tmp_path: Path, *extra: str) -> list[str]:
    """The demo experiment shrunk to seconds: 48 generated 40 px images, 32 px input, 1 epoch."""
    out = tmp_path / "run"
    out.mkdir(parents=True, exist_ok=True)
    return [
        "experiment=demo",
        f"data.root={tmp_path}/faces",
        "data.demo.num_images=48",
        "data.demo.image_size=40",
        "data.image_size=32",
        "data.loader.batch_size=8",
        "trainer.max_epochs=1",
        "callbacks.prediction_grid.num_images=4",
        f"paths.output_dir={out}",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.cache_dir={tmp_path}/cache",
        *extra,
    ]


requires_utkface = pytest.mark.skipif(
    not (UTKFACE / "labels.csv").is_file() or os.environ.get("SKIP_UTKFACE"),
    reason="../shared/data/utkface is not present",
)
