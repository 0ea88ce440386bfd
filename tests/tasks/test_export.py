"""ONNX export and the torch-free predictor."""

import json
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from age_lightning.errors import UserError
from age_lightning.input_spec import InputSpec, PhotoPreparer
from age_lightning.model.inference import load_checkpoint
from age_lightning.tasks.export import calibration_images, export_onnx, quantize_int8
from helpers import ROOT, compose_config, run_command

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def exported(tiny_checkpoint, tmp_path_factory):
    return export_onnx(tiny_checkpoint["best_checkpoint"], tmp_path_factory.mktemp("deploy"))


def test_export_writes_model_and_metadata(exported, tiny_checkpoint):
    meta = json.loads(exported.with_suffix(".json").read_text())
    model, data = load_checkpoint(tiny_checkpoint["best_checkpoint"])
    assert meta["input"]["size"] == data["image_size"] == 32
    assert meta["target_denormalization"]["age_mean"] == pytest.approx(float(model.age_mean))
    assert meta["id_check_age"] == 25 and len(meta["training_config_hash"]) == 16
    assert meta["output"]["mirror_averaged_in_graph"] is True


def test_onnx_and_pytorch_predictions_agree(exported, tiny_checkpoint):
    from age_lightning.deploy.onnx_model import OnnxAgeModel

    model, data = load_checkpoint(tiny_checkpoint["best_checkpoint"])
    files = sorted((tiny_checkpoint["data_root"] / "final_files").glob("*.jpg"))[:16]
    prepare = PhotoPreparer(InputSpec(data["image_size"]))
    images = np.stack([prepare(Image.open(f).convert("RGB"))[0] for f in files])
    with torch.inference_mode():
        expected = model.predict_age(torch.from_numpy(images)).numpy()
    onnx_model = OnnxAgeModel(exported)
    np.testing.assert_allclose(onnx_model(images)[0], expected, atol=0.05)
    # the graph averages each photo with its mirror image (model.flip_average), as the checkpoint does
    np.testing.assert_allclose(onnx_model(np.ascontiguousarray(images[..., ::-1]))[0], expected, atol=0.05)


def test_static_int8_copy_is_close_to_fp32(exported, tiny_checkpoint):
    from age_lightning.deploy.onnx_model import OnnxAgeModel

    folder = tiny_checkpoint["data_root"] / "final_files"
    calibration = calibration_images(folder, InputSpec(32), count=16)
    quantized = quantize_int8(exported, calibration, exported.with_name("model_int8.onnx"))
    meta = json.loads(quantized.with_suffix(".json").read_text())
    assert meta["model_file"] == "model_int8.onnx" and meta["quantization"]["calibration_photos"] == 16
    images = np.stack(calibration_images(folder, InputSpec(32), count=48))
    fp32, int8 = OnnxAgeModel(exported)(images)[0], OnnxAgeModel(quantized)(images)[0]
    assert not np.allclose(fp32, int8, atol=1e-4)  # it really is another model
    assert np.abs(fp32 - int8).mean() < 0.1 * np.abs(fp32 - fp32.mean()).mean() + 0.5


def test_int8_export_needs_calibration_photos(tiny_checkpoint, tmp_path):
    checkpoint = tiny_checkpoint["best_checkpoint"]
    result = run_command(
        "export.py", f"ckpt_path={checkpoint}", "int8=true", f"paths.log_dir={tmp_path}/logs", cwd=tmp_path
    )
    assert result.returncode == 1 and "calibration_dir" in result.stderr and "Traceback" not in result.stderr


NO_TORCH_RUN = """
import runpy, sys
sys.argv = sys.argv[1:]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit as stop:
    code = stop.code
loaded = sorted(m for m in ("torch", "lightning", "hydra", "torchvision") if m in sys.modules)
assert not loaded, f"the torch-free predictor imported {loaded}"
sys.exit(code)
"""


def test_predict_onnx_runs_without_torch(exported, tiny_checkpoint, tmp_path):
    import subprocess

    folder = tiny_checkpoint["data_root"] / "final_files"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TORCH_RUN,
            str(ROOT / "predict_onnx.py"),
            f"model={exported}",
            f"input={folder}",
            f"output={tmp_path / 'ages.csv'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    table = pd.read_csv(tmp_path / "ages.csv")
    assert len(table) == 48 and (table["status"] == "ok").all() and "48 predicted" in result.stdout


def test_unexportable_checkpoint_gives_a_clear_error(tmp_path):
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    with pytest.raises(UserError, match="not a checkpoint this project can read"):
        export_onnx(str(tmp_path / "notes.ckpt"), tmp_path / "out")
    result = run_command(
        "export.py", f"ckpt_path={tmp_path / 'notes.ckpt'}", f"paths.log_dir={tmp_path}/logs", cwd=tmp_path
    )
    assert result.returncode == 1 and "not a checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_predict_onnx_options_are_typed(exported, tmp_path):
    result = run_command("predict_onnx.py", f"model={exported}", f"input={tmp_path}", "batch_size=many", cwd=tmp_path)
    assert result.returncode == 1 and "batch_size" in result.stderr and "Traceback" not in result.stderr
    result = run_command("predict_onnx.py", f"model={exported}", f"input={tmp_path}", "colour=red", cwd=tmp_path)
    assert result.returncode == 1 and "colour" in result.stderr and "Traceback" not in result.stderr


def test_export_writes_a_model_card_from_this_checkpoints_evaluation(
    tiny_uncertain_checkpoint, tiny_checkpoint, tmp_path
):
    from age_lightning.deploy.model_file import ModelFile
    from age_lightning.tasks.evaluate import evaluate

    checkpoint = tiny_uncertain_checkpoint["best_checkpoint"]
    overrides = [f"ckpt_path={checkpoint}", f"data.root={tiny_uncertain_checkpoint['data_root']}"]
    metrics = evaluate(compose_config("evaluate", [*overrides, f"paths.output_dir={tmp_path / 'evaluation'}"]))
    path = export_onnx(checkpoint, tmp_path / "deploy", evaluation=str(tmp_path / "evaluation"))

    figures = json.loads(path.with_suffix(".json").read_text())["card"]
    assert figures["mae"] == pytest.approx(metrics["mae"]) and figures["evaluated"]["n"] == metrics["n"]
    interval = metrics["uncertainty"]["calibrated_rules"]["interval"]
    assert figures["interval_rule"]["minors_pass_through"] == interval["minors_pass_through"]
    assert figures["accuracy"] == metrics["accuracy"] and ModelFile.read(path.with_suffix(".json")).card == figures
    card = (tmp_path / "deploy" / "MODEL_CARD.md").read_text()
    assert f"Overall MAE: **{metrics['mae']:.2f} years**" in card and "## The promise, in plain words" in card
    assert "What is missing" not in card and "a minor aged 0-17 passes unasked with probability at most 25.0%" in card

    with pytest.raises(UserError, match="evaluated checkpoint .* not .*: the card must describe this model"):
        export_onnx(tiny_checkpoint["best_checkpoint"], tmp_path / "other", evaluation=str(tmp_path / "evaluation"))
    with pytest.raises(UserError, match="cannot read"):
        export_onnx(checkpoint, tmp_path / "other", evaluation=str(tmp_path))


def test_an_uncalibrated_model_never_evaluated_gets_a_card_saying_so(exported):
    card = exported.with_name("MODEL_CARD.md").read_text()
    assert "**Never evaluated**" in card and "**Not calibrated**" in card and "Quantitative analyses" not in card
    assert json.loads(exported.with_suffix(".json").read_text())["card"] is None
