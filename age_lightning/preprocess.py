"""Evaluation preprocessing with numpy and Pillow only, for runtimes without torch (the ONNX predictor).

It reproduces `transforms.eval_transform` exactly (tests/test_export.py checks it), and both the PyTorch and
the ONNX predictors use it, so their inputs cannot drift apart.
"""

import numpy as np
from PIL import Image

from age_lightning.constants import IMAGENET_MEAN, IMAGENET_STD

# Evaluation resizes the shorter side to image_size / EVAL_CROP_RATIO, then center-crops image_size
# (torchvision's ImageNet recipe: 256 -> 224).
EVAL_CROP_RATIO = 0.875


def resize_shorter_side(image: Image.Image, side: int) -> Image.Image:
    """Shorter side to `side` pixels, aspect kept, exactly as torchvision's Resize(side) does on PIL images."""
    width, height = image.size
    size = (side, int(side * height / width)) if width <= height else (int(side * width / height), side)
    return image.resize(size, Image.BILINEAR)


def center_offsets(size: tuple[int, int], crop: int) -> tuple[int, int]:
    """(left, top) of torchvision's CenterCrop(crop) in an image of `size` (width, height)."""
    return int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))


def preprocess(image: Image.Image, image_size: int) -> np.ndarray:
    """RGB PIL image -> float32 array (3, image_size, image_size), resized, center-cropped, normalized."""
    image = resize_shorter_side(image, round(image_size / EVAL_CROP_RATIO))
    left, top = center_offsets(image.size, image_size)
    image = image.crop((left, top, left + image_size, top + image_size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))
