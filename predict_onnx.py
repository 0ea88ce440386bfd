"""Predict ages with an exported ONNX model, on a till or any box without torch, Lightning or Hydra:

    python predict_onnx.py model=deploy/model.onnx input=photo.jpg|folder/ [output=ages.csv] [faces=align|none]

Same CSV and summary as predict.py; preprocessing and the face step are the same code. Options: PredictOnnxConfig.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.options import parse_options
from age_lightning.deploy.predict_files import PhotoPreparer, input_files, predict_files, summary, write_csv
from age_lightning.errors import UserError
from age_lightning.faces import FacePolicy


@dataclass
class PredictOnnxConfig:
    model: str = MISSING              # model.onnx (or model_int8.onnx), with its .json beside it
    input: str = MISSING              # an image file or a folder (searched recursively)
    output: str = "predictions.csv"
    batch_size: int = 32
    id_rule: str | None = None        # point | interval (calibrated uncertain models); None: model.json's
    id_check_age: float | None = None  # the point rule asks below this age; None: model.json's
    faces: str | None = None          # none | align; None: the face policy the model was trained with
    threads: int = 0                  # onnxruntime threads; 0: all cores


def run(cfg: PredictOnnxConfig) -> list[dict]:
    model = OnnxAgeModel(cfg.model, cfg.threads)
    policy = FacePolicy.from_dict(model.metadata.get("faces"))
    if cfg.faces is not None:
        policy = FacePolicy.from_dict({**policy.to_dict(), "mode": cfg.faces})
    prepare = PhotoPreparer(model.image_size, policy)
    return predict_files(input_files(cfg.input), model, prepare, model.id_check(cfg.id_rule, cfg.id_check_age),
                         cfg.batch_size)


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = parse_options(PredictOnnxConfig, sys.argv[1:] if argv is None else argv)
        rows = run(cfg)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    write_csv(rows, Path(cfg.output))
    print(summary(rows))
    print(f"written: {cfg.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
