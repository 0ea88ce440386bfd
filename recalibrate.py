"""Refit an uncertain model's intervals and ID rule on a labeled folder, without retraining:
`python recalibrate.py ckpt_path=... data.root=...` writes a calibrated copy of the checkpoint.
"""

import hydra
from omegaconf import DictConfig

from age_lightning.evaluation.calibrate import recalibrate
from age_lightning.hydra_utils import exit_on_user_error


@hydra.main(version_base="1.3", config_path="conf", config_name="recalibrate")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    recalibrate(cfg)


if __name__ == "__main__":
    main()
