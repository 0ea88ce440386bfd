import pytest
import torch
from torchvision.models import ResNet50_Weights, resnet50

from age_lightning.model.backbone import WeightsUnavailableError, build_resnet50, cached_weights_path


def test_random_init_outputs_2048_features():
    model = build_resnet50(weights=None).eval()
    assert model(torch.zeros(1, 3, 32, 32)).shape == (1, 2048)


def test_offline_copy_in_torch_home_is_used():
    reference = resnet50(weights=None)
    torch.nn.init.constant_(reference.conv1.weight, 0.125)
    path = cached_weights_path(ResNet50_Weights.IMAGENET1K_V2)  # under the test's temporary TORCH_HOME
    path.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), path)
    model = build_resnet50("IMAGENET1K_V2", download=False)
    assert torch.all(model.conv1.weight == 0.125)


def test_missing_weights_are_refused_with_instructions():
    with pytest.raises(WeightsUnavailableError) as error:
        build_resnet50("IMAGENET1K_V1", download=False)
    message = str(error.value)
    assert "resnet50-0676ba61.pth" in message and "model.weights_path" in message and "model.weights=null" in message


def test_explicit_weights_file(tmp_path):
    path = tmp_path / "r50.pth"
    torch.save({"state_dict": resnet50(weights=None).state_dict()}, path)
    build_resnet50(weights=None, weights_path=str(path))
    with pytest.raises(WeightsUnavailableError, match="does not exist"):
        build_resnet50(weights_path=str(tmp_path / "nope.pth"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsUnavailableError, match="not a ResNet50 state dict"):
        build_resnet50(weights_path=str(tmp_path / "wrong.pth"))


def test_unknown_weights_name():
    with pytest.raises(WeightsUnavailableError, match="IMAGENET1K_V1, IMAGENET1K_V2"):
        build_resnet50("IMAGENET22K")
