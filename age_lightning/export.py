"""Export a checkpoint for deployment: `python -m age_lightning.export ckpt_path=... [output_dir=deploy/]`.

Writes model.onnx (dynamic batch; input: normalized images, output: age in years, de-normalized and clamped
inside the graph) and model.json with what a runtime needs (see `metadata`).
"""

import hashlib
import json
import logging
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig

import age_lightning
from age_lightning.constants import IMAGENET_MEAN, IMAGENET_STD, MAX_AGE, MIN_AGE
from age_lightning.errors import UserError
from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.inference import load_checkpoint
from age_lightning.preprocess import EVAL_CROP_RATIO

log = logging.getLogger(__name__)

FORMATS = ("onnx",)


class AgeInYears(torch.nn.Module):
    """The graph to export: images -> clamped age in years."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.model.predict_age(image)


def metadata(model, trained_data: dict, ckpt_path: str, model_file: str) -> dict:
    image_size = int(trained_data.get("image_size", 224))
    config = {"model": dict(model.hparams), "data": trained_data}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return {
        "format": "onnx", "model_file": model_file, "model_version": age_lightning.__version__,
        "training_config_hash": config_hash, "checkpoint": str(ckpt_path),
        "input": {"name": "image", "layout": "NCHW", "dtype": "float32", "size": image_size,
                  "resize_shorter_side": round(image_size / EVAL_CROP_RATIO), "crop": "center",
                  "interpolation": "bilinear", "scale": 1 / 255, "mean": list(IMAGENET_MEAN),
                  "std": list(IMAGENET_STD), "preprocessing": "age_lightning.preprocess.preprocess"},
        "output": {"name": "age", "unit": "years", "clamp": [MIN_AGE, MAX_AGE]},
        "target_denormalization": {"age_mean": float(model.age_mean), "age_std": float(model.age_std),
                                   "applied_in_graph": True},
        "id_check_age": float(model.hparams.get("id_check_age", 25)),
    }


def export_onnx(ckpt_path: str, output_dir: Path, opset: int = 18) -> Path:
    """Checkpoint -> output_dir/model.onnx + model.json."""
    model, trained_data = load_checkpoint(ckpt_path, device="cpu")
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "model.onnx"
    try:
        export_model(model, int(trained_data.get("image_size", 224)), path, opset)
    except Exception as error:
        raise UserError(f"could not export {ckpt_path} to ONNX: {str(error)[:500]}") from error
    path.with_suffix(".json").write_text(json.dumps(metadata(model, trained_data, ckpt_path, path.name), indent=2))
    return path


def export_model(model, image_size: int, path: Path, opset: int = 18) -> None:
    """The model's images -> years graph as ONNX with a dynamic batch dimension."""
    example = torch.zeros(2, 3, image_size, image_size)
    torch.onnx.export(AgeInYears(model.float()).eval(), (example,), str(path), input_names=["image"],
                      output_names=["age"], dynamic_shapes={"image": {0: torch.export.Dim("batch")}},
                      opset_version=opset, dynamo=True, external_data=False, verbose=False)


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    if cfg.format not in FORMATS:
        raise UserError(f"format={cfg.format} is not supported; use one of {FORMATS}")
    path = export_onnx(cfg.ckpt_path, Path(cfg.output_dir or cfg.paths.output_dir), cfg.opset)
    print(f"written: {path} and {path.with_suffix('.json')}")


if __name__ == "__main__":
    main()
