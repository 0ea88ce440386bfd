"""Evaluate a checkpoint on a labeled-photo folder: `python evaluate.py ckpt_path=... data.root=...`.

Writes predictions.csv, metrics.json, plots and report.md into the run folder (logs/evaluate/runs/...).
"""

import logging
from pathlib import Path

import hydra
import pandas as pd
from omegaconf import DictConfig

from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.inference import load_checkpoint, predict_ages
from age_lightning.report import write_evaluation

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict:
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)
    datamodule = hydra.utils.instantiate(cfg.data, image_size=cfg.data.image_size or trained_data.get("image_size"),
                                         split=cfg.data.split or trained_data.get("split"), cache=False)
    datamodule.setup("test")
    dataset = datamodule.dataset(cfg.split)
    loader = datamodule.loader(dataset)
    predicted = predict_ages(model, loader, tta=cfg.tta, description=f"Evaluating {len(dataset)} photos")
    table = pd.DataFrame({"file_name": datamodule.table(cfg.split)["file_name"], "real_age": dataset.ages.numpy(),
                          "predicted_age": predicted})
    context = {"checkpoint": str(cfg.ckpt_path), "data_root": str(cfg.data.root), "split": cfg.split, "tta": cfg.tta}
    out_dir = Path(cfg.paths.output_dir)
    metrics = write_evaluation(table, out_dir, context, cfg.age_check.threshold, cfg.age_check.target_pass_through)
    log.info("MAE %.2f years on %d photos; report: %s", metrics["mae"], metrics["n"], out_dir / "report.md")
    return metrics


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
