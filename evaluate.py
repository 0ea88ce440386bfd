"""Evaluate a checkpoint on a labeled-photo folder: `python evaluate.py ckpt_path=... data.root=...`.

Writes predictions.csv, metrics.json, plots and report.md into the run folder (logs/evaluate/runs/...)."""

from age_lightning.cli import evaluate

if __name__ == "__main__":
    evaluate()
