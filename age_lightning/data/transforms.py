"""Image transforms on whole batches of uint8 squares (B, 3, side, side), on whatever device they are on.

Every photo becomes a uint8 square first (`input_spec.PhotoPreparer.square`, cached by cache.py), so
training and evaluation share one path with or without the decoded-image cache:
- evaluation: the centred view of each square resampled to image_size, normalized (what `preprocess.normalize`
  does with numpy for the predictors);
- training: per image a random zoom + shift (the crop), rotation and mirror in one affine resampling
  (`grid_sample`), then brightness / contrast / saturation jitter, all vectorized. Each image's random
  choices come from its own seed, so a batch's augmentation never depends on the global RNG, the number of
  workers or the device.
"""

import math

import torch
import torch.nn.functional as F

from age_lightning.preprocess import DEFAULT_VIEW, IMAGENET_MEAN, IMAGENET_STD, take_view, view_taps

GRAY_WEIGHTS = (0.299, 0.587, 0.114)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 or 0..1 float images -> float32 with ImageNet mean/std."""
    images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


def eval_batch(squares: torch.Tensor, image_size: int, view: float = DEFAULT_VIEW) -> torch.Tensor:
    """uint8 squares -> the network's input: the centred `view` of each square's side (`preprocess.view_taps`)."""
    taps = (torch.from_numpy(t).to(squares.device) for t in view_taps(squares.shape[-1], image_size, view))
    return normalize(take_view(squares.float() / 255, *taps))


class BatchAugmentation:
    def __init__(
        self,
        image_size: int,
        view: float = DEFAULT_VIEW,
        crop_scale: tuple[float, float] | None = None,
        hflip: float = 0.0,
        rotation: float = 0.0,
        color_jitter: float = 0.0,
    ):
        """view: the answer's view (`eval_batch`). crop_scale: range of the crop's area as a fraction of the
        square, e.g. (0.8, 1.0) (as RandomResizedCrop's scale, square crops); None: the answer's view. hflip:
        mirror probability.
        rotation: max degrees either way. color_jitter: max relative change of brightness, contrast, saturation.
        """
        self.image_size, self.view = image_size, view
        self.hflip, self.rotation, self.color_jitter = hflip, rotation, color_jitter
        self.crop_scale = tuple(crop_scale) if crop_scale else None

    @property
    def is_identity(self) -> bool:
        return not (self.crop_scale or self.hflip or self.rotation or self.color_jitter)

    def __call__(self, squares: torch.Tensor, seeds: list[int], size: int | None = None) -> torch.Tensor:
        """uint8 (B, 3, side, side) and one seed per image -> normalized float (B, 3, size, size).

        size: the output's side, image_size by default; a smaller one shows the same crops with fewer pixels.
        """
        size = size or self.image_size
        if self.is_identity and size == self.image_size:
            return eval_batch(squares, self.image_size, self.view)
        draws = torch.stack([torch.rand(8, generator=torch.Generator().manual_seed(int(s))) for s in seeds])
        draws = draws.to(squares.device)
        images = self._geometry(squares.float() / 255, draws, size)
        if self.color_jitter:
            images = self._jitter(images, draws[:, 5:8])
        return normalize(images)

    def _geometry(self, images: torch.Tensor, draws: torch.Tensor, size: int) -> torch.Tensor:
        if self.crop_scale:
            low, high = self.crop_scale
            zoom = torch.sqrt(low + (high - low) * draws[:, 0])  # the crop's side / the square's side
            shift_x, shift_y = ((2 * draws[:, i] - 1) * (1 - zoom) for i in (1, 2))
        else:  # the answer's view, jittered only by rotation and flip
            zoom = torch.full_like(draws[:, 0], self.view)
            shift_x, shift_y = torch.zeros_like(zoom), torch.zeros_like(zoom)
        angle = (2 * draws[:, 3] - 1) * math.radians(self.rotation)
        mirror = torch.where(draws[:, 4] < self.hflip, -1.0, 1.0)
        cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
        theta = torch.stack(
            [torch.stack([cos * mirror, -sin, shift_x], 1), torch.stack([sin * mirror, cos, shift_y], 1)], 1
        )
        grid = F.affine_grid(theta, [len(images), 3, size, size], align_corners=False)
        return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)

    def _jitter(self, images: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        factors = 1 + self.color_jitter * (2 * draws - 1)  # brightness, contrast, saturation per image
        brightness, contrast, saturation = (factors[:, i].view(-1, 1, 1, 1) for i in range(3))
        images = (images * brightness).clamp(0, 1)
        mean_gray = _grayscale(images).mean((2, 3), keepdim=True)
        images = ((images - mean_gray) * contrast + mean_gray).clamp(0, 1)
        gray = _grayscale(images)
        return ((images - gray) * saturation + gray).clamp(0, 1)


def _grayscale(images: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in 0..1 -> (B, 1, H, W) luminance."""
    return (images * torch.tensor(GRAY_WEIGHTS, device=images.device).view(1, 3, 1, 1)).sum(1, keepdim=True)
