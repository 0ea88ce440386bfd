"""Face alignment: a similarity transform (rotation, uniform scale, shift) from 5 landmarks onto a template.

numpy and Pillow only, so the torch-free predictor uses the same code as training.
"""

import numpy as np
from PIL import Image

# Where UTKFace's aligned crops put the eyes, nose tip and mouth corners, as fractions of the crop's side
# (measured at 200 px: [[61,58],[139,58],[100,105],[65,135],[135,135]]). Aligning onto it reproduces that framing,
# so photos of any framing look like the UTKFace crops the recipes are tuned on.
UTKFACE_TEMPLATE = ((0.305, 0.29), (0.695, 0.29), (0.5, 0.525), (0.325, 0.675), (0.675, 0.675))


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 matrix M of the least-squares similarity mapping source points onto target points
    (Umeyama's method without reflection): target ~= M @ [x, y, 1]."""
    source, target = np.asarray(source, float), np.asarray(target, float)
    source_mean, target_mean = source.mean(0), target.mean(0)
    source_centered, target_centered = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(target_centered.T @ source_centered / len(source))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(singular) @ sign) / source_centered.var(0).sum()
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix


def template_points(size: int, face_scale: float = 1.0, template=UTKFACE_TEMPLATE) -> np.ndarray:
    """The template in pixels of a size x size crop. face_scale < 1 shows more around the face, > 1 less."""
    return (0.5 + (np.asarray(template, float) - 0.5) * face_scale) * size


def align_face(
    image: Image.Image, landmarks: np.ndarray, size: int, face_scale: float = 1.0, template=UTKFACE_TEMPLATE
) -> Image.Image:
    """A size x size crop of `image` with the 5 landmarks moved onto the template (outside the photo: black)."""
    landmarks = np.asarray(landmarks, float)
    matrix = similarity_transform(landmarks, template_points(size, face_scale, template))
    scale = np.hypot(*matrix[:, 0])
    reduce = int(1 / scale) if scale < 0.5 else 1  # shrink big faces first: a plain warp would alias
    if reduce > 1:
        image = image.reduce(reduce)
        matrix = similarity_transform(landmarks / reduce, template_points(size, face_scale, template))
    # Pillow asks for the output -> input map, in the same continuous pixel coordinates as the landmarks
    # (pixel i covers [i, i + 1)).
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    return image.transform(
        (size, size), Image.Transform.AFFINE, tuple(inverse.ravel()), resample=Image.Resampling.BILINEAR
    )
