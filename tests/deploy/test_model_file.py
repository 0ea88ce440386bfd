"""model.json: one schema, written and read in one place; files of the previous version still load, newer ones are
refused with a message."""

import json

import pytest

from age_lightning.calibration import Calibration
from age_lightning.deploy.model_file import SCHEMA_VERSION, ModelFile
from age_lightning.errors import UserError
from age_lightning.faces import FacePolicy
from age_lightning.input_spec import InputSpec
from age_lightning.shares import ErrorModel

CALIBRATION = Calibration(
    alpha=0.05, lower=-2.0, upper=2.5, max_pass=0.02, margin=2.3, point_threshold=21.0, photos=500, minors=120
)
# A model.json as export.py wrote it before schema_version existed (version 1), trimmed to the keys it had.
VERSION_1 = {
    "format": "onnx",
    "model_file": "model.onnx",
    "model_version": "0.9.0",
    "training_config_hash": "abc",
    "checkpoint": "best.ckpt",
    "output": {"name": "age", "unit": "years", "clamp": [0, 120], "scale": "age_scale", "head": "laplace"},
    "target_denormalization": {"age_mean": 33.0, "age_std": 19.0, "applied_in_graph": True},
    "input": {"name": "image", "size": 64, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]},
    "faces": {"mode": "align"},
    "id_check_age": 25,
    "id_rule": "interval",
    "calibration": CALIBRATION.to_dict(),
}


def test_a_written_file_reads_back_the_same(tmp_path):
    spec = InputSpec(80, FacePolicy(mode="align", face_scale=0.9), view=0.9, id_check_age=21.0, calibration=CALIBRATION)
    written = ModelFile(
        spec,
        head="laplace",
        mirror_averaged=True,
        age_mean=30.0,
        age_std=20.0,
        model_version="1.0",
        error_model=ErrorModel.fit([10, 20, 30, 40] * 10, [12, 19, 33, 41] * 10),
    )
    path = written.write(tmp_path / "model.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION and data["input"]["size"] == 80 and data["id_rule"] == "interval"
    read = ModelFile.read(path)
    assert read.spec == spec.override(id_rule="interval")  # the rule in force is written out
    assert read.head == "laplace" and read.uncertain and read.mirror_averaged and read.age_mean == 30.0
    assert read.error_model is not None and read.error_model.photos == 40


def test_a_file_of_the_previous_version_still_loads(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(VERSION_1))
    read = ModelFile.read(path)
    assert read.spec.image_size == 64 and read.spec.faces.mode == "align" and read.spec.view == 0.95
    assert read.spec.calibration == CALIBRATION and read.spec.id_check.rule == "interval"
    assert read.head == "laplace" and not read.mirror_averaged and read.error_model is None


def test_a_newer_file_is_refused_with_the_version_to_install(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(json.dumps({**VERSION_1, "schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(UserError, match=f"schema_version {SCHEMA_VERSION + 1}, newer than .*up to {SCHEMA_VERSION}"):
        ModelFile.read(path)


@pytest.mark.parametrize(
    "content, message",
    [("{not json", "cannot read it as model.json"), ("[1, 2]", "not a model.json"), ('{"faces": {}}', "'input'")],
)
def test_a_broken_file_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "model.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        ModelFile.read(path)
