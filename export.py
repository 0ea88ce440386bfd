"""Export a checkpoint for deployment: `python export.py ckpt_path=... [output_dir=deploy/] [int8=true ...]`.

Writes model.onnx + model.json (and with int8=true model_int8.onnx + .json) for predict_onnx.py.
"""

import json
from pathlib import Path

import hydra
from omegaconf import DictConfig

from age_lightning.errors import UserError
from age_lightning.faces import FacePolicy
from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.model.export import calibration_images, export_onnx, quantize_int8


@hydra.main(version_base="1.3", config_path="conf", config_name="export")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    if cfg.int8 and not cfg.calibration_dir:
        raise UserError("int8=true needs calibration_dir=<a folder of photos like the ones to predict>")
    path = export_onnx(cfg.ckpt_path, Path(cfg.output_dir or cfg.paths.output_dir), cfg.opset)
    print(f"written: {path} and {path.with_suffix('.json')}")
    if cfg.int8:
        metadata = json.loads(path.with_suffix(".json").read_text())
        calibration = calibration_images(cfg.calibration_dir, metadata["input"]["size"], cfg.calibration_photos,
                                         FacePolicy.from_dict(metadata["faces"]))
        quantized = quantize_int8(path, calibration, path.with_name("model_int8.onnx"))
        print(f"written: {quantized} and {quantized.with_suffix('.json')}")


if __name__ == "__main__":
    main()
