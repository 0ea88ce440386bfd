"""The resolvers that the configs use, registered by `register_resolvers()` (called by age_lightning.cli before
Hydra composes anything, and by tests that compose configs themselves): nothing is registered on import."""

import functools
import logging
import os
import sys
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

log = logging.getLogger(__name__)


def swept_overrides_dirname(task_overrides, sweeper_params=None) -> str:
    """Name a multirun job after the overrides its sweep varies, e.g. `augmentation=light,optimizer.lr=0.0001`.

    Swept keys are those with several values on the command line (`a=1,2`, `glob(...)`, `range(...)`)
    or in `hydra.sweeper.params`; overrides that every job shares are left out of the name.
    """
    arguments = [a for a in sys.argv[1:] if not a.startswith("-")]
    try:
        parsed = OverridesParser.create().parse_overrides(arguments)
    except Exception:  # not our job to validate the command line: Hydra already did
        parsed = []
    swept = {o.key_or_group for o in parsed if o.is_sweep_override()} | set(sweeper_params or {})
    chosen = [o for o in task_overrides if o.split("=", 1)[0].lstrip("+~") in swept]
    return ",".join(chosen).replace("/", "_") or "run"


def native_cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX-512 BF16 or AMX), per the flags Linux reports."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:  # not Linux: no way to tell, so assume not
        return False
    return bool(flags & {"avx512_bf16", "amx_bf16"})


@functools.lru_cache
def best_precision(accelerator: str) -> str:
    """Lightning precision for the accelerator: bf16-mixed on GPUs and on CPUs with native bf16, else fp32
    (emulated bf16 is slower than fp32 on a CPU). Says why when it falls back."""
    import torch

    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed"
    if native_cpu_bf16():
        return "bf16-mixed"
    log.warning(
        "This CPU has no native bf16 (AVX-512 BF16 or AMX): training in fp32 (32-true), which is faster "
        "here than emulated bf16. Set trainer.precision to override."
    )
    return "32-true"


def is_gpu(accelerator: str) -> bool:
    import torch

    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def register_resolvers() -> None:
    """The resolvers the configs use (${launch_dir:}, ${swept_overrides_dirname:...}, ${best_precision:...},
    ${is_gpu:...}). Called by age_lightning.cli before Hydra composes anything, and by code that composes configs
    itself (the tests).

    launch_dir is the folder the command was started from: Hydra's runtime.cwd, but known before Hydra starts, so
    a multirun's sweep folder (resolved by the sweeper, before any job) can be placed under it."""
    launch_dir = os.getcwd()
    OmegaConf.register_new_resolver("launch_dir", lambda: launch_dir, replace=True)
    OmegaConf.register_new_resolver("swept_overrides_dirname", swept_overrides_dirname, replace=True)
    OmegaConf.register_new_resolver("best_precision", best_precision, replace=True)
    OmegaConf.register_new_resolver("is_gpu", is_gpu, replace=True)
