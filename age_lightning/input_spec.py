"""How a photo becomes a model's input, and its answer a decision, in one object built from a checkpoint or from
model.json (timm's `resolve_data_config` is the model): the input size, normalization, face policy, ID rule and
calibration. Every path from photo to input goes through it: the training cache, predict, export, predict_onnx
and the service. Needs no torch.
"""

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from age_lightning.ages import ID_CHECK_AGE
from age_lightning.calibration import Calibration
from age_lightning.errors import UserError
from age_lightning.faces import Face, FaceAligner, FacePolicy
from age_lightning.id_rules import IdCheck, default_rule
from age_lightning.images import load_rgb
from age_lightning.preprocess import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_VIEW,
    IMAGENET_MEAN,
    IMAGENET_STD,
    center_offsets,
    normalize,
    resize_shorter_side,
    square_side,
)


@dataclass(frozen=True)
class InputSpec:
    image_size: int = DEFAULT_IMAGE_SIZE
    faces: FacePolicy = field(default_factory=FacePolicy)
    view: float = DEFAULT_VIEW  # the network sees the centred `view` of the square's side
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    id_rule: str | None = None  # point | interval; None: interval when calibrated, else point
    id_check_age: float = ID_CHECK_AGE  # the point rule asks below this age
    calibration: Calibration | None = None

    def __post_init__(self):
        if not 0 < self.view <= 1:
            raise UserError(f"the view (data.view) must be a fraction of the square's side in (0, 1], got {self.view}")

    @classmethod
    def from_checkpoint(cls, trained_data: dict, model_hparams: dict, calibration: Calibration | None) -> "InputSpec":
        """From what a checkpoint holds: the datamodule's settings, the model's and its calibration."""
        return cls(
            image_size=int(trained_data.get("image_size", DEFAULT_IMAGE_SIZE)),
            faces=FacePolicy.from_dict(trained_data.get("faces")),
            view=float(trained_data.get("view", DEFAULT_VIEW)),
            id_check_age=float(model_hparams.get("id_check_age", ID_CHECK_AGE)),
            calibration=calibration,
        )

    def override(
        self, faces: dict | str | None = None, id_rule: str | None = None, id_check_age: float | None = None
    ) -> "InputSpec":
        """The model's spec with a command's overrides, one rule for every command: what is given replaces the
        model's, what is not keeps it. faces: FacePolicy fields, or just a mode name (none | align)."""
        changes: dict[str, Any] = {}
        if faces:
            given = {"mode": faces} if isinstance(faces, str) else dict(faces)
            changes["faces"] = FacePolicy.from_dict({**self.faces.to_dict(), **given})
        if id_rule:
            changes["id_rule"] = id_rule
        if id_check_age is not None:
            changes["id_check_age"] = float(id_check_age)
        return replace(self, **changes)

    @property
    def side(self) -> int:
        """Photos become squares of this side, whose centred view, resampled to image_size, is the network's input."""
        return square_side(self.image_size)

    @property
    def rule(self) -> str:
        return self.id_rule or default_rule(self.calibration)

    @property
    def id_check(self) -> IdCheck:
        return IdCheck(self.rule, self.id_check_age, self.calibration)

    def normalize(self, square: np.ndarray) -> np.ndarray:
        """uint8 square (side, side, 3) -> float32 network input (3, image_size, image_size): the centred view,
        scaled to [0, 1], normalized by mean and std."""
        return normalize(square, self.image_size, self.view, self.mean, self.std)


def photo_square(image: Image.Image, side: int) -> np.ndarray:
    """(side, side, 3) uint8 of a whole photo: shorter side resized to `side`, the long side's centre kept."""
    image = resize_shorter_side(image, side)
    left, top = center_offsets(image.size, side)
    return np.asarray(image.crop((left, top, left + side, top + side)))


class PhotoPreparer:
    """photo -> uint8 square under the spec's face policy (`square`), or straight to the network's input
    (`__call__`), with what the face step found. The training cache stores squares; the predictors and the
    service normalize them at once: both from this one definition."""

    def __init__(self, spec: InputSpec, threads: int = 1):
        self.spec = spec
        self.aligner = FaceAligner(spec.faces, threads=threads) if spec.faces.aligns else None

    @property
    def min_size(self) -> int:
        """The smallest photo side worth decoding (JPEG draft mode may decode smaller photos faster)."""
        return self.spec.faces.max_side if self.aligner else self.spec.side

    def load(self, path) -> Image.Image:
        """A photo file decoded at the size this spec needs (`images.load_rgb` with min_size)."""
        return load_rgb(path, min_size=self.min_size)

    def square(self, image: Image.Image) -> tuple[np.ndarray | None, dict]:
        """(uint8 square, face record); the square is None when the policy wants a face and none is found."""
        if self.aligner is None:
            return photo_square(image, self.spec.side), {}
        aligned = self.aligner(image, self.spec.side)
        if aligned is None:
            return None, {"faces_found": 0}
        return np.asarray(aligned.image), aligned.record()

    def __call__(self, image: Image.Image) -> tuple[np.ndarray | None, dict]:
        square, record = self.square(image)
        return (None if square is None else self.spec.normalize(square)), record

    def every_face(self, image: Image.Image, max_faces: int | None = None) -> list[tuple[np.ndarray, Face | None]]:
        """The input of every face found (the `max_faces` largest), the policy's preferred one first, with its
        face; without the face step one input for the whole photo (face None)."""
        if self.aligner is None:
            return [(self.spec.normalize(photo_square(image, self.spec.side)), None)]
        return [
            (self.spec.normalize(np.asarray(aligned.image)), aligned.face)
            for aligned in self.aligner.align_all(image, self.spec.side, max_faces)
        ]
