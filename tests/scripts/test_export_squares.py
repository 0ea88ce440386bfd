"""scripts/export_squares.py and scripts/screen_gpu.sh: the squares written as labeled folders train elsewhere with
the same split, and variants trained on them are compared."""

import os

import hydra
import numpy as np
import pandas as pd
from PIL import Image

from age_lightning.data.cache import SquareMaker
from helpers import compose_config, run_command, tiny_train_overrides


def test_exported_squares_keep_split_ages_and_pixels(tmp_path):
    overrides = tiny_train_overrides(tmp_path)
    out = tmp_path / "squares"
    result = run_command("scripts/export_squares.py", "--out", str(out), "--quality", "95", *overrides, cwd=tmp_path)
    assert result.returncode == 0, result.stderr

    original = hydra.utils.instantiate(compose_config("train", overrides).data)
    original.prepare_data()
    original.setup()
    exported = hydra.utils.instantiate(
        compose_config("train", [*overrides, f"data.root={out}/faces", "faces=none", "data.split.protocol=column"]).data
    )
    exported.setup()
    for split in ("train", "val", "calibration", "test"):
        before, after = original.folders.table(split), exported.folders.table(split)
        assert len(after) == len(before) > 0
        assert after["age"].tolist() == before["age"].tolist()

    labels = pd.read_csv(out / "faces" / "labels.csv")
    assert labels["source_file"].tolist() == original.folders.table("all")["file_name"].tolist()
    make = SquareMaker(original.spec)
    for row in labels.sample(5, random_state=0).itertuples():
        square, _ = make(str(tmp_path / "faces" / "final_files" / row.source_file))
        written = np.asarray(Image.open(out / "faces" / "final_files" / row.file_name), dtype=float)
        assert written.shape == square.shape
        assert np.abs(written - square).mean() < 4  # JPEG at quality 95


def test_screen_trains_each_variant_and_compares_them(tmp_path):
    """scripts/screen_gpu.sh on the CPU: each variant trains on the exported squares and is evaluated; a variant
    that fails is named, and the others are still compared."""
    out = tmp_path / "squares"
    exported = run_command(
        "scripts/export_squares.py", "--out", str(out), *tiny_train_overrides(tmp_path), cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    tiny = (
        f"data.image_size=32 data.loader.batch_size=8 trainer.max_epochs=1 callbacks.prediction_grid.num_images=4 "
        f"paths.log_dir={tmp_path}/logs paths.cache_dir={tmp_path}/cache"
    )
    env = {**os.environ, "TRAINER": "cpu", "WORKERS": "0", "RUNS": str(tmp_path / "runs")}
    result = run_command(
        "scripts/screen_gpu.sh",
        str(out),
        "base",
        tiny,
        "lower_lr",
        f"{tiny} optimizer.lr=1e-4",
        "broken",
        f"{tiny} optimizer.lr=not_a_number",
        cwd=tmp_path,
        env=env,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    assert "broken: training failed" in result.stdout
    table = (tmp_path / "runs" / "compare.md").read_text().splitlines()
    rows = [line.split("|")[1:4] for line in table[2:]]
    assert [(name.strip(), source.strip()) for name, source, _ in rows] == [("base", "faces"), ("lower_lr", "faces")]
    assert all(int(photos) > 0 for *_, photos in rows)
