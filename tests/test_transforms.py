"""Batch transforms on uint8 squares, and their agreement with the numpy preprocessing and torchvision."""

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.transforms import v2

from age_lightning.data.transforms import BatchAugmentation, eval_batch
from age_lightning.input_spec import InputSpec, PhotoPreparer, photo_square
from age_lightning.preprocess import IMAGENET_MEAN, IMAGENET_STD, square_side


def squares_of(images, image_size):
    side = square_side(image_size)
    return torch.stack([torch.from_numpy(np.array(photo_square(i, side, image_size))).permute(2, 0, 1) for i in images])


@pytest.mark.parametrize("size", [(200, 200), (333, 171), (90, 400), (31, 40)])
def test_preprocessing_is_torchvisions_imagenet_eval_transform(size):
    """The numpy path (predictors) is what torchvision does for ImageNet weights: resize, center crop, normalize."""
    image = Image.effect_noise(size, 60).convert("RGB")
    reference = v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(square_side(64), antialias=True),
            v2.CenterCrop(64),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    np.testing.assert_allclose(PhotoPreparer(InputSpec(64))(image)[0], reference(image).numpy(), atol=0.02)


@pytest.mark.parametrize("size", [(200, 200), (333, 171), (90, 400), (31, 40)])
def test_training_pipeline_eval_input_equals_the_predictors(size):
    """Squares + eval_batch (training, evaluate.py) and PhotoPreparer (predict, predict_onnx, the service) cannot
    drift apart."""
    image = Image.effect_noise(size, 60).convert("RGB")
    batch = eval_batch(squares_of([image], 64), 64)
    np.testing.assert_allclose(batch[0].numpy(), PhotoPreparer(InputSpec(64))(image)[0], atol=1e-5)


def test_augmentation_without_options_is_the_evaluation_crop():
    squares = torch.randint(0, 256, (3, 3, 37, 37), dtype=torch.uint8)
    assert torch.equal(BatchAugmentation(32)(squares, [1, 2, 3]), eval_batch(squares, 32))


def test_augmentation_varies_per_image_is_seeded_and_keeps_shape():
    squares = torch.randint(0, 256, (1, 3, 55, 55), dtype=torch.uint8).repeat(4, 1, 1, 1)
    augment = BatchAugmentation(48, crop_scale=(0.6, 1.0), hflip=0.5, rotation=15, color_jitter=0.3)
    images = augment(squares, [1, 2, 3, 4])
    assert images.shape == (4, 3, 48, 48) and images.dtype == torch.float32
    assert not torch.equal(images[0], images[1])  # same picture, different seeds: different views
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(augment(squares, [1, 2, 3, 4]), images)


def test_mirror_flips_and_zoom_shows_the_whole_square():
    """With crop_scale (1, 1), hflip 1: the whole square resized, mirrored (a left-right ramp turns around)."""
    ramp = torch.arange(40, dtype=torch.uint8).mul(6).view(1, 1, 1, 40).expand(1, 3, 40, 40).contiguous()
    plain = BatchAugmentation(40, crop_scale=(1.0, 1.0))(ramp, [0])
    mirrored = BatchAugmentation(40, crop_scale=(1.0, 1.0), hflip=1.0)(ramp, [0])
    torch.testing.assert_close(plain, eval_batch(ramp, 40), atol=1e-5, rtol=0)
    torch.testing.assert_close(mirrored, plain.flip(-1), atol=1e-5, rtol=0)


def test_normalization_constants_match_torchvision_weights():
    from torchvision.models import ResNet50_Weights

    preset = ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert tuple(preset.mean) == IMAGENET_MEAN and tuple(preset.std) == IMAGENET_STD
