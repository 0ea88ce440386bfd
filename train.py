"""Train the age regressor: `python train.py [experiment=...] [group=option] [key=value ...]`."""

from age_lightning.cli import train

if __name__ == "__main__":
    train()
