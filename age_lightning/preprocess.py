"""The geometry and normalization of the network's input, with numpy and Pillow only (runtimes without torch).

`input_spec.PhotoPreparer` turns photos into squares and inputs with these; the PyTorch pipeline's
`transforms.eval_batch` on the same squares gives the same arrays (tests/test_transforms.py checks it).

A photo (or its aligned face) becomes a square of side image_size / SQUARE_RATIO. Training shows the network
random crops of it (`transforms.BatchAugmentation`); an answer shows it the centred `view` of the square's side,
resampled to image_size (`view_taps`).
"""

import numpy as np
from PIL import Image

# torchvision's ImageNet normalization (the statistics the pretrained ResNet50 expects).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# The network's input side unless a config says otherwise (the ImageNet size).
DEFAULT_IMAGE_SIZE = 224
# Photos become squares of side image_size / SQUARE_RATIO (torchvision's ImageNet margin: 256 -> 224).
SQUARE_RATIO = 0.875
# The answer's view: the centred 0.95 of the square's side, about the mean view of `light` augmentation's
# training crops (0.89-1.0); chosen on the validation split (docs/benchmarks.md, "The answer's view").
DEFAULT_VIEW = 0.95


def square_side(image_size: int) -> int:
    """Photos become squares of this side (training crops and the answer's view are taken from it)."""
    return round(image_size / SQUARE_RATIO)


def view_taps(side: int, image_size: int, view: float) -> tuple[np.ndarray, np.ndarray]:
    """Where each of image_size output rows (and columns) samples a square of `side`: the first of the two pixels
    it blends, and the second's weight. Bilinear sampling of the centred `view` of the side, exactly what
    `grid_sample` (align_corners=False) does with a zoom of `view`, as training's crops are made
    (`transforms.BatchAugmentation`)."""
    normalized = view * ((2 * np.arange(image_size) + 1) / image_size - 1)
    position = np.clip(((normalized + 1) * side - 1) / 2, 0, side - 1)
    first = np.minimum(np.floor(position).astype(np.int64), side - 2)
    return first, (position - first).astype(np.float32)


def take_view(images, first, weight):
    """(..., side, side) images -> (..., image_size, image_size), numpy or torch alike (`first` and `weight` from
    `view_taps`, as arrays or tensors of the images' kind)."""
    rows = images[..., first, :] * (1 - weight)[:, None] + images[..., first + 1, :] * weight[:, None]
    return rows[..., first] * (1 - weight) + rows[..., first + 1] * weight


def resize_shorter_side(image: Image.Image, side: int) -> Image.Image:
    """Shorter side to `side` pixels, aspect kept, exactly as torchvision's Resize(side) does on PIL images."""
    width, height = image.size
    size = (side, int(side * height / width)) if width <= height else (int(side * width / height), side)
    return image.resize(size, Image.Resampling.BILINEAR)


def center_offsets(size: tuple[int, int], crop: int) -> tuple[int, int]:
    """(left, top) of torchvision's CenterCrop(crop) in an image of `size` (width, height)."""
    return int(round((size[0] - crop) / 2.0)), int(round((size[1] - crop) / 2.0))


def normalize(
    square: np.ndarray, image_size: int, view: float = DEFAULT_VIEW, mean=IMAGENET_MEAN, std=IMAGENET_STD
) -> np.ndarray:
    """uint8 (side, side, 3) square -> float32 (3, image_size, image_size): the centred view, scaled to [0, 1]
    and normalized by mean and std (what `transforms.eval_batch` does to a batch of squares)."""
    channels = np.asarray(square, np.float32).transpose(2, 0, 1) / 255.0
    viewed = take_view(channels, *view_taps(square.shape[0], image_size, view))
    mean, std = (np.array(values, np.float32).reshape(3, 1, 1) for values in (mean, std))
    return np.ascontiguousarray((viewed - mean) / std)
