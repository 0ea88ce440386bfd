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
    return torch.stack([torch.from_numpy(np.array(photo_square(i, side))).permute(2, 0, 1) for i in images])


@pytest.mark.parametrize("size", [(200, 200), (333, 171), (90, 400), (31, 40)])
def test_preprocessing_is_torchvisions_resize_crop_resize(size):
    """The numpy path (predictors) in torchvision's words: the photo's square (73 px for 64), its centred view
    (69 px at a view of 69/73) resized to the input size, normalized."""
    image = Image.effect_noise(size, 60).convert("RGB")
    side = square_side(64)
    reference = v2.Compose(
        [
            v2.ToImage(),
            v2.Resize(side, antialias=True),
            v2.CenterCrop(69),
            v2.ToDtype(torch.float32, scale=True),
            v2.Resize(64, antialias=False),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    spec = InputSpec(64, view=69 / side)
    np.testing.assert_allclose(PhotoPreparer(spec)(image)[0], reference(image).numpy(), atol=0.02)


@pytest.mark.parametrize("size", [(200, 200), (333, 171), (90, 400), (31, 40)])
def test_training_pipeline_eval_input_equals_the_predictors(size):
    """Squares + eval_batch (training, evaluate.py) and PhotoPreparer (predict, predict_onnx, the service) cannot
    drift apart."""
    image = Image.effect_noise(size, 60).convert("RGB")
    for view in (0.8, 0.95, 1.0):
        batch = eval_batch(squares_of([image], 64), 64, view)
        np.testing.assert_allclose(batch[0].numpy(), PhotoPreparer(InputSpec(64, view=view))(image)[0], atol=1e-5)


def test_augmentation_without_options_is_the_answers_view():
    squares = torch.randint(0, 256, (3, 3, 37, 37), dtype=torch.uint8)
    assert torch.equal(BatchAugmentation(32, 0.9)(squares, [1, 2, 3]), eval_batch(squares, 32, 0.9))
    flipped = BatchAugmentation(32, 0.9, hflip=1.0)(squares, [1, 2, 3])  # the view's geometry, mirrored
    torch.testing.assert_close(flipped, eval_batch(squares, 32, 0.9).flip(-1), atol=1e-4, rtol=0)


def test_the_answers_view_shows_the_centre_of_the_square_at_its_zoom():
    """A square with a bright centre of 0.8 of its side: a view of 0.8 is all bright, a whole view is not."""
    square = torch.zeros(1, 3, 50, 50, dtype=torch.uint8)
    square[..., 5:45, 5:45] = 255
    inside = eval_batch(square, 40, 0.8) * torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    assert inside.min() > 1 - max(IMAGENET_MEAN) - 0.01  # every pixel white (normalized)
    whole = eval_batch(square, 40, 1.0)
    assert whole[..., 0, 0].max() < 0 and whole[..., 20, 20].min() > 0  # the black border shows


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
    torch.testing.assert_close(plain, eval_batch(ramp, 40, 1.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(mirrored, plain.flip(-1), atol=1e-5, rtol=0)


def test_normalization_constants_match_torchvision_weights():
    from torchvision.models import ResNet50_Weights

    preset = ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert tuple(preset.mean) == IMAGENET_MEAN and tuple(preset.std) == IMAGENET_STD
