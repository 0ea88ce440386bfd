"""A photo -> its chosen face, detected and aligned under a face policy."""

from dataclasses import dataclass

from PIL import Image

from age_lightning.faces.align import align_face
from age_lightning.faces.detector import Face, RetinaFaceDetector
from age_lightning.faces.policy import FacePolicy

RECORD_COLUMNS = ["faces_found", "face_score", "face_x0", "face_y0", "face_x1", "face_y1", "eye_distance"]


@dataclass(frozen=True)
class AlignedFace:
    image: Image.Image  # size x size crop on the template
    face: Face  # the chosen face, in the photo's pixels
    faces_found: int

    def record(self) -> dict:
        """What the face step found, as the RECORD_COLUMNS of a table (box and eye distance in the photo's pixels:
        the face's size as age-estimation reviews state it)."""
        face = self.face
        values = [self.faces_found, round(face.score, 3), *(round(v, 1) for v in face.box), round(face.eye_distance, 1)]
        return dict(zip(RECORD_COLUMNS, values))


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
