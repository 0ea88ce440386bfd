"""The training task: fit the model on the data, then test the best checkpoint (train.py is its command)."""

import logging
import time
import warnings

import hydra
import lightning as L
from omegaconf import DictConfig

from age_lightning.ages import ADULTS, AGE_BANDS, TEEN_BAND, TEEN_YEARS
from age_lightning.calibration import CalibrationError
from age_lightning.formatting import num, pct
from age_lightning.model.inference import load_checkpoint
from age_lightning.tasks.calibrate import fit_calibration, write_calibration
from age_lightning.tasks.runs import instantiate_dict, log_hyperparameters, resolve_checkpoint, write_run_summary

log = logging.getLogger(__name__)


def train(cfg: DictConfig) -> dict:
    """Fit, then test the best checkpoint; returns the final metrics (also written to run_summary.json)."""
    started = time.time()
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    trainer = hydra.utils.instantiate(
        cfg.trainer, callbacks=instantiate_dict(cfg.get("callbacks")), logger=instantiate_dict(cfg.get("logger"))
    )
    log_hyperparameters(cfg, trainer)
    ckpt_path = resolve_checkpoint(cfg.get("ckpt_path"), f"{cfg.paths.log_dir}/{cfg.task_name}")
    with warnings.catch_warnings():
        # A fresh run (ckpt_path None) in its new folder has nothing to resume: Lightning, seeing the on-exception
        # checkpoint callback, would warn that it looks for a `last` checkpoint and then that there is none.
        # Resuming is train.py's choice (ckpt_path=latest|PATH), so those two warnings say nothing to the user.
        for message in (
            r"`\.fit\(ckpt_path=None\)` was called",
            r"\.fit\(ckpt_path=\"last\"\) is set, but there is no",
        ):
            warnings.filterwarnings("ignore", message=message)
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)

    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith(("train/", "val/"))}
    metrics["val/baseline_mae"] = datamodule.folders.baseline_mae("val")
    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    if best and len(datamodule.folders.tables["calibration"]):
        if trainer.is_global_zero:
            calibrate_checkpoint(best, datamodule, cfg.calibration)
        trainer.strategy.barrier()  # the other processes test the calibrated checkpoint
    if cfg.get("test") and len(datamodule.folders.tables["test"]):
        results = trainer.test(model, datamodule=datamodule, ckpt_path=best or None, verbose=False)
        metrics.update(results[0] if results else {})
        metrics["test/baseline_mae"] = datamodule.folders.baseline_mae("test")
        if trainer.is_global_zero:
            print(console_summary(metrics))
    summary = {
        "status": "completed",
        "metrics": metrics,
        "best_checkpoint": best,
        "epochs": trainer.current_epoch,
        "wall_time_s": round(time.time() - started, 1),
    }
    if trainer.is_global_zero:
        write_run_summary(cfg.paths.output_dir, summary)
    log.info("Best checkpoint: %s", best)
    log.info(
        "Best val MAE %.2f years (predict-the-mean baseline %.2f)%s",
        metrics.get("val/mae_best", float("nan")),
        metrics["val/baseline_mae"],
        f"; test MAE {metrics['test/mae']:.2f}" if "test/mae" in metrics else "",
    )
    return summary


def calibrate_checkpoint(ckpt_path: str, datamodule, settings: DictConfig) -> None:
    """Fit the error model (any head) and the uncertain head's calibration on the calibration split and store them
    in the checkpoint. Too few photos for the bound asked for is a warning here (the model is still worth keeping):
    recalibrate.py can calibrate it later on other photos."""
    model, _ = load_checkpoint(ckpt_path)
    try:
        fitted = fit_calibration(model, datamodule, "calibration", settings)
    except CalibrationError as error:
        log.warning("Not calibrated: %s", error)
        return
    write_calibration(ckpt_path, fitted, datamodule.hparams.view)


def console_summary(scalars: dict, split: str = "test") -> str:
    """The headline numbers of flat `split/...` metrics (as train.py logs them) in a few readable lines."""

    def get(key):
        return scalars.get(f"{split}/{key}")

    bands = "  ".join(f"{band} {num(get(f'bands/{band}/mae'))}" for band in AGE_BANDS if get(f"bands/{band}/mae"))
    lines = [
        f"{split}: MAE {num(get('mae'))}  RMSE {num(get('rmse'))}  within ±5 years {pct(get('within_5'))}  "
        f"bias {num(get('bias'), signed=True)}",
        f"  MAE by age band: {bands}",
    ]
    if get("age_check/threshold") is not None and get("age_check/minors_pass_through/share") is not None:
        lines.append(
            f"  ID check at {get('age_check/threshold'):g}: minors not asked "
            f"{pct(get('age_check/minors_pass_through/share'))} (upper bound "
            f"{pct(get('age_check/minors_pass_through/upper'))}), {ADULTS} asked "
            f"{pct(get('age_check/adult_friction/share'))}"
        )
    rule = "uncertainty/calibrated_rules/interval"
    by_age = f"{rule}/pass_through_by_age"
    if get(f"{by_age}/{TEEN_BAND}/share") is not None:
        years = "  ".join(f"{year} {pct(get(f'{by_age}/{year}/share'))}" for year in TEEN_YEARS)
        lines.append(
            f"  interval rule as calibrated: {TEEN_BAND} not asked {pct(get(f'{by_age}/{TEEN_BAND}/share'))} (by "
            f"year: {years}), {ADULTS} asked {pct(get(f'{rule}/adult_friction/share'))}"
        )
    return "\n".join(lines)
