import torch
from PIL import Image

from age_lightning.constants import IMAGENET_MEAN, IMAGENET_STD
from age_lightning.transforms import eval_transform, train_transform


def test_eval_transform_is_deterministic_normalized_square():
    image = Image.new("RGB", (60, 40), tuple(round(255 * m) for m in IMAGENET_MEAN))
    first, second = eval_transform(32)(image), eval_transform(32)(image)
    assert first.shape == (3, 32, 32) and first.dtype == torch.float32
    assert torch.equal(first, second)
    assert first.abs().max() < 0.02  # the ImageNet mean colour normalizes to ~0


def test_train_transform_without_options_equals_eval():
    image = Image.effect_noise((50, 50), 40).convert("RGB")
    assert torch.equal(train_transform(32)(image), eval_transform(32)(image))


def test_strong_augmentation_varies_and_keeps_shape():
    torch.manual_seed(0)
    image = Image.effect_noise((80, 70), 60).convert("RGB")
    augment = train_transform(48, crop_scale=(0.6, 1.0), hflip=0.5, rotation=15, color_jitter=0.3)
    outputs = [augment(image) for _ in range(4)]
    assert all(o.shape == (3, 48, 48) for o in outputs)
    assert not torch.equal(outputs[0], outputs[1])


def test_normalization_constants_match_torchvision_weights():
    from torchvision.models import ResNet50_Weights

    preset = ResNet50_Weights.IMAGENET1K_V2.transforms()
    assert tuple(preset.mean) == IMAGENET_MEAN and tuple(preset.std) == IMAGENET_STD
