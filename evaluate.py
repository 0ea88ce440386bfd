"""Evaluate a checkpoint on a labeled-photo folder: `python evaluate.py ckpt_path=... data.root=...`.

Writes predictions.csv, metrics.json, plots and report.md into the run folder (logs/evaluate/runs/...).
"""

import hydra
from omegaconf import DictConfig

from age_lightning.evaluation.evaluate import evaluate
from age_lightning.hydra_utils import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="evaluate")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    evaluate(cfg)


if __name__ == "__main__":
    main()
