"""Rebuild the summary of a train.py multirun (also an interrupted one):
`python sweep_summary.py sweep_dir=logs/train/multiruns/<date>_<time>`.

Writes sweep_summary.csv, sweep_summary.md and val_mae_curves.png into that folder (train.py -m does it itself
at the end of every sweep)."""

from age_lightning.cli import sweep_summary

if __name__ == "__main__":
    sweep_summary()
