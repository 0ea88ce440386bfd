"""A trained checkpoint loaded for use, and its predicted ages over a loader (evaluate, calibrate, predict, export,
the benchmarks)."""

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from rich.progress import track
from torch.utils.data import DataLoader

from age_lightning.errors import UserError
from age_lightning.input_spec import InputSpec
from age_lightning.model.module import AgeRegressor


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def load_checkpoint(path: str, device: str = "auto") -> tuple[AgeRegressor, dict]:
    """The model (eval mode, on `device`) and the data settings it was trained with.

    The backbone is rebuilt without pretrained weights: the checkpoint holds all of them.
    """
    if not Path(path).is_file():
        raise UserError(f"checkpoint {path} does not exist (ckpt_path=...)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise UserError(f"{path} is not a checkpoint this project can read: {str(error)[:300]}") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint or "hyper_parameters" not in checkpoint:
        raise UserError(f"{path} is not a Lightning checkpoint written by train.py")
    hparams = {**checkpoint["hyper_parameters"], "weights": None, "weights_path": None, "compile": False}
    try:
        model = AgeRegressor(**hparams)
        model.load_state_dict(checkpoint["state_dict"])
    except (TypeError, ValueError, RuntimeError) as error:
        raise UserError(
            f"{path} does not match this project's model (was it trained with another config or "
            f"version?): {str(error)[:300]}"
        ) from None
    model.on_load_checkpoint(checkpoint)  # what Lightning's load_from_checkpoint runs: calibration, error model
    return model.eval().to(resolve_device(device)), dict(checkpoint.get("datamodule_hyper_parameters", {}))


def checkpoint_spec(model: AgeRegressor, trained_data: dict) -> InputSpec:
    """How photos become this checkpoint's input and its answers decisions (`load_checkpoint`'s two results)."""
    return InputSpec.from_checkpoint(trained_data, dict(model.hparams), model.calibration)


@torch.inference_mode()
def predict_ages(
    model: AgeRegressor,
    loader: DataLoader,
    prepare: Callable[[torch.Tensor], torch.Tensor],
    description: str = "Predicting",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted ages (years) for every batch of `loader` (batches are images or (images, ...) tuples), and their
    scales (years; None for a point head).

    prepare: the batch transform on the device (e.g. AgeDataModule.eval_batch on uint8 squares).
    """
    ages, scales = [], []
    for batch in track(loader, description=description, total=len(loader)):
        images = prepare((batch[0] if isinstance(batch, (tuple, list)) else batch).to(model.device))
        age, scale = model.predict(images)
        ages.append(age.float().cpu())
        if scale is not None:
            scales.append(scale.float().cpu())
    if not ages:
        return np.zeros(0, dtype=np.float32), (np.zeros(0, dtype=np.float32) if model.uncertain else None)
    return torch.cat(ages).numpy(), (torch.cat(scales).numpy() if model.uncertain else None)
