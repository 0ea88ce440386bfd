"""The export task: a checkpoint for deployment (export.py is its command).

Writes model.onnx (dynamic batch; input: normalized images; outputs: age in years, de-normalized and clamped
inside the graph, and for an uncertain head age_scale in years), model.json with what a runtime needs (`ModelFile`,
including the calibration that turns age and scale into bounds and the ID rule) and MODEL_CARD.md
(`evaluation.card`). With `int8=true calibration_dir=<photos>` also model_int8.onnx/.json: a static int8 copy
calibrated on those photos.
"""

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

import age_lightning
from age_lightning.deploy.model_file import ModelFile
from age_lightning.deploy.predict_files import input_files
from age_lightning.errors import UserError
from age_lightning.evaluation.card import card_figures, render_card
from age_lightning.input_spec import InputSpec, PhotoPreparer
from age_lightning.model.inference import checkpoint_spec, load_checkpoint

log = logging.getLogger(__name__)
CARD_FILE = "MODEL_CARD.md"


class AgeInYears(torch.nn.Module):
    """The graph to export: images -> clamped age in years (and its scale in years, for an uncertain head)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor):
        age, scale = self.model.predict(image)
        return age if scale is None else (age, scale)


def output_names(model) -> list[str]:
    return ["age", "age_scale"] if model.uncertain else ["age"]


def model_file(model, trained_data: dict, ckpt_path: str, model_file: str, card: dict | None = None) -> ModelFile:
    """model.json's content for a checkpoint's model (with the model card's figures, when it was evaluated)."""
    config = {"model": dict(model.hparams), "data": trained_data}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    return ModelFile(
        spec=checkpoint_spec(model, trained_data),
        model_file=model_file,
        head=model.hparams.get("head", "point"),
        mirror_averaged=bool(model.hparams.flip_average),
        age_mean=float(model.age_mean),
        age_std=float(model.age_std),
        model_version=age_lightning.__version__,
        training_config_hash=config_hash,
        checkpoint=str(ckpt_path),
        error_model=model.error_model,
        shift_reference=model.shift_reference,
        card=card,
    )


def export_onnx(ckpt_path: str, output_dir: Path, opset: int = 18, evaluation: str | None = None) -> Path:
    """Checkpoint -> output_dir/model.onnx + model.json + MODEL_CARD.md (its figures from `evaluation`, evaluate.py's
    output folder for this checkpoint; without one the card says the model was never evaluated)."""
    model, trained_data = load_checkpoint(ckpt_path, device="cpu")
    metrics = evaluation_metrics(evaluation, ckpt_path) if evaluation else None
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "model.onnx"
    found = model_file(model, trained_data, ckpt_path, path.name, card_figures(metrics))
    export_model(model, found.spec.image_size, path, opset)
    found.write(path.with_suffix(".json"))
    details = {"initial_weights": model.initial_weights, "data_root": trained_data.get("root")}
    (output_dir / CARD_FILE).write_text(render_card(found.to_dict(), details, found.card))
    return path


def evaluation_metrics(folder: str | Path, ckpt_path: str) -> dict:
    """metrics.json of evaluate.py's output `folder`, which must be of this checkpoint."""
    path = Path(folder) / "metrics.json"
    try:
        metrics = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UserError(
            f"evaluation={folder}: cannot read {path} ({error}); give evaluate.py's output folder"
        ) from None
    evaluated = metrics.get("checkpoint")
    if not evaluated or Path(evaluated).resolve() != Path(ckpt_path).resolve():
        raise UserError(
            f"evaluation={folder} evaluated checkpoint {evaluated}, not {ckpt_path}: the card must describe this "
            f"model (python evaluate.py ckpt_path={ckpt_path} split=test)"
        )
    return metrics


def export_model(model, image_size: int, path: Path, opset: int = 18) -> None:
    """The model's images -> years graph as ONNX with a dynamic batch dimension."""
    example = torch.zeros(2, 3, image_size, image_size)
    torch.onnx.export(
        AgeInYears(model.float()).eval(),
        (example,),
        str(path),
        input_names=["image"],
        output_names=output_names(model),
        dynamic_shapes={"image": {0: torch.export.Dim("batch")}},
        opset_version=opset,
        dynamo=True,
        external_data=False,
        verbose=False,
    )


def calibration_images(folder: str | Path, spec: InputSpec, count: int) -> list[np.ndarray]:
    """Up to `count` photos spread evenly over a folder, prepared as the predictors do (face step included;
    photos without a face are left out)."""
    files = [f for f in input_files(folder) if f.suffix.lower() in (".jpg", ".jpeg", ".png")]
    if not files:
        raise UserError(f"calibration_dir {folder} holds no .jpg/.jpeg/.png photos")
    chosen = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files))).astype(int)]
    prepare = PhotoPreparer(spec)
    arrays = [prepare(prepare.load(f))[0] for f in chosen]
    return [a for a in arrays if a is not None]


def quantize_int8(model_path: Path, calibration: list[np.ndarray], output: Path) -> Path:
    """Static int8 copy of an exported model: QDQ format, per-channel int8 weights, uint8 activations whose
    ranges are calibrated on `calibration` (preprocessed photos like the ones it will see). Writes its .json.

    The first convolution stays fp32: quantizing it (its input is the normalized image) cost 2.8 years of mean
    difference on real photos, against 0.5 without it, for little speed (docs/benchmarks.md). So does the tail
    after the head's matrix product (de-normalization, clamp, the scale's exp): a few scalar operations per photo,
    whose outputs are the graph's outputs.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Photos(CalibrationDataReader):
        def __init__(self):
            self.images = iter(calibration)

        def get_next(self):
            image = next(self.images, None)
            return None if image is None else {"image": image[None]}

    with tempfile.TemporaryDirectory() as folder:
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(model_path), str(prepared))
        nodes = onnx.load(str(prepared)).graph.node
        first_conv = next(node.name for node in nodes if node.op_type == "Conv")
        head = max(i for i, node in enumerate(nodes) if node.op_type in ("Gemm", "MatMul"))
        quantize_static(
            str(prepared),
            str(output),
            Photos(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=[first_conv, *(node.name for node in nodes[head + 1 :])],
        )
    kind = "static int8 (QDQ, per-channel weights; first conv and output tail fp32)"
    ModelFile.read(model_path.with_suffix(".json")).quantized(output.name, kind, len(calibration)).write(
        output.with_suffix(".json")
    )
    return output


def export(cfg: DictConfig) -> None:
    """model.onnx + model.json (and with int8=true the quantized copy) for predict_onnx.py and serve.py."""
    if cfg.int8 and not cfg.calibration_dir:
        raise UserError("int8=true needs calibration_dir=<a folder of photos like the ones to predict>")
    path = export_onnx(cfg.ckpt_path, Path(cfg.output_dir or cfg.paths.output_dir), cfg.opset, cfg.evaluation)
    print(f"written: {path}, {path.with_suffix('.json')} and {path.with_name(CARD_FILE)}")
    if cfg.int8:
        spec = ModelFile.read(path.with_suffix(".json")).spec
        calibration = calibration_images(cfg.calibration_dir, spec, cfg.calibration_photos)
        quantized = quantize_int8(path, calibration, path.with_name("model_int8.onnx"))
        print(f"written: {quantized} and {quantized.with_suffix('.json')}")
