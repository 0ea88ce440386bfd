"""Optional: learns real signal from real faces (skipped when ../shared/data/utkface is absent)."""

import pandas as pd
import pytest

from age_lightning.tasks.train import train
from helpers import UTKFACE, compose_config, requires_utkface, tiny_train_overrides


@pytest.mark.slow
@requires_utkface
def test_short_cpu_run_on_real_faces_beats_predicting_the_mean(tmp_path):
    subset = tmp_path / "utkface_subset"
    subset.mkdir()
    pd.read_csv(UTKFACE / "labels.csv").head(800).to_csv(subset / "labels.csv", index=False)
    overrides = [o for o in tiny_train_overrides(tmp_path) if not o.startswith("data.demo")]
    cfg = compose_config(
        "train",
        [
            *overrides,
            "data=folder",
            f"data.root={subset}",
            f"data.labels.image_dir={UTKFACE / 'final_files'}",
            "data.image_size=64",
            "data.loader.batch_size=32",
            "trainer.max_epochs=6",
        ],
    )
    metrics = train(cfg)["metrics"]
    # held-out test images: clearly better than always answering the training mean age
    assert metrics["test/mae"] < 0.95 * metrics["test/baseline_mae"], metrics
