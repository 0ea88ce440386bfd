"""Evaluation preprocessing with numpy and Pillow only, for runtimes without torch (the ONNX predictor).

It is the one definition of what the network sees: the PyTorch pipeline's uint8 squares + `transforms.eval_batch`
give the same arrays (tests/test_transforms.py checks it), and both predictors call `preprocess`.
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
    return image.resize(size, Image.BILINEAR)


def center_offsets(size: tuple[int, int], crop: int) -> tuple[int, int]:
    """(left, top) of torchvision's CenterCrop(crop) in an image of `size` (width, height)."""
    return int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))


def preprocess(image: Image.Image, image_size: int) -> np.ndarray:
    """RGB PIL image -> float32 array (3, image_size, image_size), resized, center-cropped, normalized."""
    image = resize_shorter_side(image, square_side(image_size))
    left, top = center_offsets(image.size, image_size)
    image = image.crop((left, top, left + image_size, top + image_size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    array = (array - np.array(IMAGENET_MEAN, np.float32)) / np.array(IMAGENET_STD, np.float32)
    return np.ascontiguousarray(array.transpose(2, 0, 1))
