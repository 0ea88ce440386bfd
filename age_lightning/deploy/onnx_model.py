"""An exported ONNX model and its metadata (model.json beside model.onnx); needs only onnxruntime and numpy."""

import json
from pathlib import Path

import numpy as np

from age_lightning.errors import UserError
from age_lightning.input_spec import InputSpec


class OnnxAgeModel:
    def __init__(self, path: str | Path, threads: int = 0):
        """threads: onnxruntime intra-op threads (0: onnxruntime's choice, all cores)."""
        import onnxruntime as ort

        path = Path(path)
        metadata = path.with_suffix(".json")
        if not path.is_file() or not metadata.is_file():
            raise UserError(f"need {path} and {metadata} (written by python export.py)")
        self.metadata = json.loads(metadata.read_text())
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.spec = InputSpec.from_metadata(self.metadata)

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """float32 (N, 3, size, size) from input_spec.PhotoPreparer -> ages in years (N,) and their scales in years
        (N,; None when the model has no uncertain head)."""
        outputs = self.session.run(None, {self.input_name: images.astype(np.float32, copy=False)})
        return outputs[0], (outputs[1] if len(outputs) > 1 else None)
