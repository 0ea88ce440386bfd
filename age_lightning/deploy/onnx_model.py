"""An exported ONNX model and its model.json beside it (`model_file.ModelFile`); needs only onnxruntime and numpy."""

import hashlib
from pathlib import Path

import numpy as np

from age_lightning.deploy.model_file import ModelFile
from age_lightning.errors import UserError


class OnnxAgeModel:
    def __init__(self, path: str | Path, threads: int = 0):
        """threads: onnxruntime intra-op threads (0: onnxruntime's choice, all cores)."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file() or not path.with_suffix(".json").is_file():
            raise UserError(f"need {path} and {path.with_suffix('.json')} (written by python export.py)")
        self.file = ModelFile.read(path.with_suffix(".json"))
        self.spec = self.file.spec
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.info = {
            "file": path.name,
            "version": self.file.model_version,
            "training_config_hash": self.file.training_config_hash,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
            "head": self.file.head,
        }

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 (N, 3, size, size) from input_spec.PhotoPreparer -> ages in years (N,) and their scales in years
        (N,; None when the model has no uncertain head)."""
        outputs = self.session.run(None, {self.input_name: images.astype(np.float32, copy=False)})
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)
