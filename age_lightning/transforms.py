"""Image transforms (torchvision transforms v2): training augmentation and the evaluation pipeline."""

import torch
from torchvision.transforms import v2

from age_lightning.constants import IMAGENET_MEAN, IMAGENET_STD
from age_lightning.preprocess import EVAL_CROP_RATIO


def to_normalized_tensor() -> v2.Compose:
    return v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True),
                       v2.Normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD)])


def resize_center_crop(image_size: int) -> v2.Compose:
    return v2.Compose([v2.Resize(round(image_size / EVAL_CROP_RATIO), antialias=True), v2.CenterCrop(image_size)])


def eval_transform(image_size: int) -> v2.Compose:
    """Deterministic: resize + center crop + ImageNet normalization."""
    return v2.Compose([resize_center_crop(image_size), to_normalized_tensor()])


def train_transform(image_size: int, crop_scale: tuple[float, float] | None = None, hflip: float = 0.0,
                    rotation: float = 0.0, color_jitter: float = 0.0) -> v2.Compose:
    """Training augmentation; with all options off it equals `eval_transform`.

    crop_scale: RandomResizedCrop area range, e.g. (0.8, 1.0); None keeps the evaluation resize + center crop.
    hflip: probability of a horizontal flip. rotation: max degrees either way.
    color_jitter: strength for brightness/contrast/saturation (hue gets a quarter of it, capped at 0.5).
    """
    steps = []
    if rotation:
        steps.append(v2.RandomRotation(rotation))
    steps.append(v2.RandomResizedCrop(image_size, scale=tuple(crop_scale), antialias=True)
                 if crop_scale else resize_center_crop(image_size))
    if hflip:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if color_jitter:
        steps.append(v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter,
                                    hue=min(color_jitter / 4, 0.5)))
    return v2.Compose([*steps, to_normalized_tensor()])
