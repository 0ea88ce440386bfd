import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = ROOT / "conf"
UTKFACE = Path(os.environ.get("UTKFACE_DIR", ROOT.parent / "shared" / "data" / "utkface"))


def compose_config(config_name: str, overrides: list[str]):
    """Compose a real config from conf/ as Hydra would for a run (hydra.* included, so ${hydra:...} resolves)."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    return cfg


def tiny_train_overrides(tmp_path: Path, *extra: str) -> list[str]:
    """The demo experiment shrunk to seconds: 48 generated 40 px images, 32 px input, 1 epoch."""
    out = tmp_path / "run"
    out.mkdir(parents=True, exist_ok=True)
    return ["experiment=demo", f"data.root={tmp_path}/faces", "data.synthetic.num_images=48",
            "data.synthetic.image_size=40", "data.image_size=32", "data.batch_size=8", "trainer.max_epochs=1",
            "callbacks.prediction_grid.num_images=4", f"paths.output_dir={out}", f"paths.log_dir={tmp_path}/logs",
            f"paths.cache_dir={tmp_path}/cache", *extra]


@pytest.fixture
def make_folder(tmp_path):
    """Write a labeled-photo folder: rows of (file_name, age) plus valid 24x24 JPEGs for the named files."""

    def make(rows, images=None, header="file_name,real_age", root=None):
        root = Path(root or tmp_path / "data")
        (root / "final_files").mkdir(parents=True, exist_ok=True)
        lines = [header, *(",".join(str(v) for v in row) for row in rows)]
        (root / "labels.csv").write_text("\n".join(lines) + "\n")
        for name in images if images is not None else [row[0] for row in rows]:
            Image.new("RGB", (24, 24), (120, 80, 60)).save(root / "final_files" / name)
        return root

    return make


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> dict:
    """Train once on tiny generated data; returns the run summary (best_checkpoint, metrics) and data root."""
    from train import train

    tmp_path = tmp_path_factory.mktemp("tiny_run")
    summary = train(compose_config("train", tiny_train_overrides(tmp_path)))
    GlobalHydra.instance().clear()
    return {**summary, "data_root": tmp_path / "faces"}


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("AGE_LIGHTNING_CACHE", str(tmp_path / "cache"))
    yield
    GlobalHydra.instance().clear()


requires_utkface = pytest.mark.skipif(not (UTKFACE / "labels.csv").is_file() or os.environ.get("SKIP_UTKFACE"),
                                      reason="../shared/data/utkface is not present")
