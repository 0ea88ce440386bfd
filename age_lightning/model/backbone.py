"""The ResNet50 backbone with ImageNet weights from torchvision's weights API, online or offline."""

import os
from pathlib import Path

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, resnet50

from age_lightning.errors import UserError


class WeightsUnavailableError(UserError, RuntimeError):
    """Pretrained weights were asked for but cannot be loaded; the message says how to provide them."""


def build_resnet50(
    weights: str | None = "IMAGENET1K_V2", weights_path: str | None = None, download: bool = True
) -> nn.Module:
    """ResNet50 whose `fc` is replaced by the identity; its `num_features` says how many features come out.

    weights: a torchvision ResNet50_Weights name (IMAGENET1K_V1, IMAGENET1K_V2) or None for random init.
      Loaded from the torch hub cache ($TORCH_HOME/hub/checkpoints) when present, else downloaded.
    weights_path: a local state-dict file; used instead of `weights` when given.
    download: False refuses to touch the network when the cache lacks the file.
    """
    model = resnet50(weights=None)
    if weights_path:
        _load_state_dict(model, Path(weights_path))
    elif weights:
        enum = _weights_enum(weights)
        cached = cached_weights_path(enum)
        if cached.is_file():
            _load_state_dict(model, cached)
        elif not download:
            raise WeightsUnavailableError(
                _how_to_provide(enum, "it is not in the torch hub cache and model.download=false")
            )
        else:
            try:
                model = resnet50(weights=enum, progress=True)
            except (OSError, RuntimeError) as error:  # URLError is an OSError
                raise WeightsUnavailableError(_how_to_provide(enum, f"download failed ({error})")) from None
    model.num_features = model.fc.in_features  # 2048 for ResNet50
    model.fc = nn.Identity()
    return model


def cached_weights_path(enum: ResNet50_Weights) -> Path:
    """Where torch.hub keeps (and looks for) the file of `enum`: $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(enum.url)


def _weights_enum(name: str) -> ResNet50_Weights:
    try:
        return ResNet50_Weights[name]
    except KeyError:
        valid = ", ".join(w.name for w in ResNet50_Weights)
        raise WeightsUnavailableError(
            f"unknown ResNet50 weights {name!r}; use one of {valid}, or null for random init"
        ) from None


def _load_state_dict(model: nn.Module, path: Path) -> None:
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} does not exist (model.weights_path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("state_dict", state)
        model.load_state_dict(state)
    except Exception as error:
        raise WeightsUnavailableError(
            f"{path} is not a ResNet50 state dict torchvision can load: {str(error)[:500]}"
        ) from None


def _how_to_provide(enum: ResNet50_Weights, why: str) -> str:
    cached = cached_weights_path(enum)
    return (
        f"ImageNet weights ResNet50_Weights.{enum.name} are not available: {why}.\n"
        f"Provide them in one of these ways:\n"
        f'  - on a machine with internet, run once: python -c "from torchvision.models import resnet50; '
        f"resnet50(weights='{enum.name}')\" and copy {cached.name} here;\n"
        f"  - put the file {enum.url} at {cached} (set TORCH_HOME to choose the cache folder);\n"
        f"  - or pass model.weights_path=/path/to/{cached.name};\n"
        f"  - or train from random init with model.weights=null (much less accurate)."
    )
