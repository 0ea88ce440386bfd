"""The eda task: a first look at a labeled folder."""

from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from age_lightning.ages import age_band
from age_lightning.evaluation import plots
from age_lightning.images import load_rgb


def eda(cfg: DictConfig) -> None:
    """A first look at a labeled folder: age_histogram.png, samples.png, age_summary.csv."""
    datamodule = hydra.utils.instantiate(cfg.data)
    table = datamodule.folders.load()
    out = Path(cfg.paths.output_dir)
    plots.save(plots.age_histogram(table["age"], f"Ages in {cfg.data.root}"), out / "age_histogram.png")
    chosen = table.sample(min(cfg.num_samples, len(table)), random_state=cfg.seed).sort_values("age")
    images = [np.asarray(load_rgb(path).resize((128, 128))) for path in chosen["path"]]
    plots.save(
        plots.image_grid(images, [f"{age:g}" for age in chosen["age"]], suptitle="sample photos (real age)"),
        out / "samples.png",
    )
    summary_table = table.groupby(age_band(table["age"]), observed=False)["age"].agg(["count", "mean"])
    summary_table.rename_axis("age_band").to_csv(out / "age_summary.csv", float_format="%.1f")
    print(summary_table.to_string())
    print(
        f"{len(table)} photos, ages {table['age'].min():g}-{table['age'].max():g} (mean {table['age'].mean():.1f});"
        f" plots in {out}"
    )
