"""The geometry and normalization of the network's input, with numpy and Pillow only (runtimes without torch).

`input_spec.PhotoPreparer` turns photos into squares and inputs with these; the PyTorch pipeline's
`transforms.eval_batch` on the same squares gives the same arrays (tests/test_transforms.py checks it).
"""

import numpy as np
from PIL import Image

# torchvision's ImageNet normalization (the statistics the pretrained ResNet50 expects).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The network's input side unless a config says otherwise (the ImageNet size).
DEFAULT_IMAGE_SIZE = 224
# Evaluation resizes the shorter side to image_size / EVAL_CROP_RATIO, then center-crops image_size
# (torchvision's ImageNet recipe: 256 -> 224).
EVAL_CROP_RATIO = 0.875


def square_side(image_size: int) -> int:
    """Photos become squares of this side before the crop (the evaluation resize)."""
    return round(image_size / EVAL_CROP_RATIO)


def resize_shorter_side(image: Image.Image, side: int) -> Image.Image:
    """Shorter side to `side` pixels, aspect kept, exactly as torchvision's Resize(side) does on PIL images."""
    width, height = image.size
    size = (side, int(side * height / width)) if width <= height else (int(side * width / height), side)
    return image.resize(size, Image.Resampling.BILINEAR)


def center_offsets(size: tuple[int, int], crop: int) -> tuple[int, int]:
    """(left, top) of torchvision's CenterCrop(crop) in an image of `size` (width, height)."""
    return int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))


def normalize(square: np.ndarray, image_size: int, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> np.ndarray:
    """uint8 (side, side, 3) square -> float32 (3, image_size, image_size): centre crop, scaled to [0, 1] and
    normalized by mean and std (what `transforms.eval_batch` does to a batch of squares)."""
    left, top = center_offsets((square.shape[1], square.shape[0]), image_size)
    crop = np.asarray(square[top : top + image_size, left : left + image_size], dtype=np.float32) / 255.0
    normalized = (crop - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(normalized.transpose(2, 0, 1))
