"""The Hydra commands, one function each: the `age-*` console scripts of an installed package and the root scripts
of a checkout (train.py, evaluate.py, ...) both call these. The configs are the package's own (age_lightning/conf;
`conf/` in a checkout is a link to it), so the commands work from an installed wheel outside any checkout.

The task modules are imported inside each command, so `age-train --help` does not load evaluation or export code.
"""

import hydra
from omegaconf import DictConfig

from age_lightning.tasks.config_store import register_configs
from age_lightning.tasks.resolvers import register_resolvers
from age_lightning.tasks.runs import exit_on_user_error

register_resolvers()  # before Hydra composes any config: ${launch_dir:}, ${best_precision:...}, ...
register_configs()  # faces/*, calibration/default, data/split/default: generated from the code's defaults
CONF = "conf"  # relative to this file: age_lightning/conf


@hydra.main(version_base="1.3", config_path=CONF, config_name="train")
@exit_on_user_error
def train(cfg: DictConfig) -> float | None:
    """Train, calibrate and test (`age-train [experiment=...] [group=option] [key=value ...]`)."""
    from age_lightning.tasks.train import train as run

    return run(cfg)["metrics"].get("val/mae_best")  # the value a hyperparameter sweeper minimizes


@hydra.main(version_base="1.3", config_path=CONF, config_name="evaluate")
@exit_on_user_error
def evaluate(cfg: DictConfig) -> None:
    """A checkpoint on a labeled folder -> report (`age-evaluate ckpt_path=... data.root=...`)."""
    from age_lightning.tasks.evaluate import evaluate as run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="recalibrate")
@exit_on_user_error
def recalibrate(cfg: DictConfig) -> None:
    """Refit the calibration and error model on labeled photos (`age-recalibrate ckpt_path=... data.root=...`)."""
    from age_lightning.tasks.calibrate import recalibrate as run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="predict")
@exit_on_user_error
def predict(cfg: DictConfig) -> None:
    """A checkpoint's ages for new photos (`age-predict ckpt_path=... input=PATH`)."""
    from age_lightning.tasks.predict import predict as run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="export")
@exit_on_user_error
def export(cfg: DictConfig) -> None:
    """ONNX (and int8) for the till (`age-export ckpt_path=... output_dir=deploy/`)."""
    from age_lightning.tasks.export import export as run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="eda")
@exit_on_user_error
def eda(cfg: DictConfig) -> None:
    """A first look at a labeled folder (`age-eda data.root=...`)."""
    from age_lightning.tasks.eda import eda as run

    run(cfg)


@hydra.main(version_base="1.3", config_path=CONF, config_name="sweep_summary")
@exit_on_user_error
def sweep_summary(cfg: DictConfig) -> None:
    """Rebuild a multirun's summary (`age-sweep-summary sweep_dir=...`)."""
    from age_lightning.tasks.sweeps import sweep_summary as run

    run(cfg)
