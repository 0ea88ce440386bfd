"""The suite's fixtures: a labeled folder, tiny trained checkpoints, an isolated environment (helpers/ has the rest)."""

from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from PIL import Image

from helpers import compose_config, tiny_train_overrides


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
    from age_lightning.tasks.train import train

    tmp_path = tmp_path_factory.mktemp("tiny_run")
    summary = train(compose_config("train", tiny_train_overrides(tmp_path)))
    GlobalHydra.instance().clear()
    return {**summary, "data_root": tmp_path / "faces"}


@pytest.fixture(scope="session")
def tiny_uncertain_checkpoint(tmp_path_factory) -> dict:
    """Like tiny_checkpoint with a Laplace head, calibrated after training on a quarter of 160 generated images
    (levels loose enough for so few photos: an 80% interval, every minor's pass-through capped at 25%)."""
    from age_lightning.tasks.train import train

    tmp_path = tmp_path_factory.mktemp("tiny_uncertain_run")
    overrides = tiny_train_overrides(
        tmp_path,
        "model.head=laplace",
        "data.demo.num_images=160",
        "data.split.fractions={train:0.5,val:0.1,calibration:0.25,test:0.15}",
        "calibration.alpha=0.1",
        "calibration.max_pass=0.25",
        "calibration.minor_ages=[0,17]",  # 40 calibration photos hold too few 13-17s for any bound
        "calibration.max_pass_per_year=null",
    )
    summary = train(compose_config("train", overrides))
    GlobalHydra.instance().clear()
    return {**summary, "data_root": tmp_path / "faces"}


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("AGE_LIGHTNING_CACHE", str(tmp_path / "cache"))
    yield
    GlobalHydra.instance().clear()
