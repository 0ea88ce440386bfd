"""Predict ages with an exported ONNX model; needs only onnxruntime, numpy and Pillow (no torch, Lightning, Hydra).

    python -m age_lightning.serve model=deploy/model.onnx input=photo.jpg|folder/ [output=ages.csv]
        [batch_size=32] [id_check_age=25] [detect_faces=false] [face_margin=0.4] [threads=0]

Same CSV and summary as `python -m age_lightning.predict`; preprocessing is the same code (preprocess.py).
"""

import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from age_lightning.batch_predict import face_cropper_or_none, input_files, predict_files, summary, write_csv
from age_lightning.errors import UserError

DEFAULTS = {"model": None, "input": None, "output": "predictions.csv", "batch_size": "32", "id_check_age": None,
            "detect_faces": "false", "face_margin": "0.4", "threads": "0"}


class OnnxAgeModel:
    """An exported model and its metadata (model.json beside model.onnx)."""

    def __init__(self, path: str | Path, threads: int = 0):
        path = Path(path)
        metadata = path.with_suffix(".json")
        if not path.is_file() or not metadata.is_file():
            raise UserError(f"need {path} and {metadata} (written by python -m age_lightning.export)")
        self.metadata = json.loads(metadata.read_text())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.image_size = int(self.metadata["input"]["size"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        """float32 (N, 3, size, size) from preprocess.preprocess -> ages in years (N,)."""
        return self.session.run(None, {self.input_name: images.astype(np.float32, copy=False)})[0]


def parse_arguments(argv: list[str]) -> dict:
    options = dict(DEFAULTS)
    for argument in argv:
        key, sep, value = argument.partition("=")
        if not sep or key not in DEFAULTS:
            raise UserError(f"unknown argument {argument!r}; use key=value with keys {', '.join(DEFAULTS)}")
        options[key] = value
    for required in ("model", "input"):
        if not options[required]:
            raise UserError(f"missing {required}=...")
    return options


def main(argv: list[str] | None = None) -> int:
    try:
        options = parse_arguments(sys.argv[1:] if argv is None else argv)
        model = OnnxAgeModel(options["model"], int(options["threads"]))
        id_check_age = float(options["id_check_age"] or model.metadata["id_check_age"])
        cropper = face_cropper_or_none(options["detect_faces"].lower() == "true", float(options["face_margin"]))
        rows = predict_files(input_files(options["input"]), model, model.image_size, int(options["batch_size"]),
                             id_check_age, cropper)
    except UserError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    write_csv(rows, Path(options["output"]))
    print(summary(rows))
    print(f"written: {options['output']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
