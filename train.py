"""Train the age regressor: `python train.py [experiment=...] [group=option] [key=value ...]`."""

import hydra
from omegaconf import DictConfig

from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.model.training import train


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
@exit_on_user_error
def main(cfg: DictConfig) -> float | None:
    return train(cfg)["metrics"].get("val/mae_best")  # the value a hyperparameter sweeper minimizes


if __name__ == "__main__":
    main()
