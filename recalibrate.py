"""Refit an uncertain model's intervals and ID rule on a labeled folder, without retraining:
`python recalibrate.py ckpt_path=... data.root=...` writes a calibrated copy of the checkpoint."""

from age_lightning.cli import recalibrate

if __name__ == "__main__":
    recalibrate()
