"""model.json, the file every till depends on: one dataclass, written by export.py and read by the predictors,
the service and shares.py, through `write` and `read` alone.

`schema_version` says which layout a file has. Version 1 is every file written before the version existed (the
same fields, without `schema_version`): it still loads, with the defaults those files assumed. A file newer than
this package reads is refused with a message saying which version to install.
"""

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from age_lightning.ages import ID_CHECK_AGE, MAX_AGE, MIN_AGE
from age_lightning.calibration import Calibration
from age_lightning.errors import UserError
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec
from age_lightning.preprocess import DEFAULT_VIEW, IMAGENET_MEAN, IMAGENET_STD
from age_lightning.shares import ErrorModel
from age_lightning.shift import ShiftReference

SCHEMA_VERSION = 2
PREPROCESSING = "age_lightning.input_spec.PhotoPreparer"


@dataclass(frozen=True)
class ModelFile:
    """What a runtime without torch needs of an exported model: how to prepare a photo and decide on its answer
    (`spec`), what the graph outputs, where the model came from, and the error model for shares."""

    spec: InputSpec
    model_file: str = "model.onnx"
    head: str = "point"  # point | laplace | gaussian: laplace and gaussian also output age_scale (years)
    mirror_averaged: bool = False  # each answer is the mean of the photo's and its mirror image's, in the graph
    age_mean: float | None = None  # the target normalization, applied inside the graph
    age_std: float | None = None
    model_version: str | None = None  # the age-lightning version that exported it
    training_config_hash: str | None = None
    checkpoint: str | None = None
    error_model: ErrorModel | None = None
    quantization: dict[str, Any] | None = None  # {type, calibration_photos} for an int8 copy
    shift_reference: ShiftReference | None = None  # how the calibration photos look (the shift alarm's reference)
    card: dict | None = None  # the model card's figures (evaluation.card.card_figures); None: never evaluated

    @property
    def uncertain(self) -> bool:
        return self.head != "point"

    def quantized(self, model_file: str, kind: str, photos: int) -> "ModelFile":
        """The file of an int8 copy of this model."""
        return replace(self, model_file=model_file, quantization={"type": kind, "calibration_photos": photos})

    def to_dict(self) -> dict:
        spec = self.spec
        return {
            "schema_version": SCHEMA_VERSION,
            "format": "onnx",
            "model_file": self.model_file,
            "model_version": self.model_version,
            "training_config_hash": self.training_config_hash,
            "checkpoint": self.checkpoint,
            "output": {
                "name": "age",
                "unit": "years",
                "clamp": [MIN_AGE, MAX_AGE],
                "scale": "age_scale" if self.uncertain else None,
                "head": self.head,
                "mirror_averaged_in_graph": self.mirror_averaged,
            },
            "target_denormalization": {"age_mean": self.age_mean, "age_std": self.age_std, "applied_in_graph": True},
            "input": {
                "name": "image",
                "layout": "NCHW",
                "dtype": "float32",
                "size": spec.image_size,
                "resize_shorter_side": spec.side,
                "view": spec.view,
                "interpolation": "bilinear",
                "scale": 1 / 255,
                "mean": list(spec.mean),
                "std": list(spec.std),
                "preprocessing": PREPROCESSING,
            },
            "faces": spec.faces.to_dict(),
            "id_check_age": spec.id_check_age,
            "id_rule": spec.rule,
            "calibration": spec.calibration.to_dict() if spec.calibration else None,
            "error_model": self.error_model.to_dict() if self.error_model else None,
            "shift_reference": self.shift_reference.to_dict() if self.shift_reference else None,
            "card": self.card,
            **({"quantization": self.quantization} if self.quantization else {}),
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "model.json") -> "ModelFile":
        """From model.json's content, version 1 or SCHEMA_VERSION; a clear UserError otherwise."""
        version = data.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise UserError(
                f"{where} has schema_version {version!r}, newer than this age-lightning reads (up to "
                f"{SCHEMA_VERSION}): install the age-lightning version that exported it ({data.get('model_version')})"
            )
        try:
            source = data["input"]
            spec = InputSpec(
                image_size=int(source["size"]),
                faces=FacePolicy.from_dict(data.get("faces")),
                view=float(source.get("view", DEFAULT_VIEW)),  # version 1 files before data.view
                mean=tuple(source.get("mean", IMAGENET_MEAN)),
                std=tuple(source.get("std", IMAGENET_STD)),
                id_rule=data.get("id_rule"),
                id_check_age=float(data.get("id_check_age", ID_CHECK_AGE)),
                calibration=Calibration.from_dict(data.get("calibration")),
            )
            output = data.get("output", {})
            target = data.get("target_denormalization", {})
            return cls(
                spec=spec,
                model_file=data.get("model_file", "model.onnx"),
                head=output.get("head", "point"),
                mirror_averaged=bool(output.get("mirror_averaged_in_graph", False)),
                age_mean=target.get("age_mean"),
                age_std=target.get("age_std"),
                model_version=data.get("model_version"),
                training_config_hash=data.get("training_config_hash"),
                checkpoint=data.get("checkpoint"),
                error_model=ErrorModel.from_dict(data.get("error_model")),
                quantization=data.get("quantization"),
                shift_reference=ShiftReference.from_dict(data.get("shift_reference")),
                card=data.get("card"),
            )
        except (KeyError, TypeError, ValueError) as error:
            what = f"{type(error).__name__} {error}"
            raise UserError(f"{where} is not a valid model.json (schema {version}): {what}") from None

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def read(cls, path: str | Path) -> "ModelFile":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: cannot read it as model.json ({error})") from None
        if not isinstance(data, dict):
            raise UserError(f"{path}: not a model.json (a JSON object)")
        return cls.from_dict(data, str(path))
