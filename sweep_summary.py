"""Rebuild the summary of a train.py multirun (also an interrupted one):
`python sweep_summary.py sweep_dir=logs/train/multiruns/<date>_<time>`.

Writes sweep_summary.csv, sweep_summary.md and val_mae_curves.png into that folder (train.py -m does it itself
at the end of every sweep).
"""

from pathlib import Path

import hydra
from omegaconf import DictConfig

from age_lightning.errors import UserError
from age_lightning.evaluation.sweeps import write_sweep_summary
from age_lightning.hydra_utils import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="sweep_summary")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    if not Path(cfg.sweep_dir).is_dir():
        raise UserError(f"sweep_dir {cfg.sweep_dir} is not a folder")
    write_sweep_summary(Path(cfg.sweep_dir))


if __name__ == "__main__":
    main()
