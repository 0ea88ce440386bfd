"""A first look at a labeled-photo folder: `python eda.py data.root=...`.

Writes age_histogram.png, samples.png (random photos titled with their age) and age_summary.csv.
"""

from pathlib import Path

import hydra
import numpy as np
from omegaconf import DictConfig

from age_lightning.ages import age_band
from age_lightning.evaluation import plots
from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.images import load_rgb


@hydra.main(version_base="1.3", config_path="conf", config_name="eda")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    datamodule = hydra.utils.instantiate(cfg.data)
    table = datamodule.load_table()
    out = Path(cfg.paths.output_dir)
    plots.save(plots.age_histogram(table["age"], f"Ages in {cfg.data.root}"), out / "age_histogram.png")
    chosen = table.sample(min(cfg.num_samples, len(table)), random_state=cfg.seed).sort_values("age")
    images = [np.asarray(load_rgb(path).resize((128, 128))) for path in chosen["path"]]
    plots.save(plots.image_grid(images, [f"{age:g}" for age in chosen["age"]], suptitle="sample photos (real age)"),
               out / "samples.png")
    summary = table.groupby(age_band(table["age"]), observed=False)["age"].agg(["count", "mean"])
    summary.rename_axis("age_band").to_csv(out / "age_summary.csv", float_format="%.1f")
    print(summary.to_string())
    print(f"{len(table)} photos, ages {table['age'].min():g}-{table['age'].max():g} (mean {table['age'].mean():.1f});"
          f" plots in {out}")


if __name__ == "__main__":
    main()
