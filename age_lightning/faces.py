"""Finding the face in a checkout photo with OpenCV's bundled Haar cascade (no download at run time).

Limits: the frontal-face cascade misses faces turned more than ~30 degrees, strongly tilted, partly covered
(masks, hands) or smaller than `min_size` pixels, and can fire on face-like patterns. It is a light-weight
crop helper, not a verification step; photos where it finds nothing are reported as "no face found".
"""

import cv2
import numpy as np
from PIL import Image

CASCADE = "haarcascade_frontalface_default.xml"


class FaceCropper:
    def __init__(self, margin: float = 0.4, min_size: int = 40):
        """margin: extra border on each side, as a fraction of the detected box (0.4 gives a crop 1.8x the box,
        close to the aligned-and-cropped faces the model is trained on)."""
        self.detector = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE)
        if self.detector.empty():
            raise RuntimeError(f"OpenCV's {CASCADE} could not be loaded from {cv2.data.haarcascades}")
        self.margin = margin
        self.min_size = min_size

    def largest_face(self, image: Image.Image) -> tuple[int, int, int, int] | None:
        """(x, y, width, height) of the largest detected face, or None."""
        gray = cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2GRAY)
        faces = self.detector.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(self.min_size, self.min_size))
        if len(faces) == 0:
            return None
        return tuple(int(v) for v in max(faces, key=lambda f: f[2] * f[3]))

    def crop(self, image: Image.Image) -> Image.Image | None:
        """The largest face with its margin (clipped to the image), or None when no face is found."""
        box = self.largest_face(image)
        if box is None:
            return None
        x, y, w, h = box
        dx, dy = self.margin * w, self.margin * h
        return image.crop((max(0, round(x - dx)), max(0, round(y - dy)),
                           min(image.width, round(x + w + dx)), min(image.height, round(y + h + dy))))
