"""Calibrating a model on labeled photos it never trained on: an uncertain model's intervals and ID rule (see
age_lightning.calibration), and every model's error model for corrected age-group shares (age_lightning.shares).

train.py does it on the `calibration` split right after training; recalibrate.py refits both on any labeled
folder (a store's own photos) without retraining.
"""

import logging
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from age_lightning.ages import ADULTS
from age_lightning.calibration import Calibration, CalibrationSettings, promise_in_words
from age_lightning.errors import UserError
from age_lightning.model.inference import load_checkpoint, predict_ages
from age_lightning.shares import ErrorModel
from age_lightning.shift import ShiftReference, photo_statistics
from age_lightning.tasks.evaluate import checkpoint_datamodule

log = logging.getLogger(__name__)


def calibration_groups(datamodule, split: str, columns: list[str]):
    """One label per photo of the split joining its `columns` values (e.g. "utkface/white"), or None."""
    if not columns:
        return None
    values = datamodule.folders.group_columns(datamodule.folders.table(split), list(columns))
    return values.astype(str).agg("/".join, axis=1).to_numpy()


def split_predictions(model, datamodule, split: str) -> tuple:
    """True ages, predicted ages and scales (None for a point head) of one split of a set-up datamodule."""
    dataset = datamodule.dataset(split)
    if len(dataset) == 0:
        raise UserError(f"the {split!r} split holds no photos to calibrate on")
    predicted, scale = predict_ages(
        model,
        datamodule.loader(dataset),
        datamodule.eval_batch,
        description=f"Calibrating on {len(dataset)} photos",
    )
    return dataset.ages.numpy(), predicted, scale


def split_statistics(datamodule, split: str) -> np.ndarray:
    """Each photo's shift statistics (age_lightning.shift), computed on the input the model sees."""
    loader = datamodule.loader(datamodule.dataset(split))
    squares = (batch[0] if isinstance(batch, (tuple, list)) else batch for batch in loader)
    return np.concatenate([photo_statistics(datamodule.eval_batch(images).float().numpy()) for images in squares])


def fit_shift_reference(model, datamodule, split: str, predicted: np.ndarray) -> ShiftReference:
    """The shift alarm's reference: how the split's photos look, and for the calibration split the validation
    photos' too (the statistics need no labels, and the weights never trained on either: each band of predicted
    age then holds twice the photos)."""
    splits = [split, *(["val"] if split == "calibration" and len(datamodule.dataset("val")) else [])]
    ages = [predicted, *(split_predictions(model, datamodule, other)[1] for other in splits[1:])]
    statistics = np.concatenate([split_statistics(datamodule, name) for name in splits])
    return ShiftReference.fit(statistics, np.concatenate(ages))


class Fitted(NamedTuple):
    calibration: Calibration | None
    error_model: ErrorModel
    shift_reference: ShiftReference


def fit_calibration(model, datamodule, split: str, settings, source: str = "") -> Fitted:
    """Predict on one split of an already set-up datamodule; fit the error model on it, the shift alarm's
    reference, and for an uncertain model the calibration (None for a point head) with `settings` (the
    `calibration` config node: the fields of calibration.CalibrationSettings)."""
    settings = CalibrationSettings(**settings)
    columns = list(settings.groups)
    groups = calibration_groups(datamodule, split, columns)
    ages, predicted, scale = split_predictions(model, datamodule, split)
    error_model = ErrorModel.fit(ages, predicted, scale, source or split)
    shift_reference = fit_shift_reference(model, datamodule, split, predicted)
    if not model.uncertain:
        return Fitted(None, error_model, shift_reference)
    calibration = Calibration.fit(
        ages,
        predicted,
        scale,
        alpha=settings.alpha,
        max_pass=settings.max_pass,
        source=source or split,
        shift=settings.shift,
        groups=groups,
        group_columns=columns,
        small_groups=settings.small_groups,
        minor_ages=settings.minor_ages,
        max_pass_per_year=settings.max_pass_per_year,
    )
    log.info(
        "Calibrated on %d photos: %.0f%% interval = age %+.2f / %+.2f x scale; ID rule margin %.2f: %s",
        calibration.photos,
        100 * (1 - 2 * settings.alpha),
        calibration.lower,
        calibration.upper,
        calibration.margin,
        promise_in_words(calibration),
    )
    if calibration.groups:
        log.info(
            "Worst-group margin %.2f over %s (pooled: %.2f); %s asked on the calibration photos: %.1f%% "
            "(pooled margin: %.1f%%); groups left out: %s",
            calibration.margin,
            ", ".join(columns),
            calibration.groups["pooled_margin"],
            ADULTS,
            100 * (calibration.groups["adults_asked"] or 0),
            100 * (calibration.groups["adults_asked_pooled"] or 0),
            calibration.groups["skipped"] or "none",
        )
    return Fitted(calibration, error_model, shift_reference)


def write_calibration(ckpt_path: str | Path, fitted: Fitted, view: float, output: str | Path | None = None) -> Path:
    """Store the calibration (when there is one), the error model, the shift reference and the answer's view they
    were fitted at in a checkpoint (in place, or in a copy at `output`)."""
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    checkpoint.setdefault("datamodule_hyper_parameters", {})["view"] = view
    if fitted.calibration is not None:
        checkpoint["calibration"] = fitted.calibration.to_dict()
    checkpoint["error_model"] = fitted.error_model.to_dict()
    checkpoint["shift_reference"] = fitted.shift_reference.to_dict()
    output = Path(output or ckpt_path)
    output.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, output)
    return output


def recalibrate(cfg) -> Path:
    """The recalibrate.py task: calibrate a checkpoint on cfg.data's `cfg.split` and write it to cfg.output."""
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)
    if not model.uncertain:
        raise UserError(
            "calibration needs a model with an uncertain head (trained with model.head=laplace or "
            "gaussian); this checkpoint has a point head"
        )
    datamodule = checkpoint_datamodule(cfg, model, trained_data)
    fitted = fit_calibration(model, datamodule, cfg.split, cfg.calibration, source=f"{cfg.data.root} ({cfg.split})")
    output = write_calibration(cfg.ckpt_path, fitted, datamodule.hparams.view, cfg.output)
    log.info("Calibrated checkpoint: %s (export it again for the ONNX model)", output)
    return output
