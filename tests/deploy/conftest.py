"""The service's slow tests share the tiny model, exported as a store would deploy it."""

import json

import pytest


@pytest.fixture(scope="module")
def deployed(tiny_uncertain_checkpoint, tmp_path_factory):
    """The tiny calibrated model, exported, with model.json's face policy set to align (the demo data it was
    trained on has no real faces), so the service runs the face step as a store's model would."""
    from age_lightning.tasks.export import export_onnx

    model = export_onnx(tiny_uncertain_checkpoint["best_checkpoint"], tmp_path_factory.mktemp("deploy"))
    meta = json.loads(model.with_suffix(".json").read_text())
    meta["faces"]["mode"] = "align"
    model.with_suffix(".json").write_text(json.dumps(meta))
    return model
