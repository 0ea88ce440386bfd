"""What the Hydra tasks share about a run: its groups instantiated, its hyperparameters logged, the checkpoint it
resumes, the summary it leaves in its folder, and how its errors reach the user."""

import functools
import json
import logging
import sys
from pathlib import Path

import lightning as L
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from age_lightning.errors import UserError

log = logging.getLogger(__name__)

RUN_SUMMARY = "run_summary.json"  # what each training run leaves in its folder: status, metrics, wall time


def instantiate_dict(configs: DictConfig | None) -> list:
    """Instantiate each entry of a group such as `callbacks` or `logger` that has a `_target_`."""
    return [instantiate(c) for c in (configs or {}).values() if isinstance(c, DictConfig) and "_target_" in c]


def log_hyperparameters(cfg: DictConfig, trainer: L.Trainer) -> None:
    """Send the choices that distinguish runs to every logger (TensorBoard shows them in the HParams tab)."""
    if not trainer.loggers:
        return
    container = {
        k: OmegaConf.to_container(cfg[k], resolve=True)
        for k in ("data", "augmentation", "model", "optimizer", "scheduler", "trainer")
    }
    model = {k: v for k, v in container["model"].items() if k not in ("optimizer", "scheduler")}
    data = {k: v for k, v in container["data"].items() if k not in ("augmentation", "faces", "report_dir")}
    params = {
        "seed": cfg.seed,
        "data": data,
        "faces": container["data"].get("faces") or {"mode": "none"},
        "augmentation": container["augmentation"],
        "model": model,
        "optimizer": container["optimizer"],
        "scheduler": container["scheduler"] or "none",
        "trainer": {k: container["trainer"].get(k) for k in ("max_epochs", "precision", "accelerator")},
    }
    if HydraConfig.initialized():
        params["overrides"] = " ".join(HydraConfig.get().overrides.task) or "(defaults)"
    for logger in trainer.loggers:
        logger.log_hyperparams(params)


def resolve_checkpoint(ckpt_path: str | None, search_dir: str) -> str | None:
    """`latest` means the newest last.ckpt under search_dir (earlier runs); anything else is a path.
    (Not Lightning's `last`, which means the last checkpoint of the current run.)"""
    if ckpt_path is None:
        return None
    if ckpt_path == "latest":
        candidates = sorted(Path(search_dir).glob("**/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise UserError(f"ckpt_path=latest: no last.ckpt under {search_dir} to resume from")
        log.info("Resuming from %s", candidates[-1])
        return str(candidates[-1])
    if not Path(ckpt_path).is_file():
        raise UserError(f"checkpoint {ckpt_path} does not exist")
    return ckpt_path


def exit_on_user_error(task):
    """Run a Hydra task function with errors reported the way a user needs them.

    Single run: a UserError (also one wrapped by Hydra's instantiate) prints its message, no traceback, and
    exits with status 1. Multirun: any failure is logged with its traceback and recorded as
    {"status": "failed"} in the job's run_summary.json, and the sweep goes on with the other jobs.
    """

    @functools.wraps(task)
    def wrapper(*args, **kwargs):
        try:
            return task(*args, **kwargs)
        except Exception as error:
            user_error = _find_user_error(error)
            if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
                log.exception("This run failed; the sweep goes on")
                write_run_summary(
                    HydraConfig.get().runtime.output_dir, {"status": "failed", "error": str(user_error or error)}
                )
                return None
            if user_error is None:
                raise
            print(f"\nError: {user_error}", file=sys.stderr)
            sys.exit(1)

    return wrapper


def write_run_summary(output_dir: str, summary: dict) -> None:
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    (Path(output_dir) / RUN_SUMMARY).write_text(json.dumps(summary, indent=2))


def _find_user_error(error: BaseException) -> UserError | None:
    while error is not None and not isinstance(error, UserError):
        error = error.__cause__ or error.__context__
    return error
