"""The service in process for the quick tests: a stand-in for the model (no ONNX file, no torch) and a TestClient
on the real app."""

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from age_lightning.calibration import Calibration
from age_lightning.deploy.app import create_app
from age_lightning.deploy.configs import ServeConfig
from age_lightning.deploy.model_file import ModelFile
from age_lightning.input_spec import InputSpec
from helpers.serving import jpeg
from helpers.store import model_file

ERROR_MODEL = model_file().error_model
JPEG = jpeg(Image.new("RGB", (64, 64), (120, 90, 60)))
CALIBRATION = Calibration(
    alpha=0.05, lower=-2.0, upper=2.0, max_pass=0.02, margin=2.0, point_threshold=21.0, photos=500, minors=120
)


class StandIn:
    """The model's place: every face is `age` years old with scale 2 (or the call raises `fails`); with
    age=None, each face's age follows its mean brightness (photos of different colours get different ages)."""

    def __init__(self, age: float | None = 30.0, fails: Exception | None = None):
        self.spec = InputSpec(32, calibration=CALIBRATION)
        self.file = ModelFile(self.spec, head="laplace", error_model=ERROR_MODEL)
        self.info = {"file": "stand-in.onnx", "version": None, "training_config_hash": None, "sha256": "0" * 16}
        self.info["head"] = "laplace"
        self.age, self.fails = age, fails

    def __call__(self, images: np.ndarray):
        if self.fails:
            raise self.fails
        ages = np.full(len(images), self.age) if self.age is not None else 40 + 20 * images.mean(axis=(1, 2, 3))
        return ages.astype(np.float32), np.full(len(images), 2.0, np.float32)


def client_for(model: StandIn, **options) -> TestClient:
    return TestClient(create_app(ServeConfig(model="stand-in.onnx", **options), load_model=lambda cfg: model))
