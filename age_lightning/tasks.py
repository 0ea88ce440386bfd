"""The smaller command tasks (predict, export, eda, sweep summary), as functions of a composed config; train,
evaluate and recalibrate live with their stages (model/training.py, evaluation/evaluate.py, evaluation/calibrate.py).
age_lightning/cli.py turns each into a Hydra command."""

import json
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import track

from age_lightning.ages import age_band
from age_lightning.calibration import IdCheck, default_rule
from age_lightning.deploy.predict_files import PhotoPreparer, input_files, predict_files, summary, write_csv
from age_lightning.errors import UserError
from age_lightning.evaluation import plots
from age_lightning.evaluation.inference import load_checkpoint
from age_lightning.evaluation.sweeps import write_sweep_summary
from age_lightning.faces import FacePolicy
from age_lightning.images import load_rgb
from age_lightning.model.export import calibration_images, export_onnx, quantize_int8
from age_lightning.preprocess import DEFAULT_IMAGE_SIZE


def predict(cfg: DictConfig) -> None:
    """A checkpoint's ages for an image or a folder: CSV + summary (predict_onnx.py does it without torch)."""
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)

    @torch.inference_mode()
    def predict_batch(images):
        ages, scales = model.predict(torch.from_numpy(images).to(model.device))
        return ages.float().cpu().numpy(), (None if scales is None else scales.float().cpu().numpy())

    policy = FacePolicy.from_dict(OmegaConf.to_container(cfg.faces) if cfg.get("faces") else trained_data.get("faces"))
    prepare = PhotoPreparer(trained_data.get("image_size", DEFAULT_IMAGE_SIZE), policy)
    id_check = IdCheck(cfg.id_rule or default_rule(model.calibration),
                       cfg.id_check_age or model.hparams.id_check_age, model.calibration)
    rows = predict_files(input_files(cfg.input), predict_batch, prepare, id_check, cfg.batch_size, progress=track)
    output = Path(cfg.output or Path(cfg.paths.output_dir) / "predictions.csv")
    write_csv(rows, output)
    print(summary(rows))
    print(f"written: {output}")


def export(cfg: DictConfig) -> None:
    """model.onnx + model.json (and with int8=true the quantized copy) for predict_onnx.py and serve.py."""
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


def eda(cfg: DictConfig) -> None:
    """A first look at a labeled folder: age_histogram.png, samples.png, age_summary.csv."""
    datamodule = hydra.utils.instantiate(cfg.data)
    table = datamodule.load_table()
    out = Path(cfg.paths.output_dir)
    plots.save(plots.age_histogram(table["age"], f"Ages in {cfg.data.root}"), out / "age_histogram.png")
    chosen = table.sample(min(cfg.num_samples, len(table)), random_state=cfg.seed).sort_values("age")
    images = [np.asarray(load_rgb(path).resize((128, 128))) for path in chosen["path"]]
    plots.save(plots.image_grid(images, [f"{age:g}" for age in chosen["age"]], suptitle="sample photos (real age)"),
               out / "samples.png")
    summary_table = table.groupby(age_band(table["age"]), observed=False)["age"].agg(["count", "mean"])
    summary_table.rename_axis("age_band").to_csv(out / "age_summary.csv", float_format="%.1f")
    print(summary_table.to_string())
    print(f"{len(table)} photos, ages {table['age'].min():g}-{table['age'].max():g} (mean {table['age'].mean():.1f});"
          f" plots in {out}")


def sweep_summary(cfg: DictConfig) -> None:
    """Rebuild a multirun's sweep_summary.csv / .md and val_mae_curves.png."""
    if not Path(cfg.sweep_dir).is_dir():
        raise UserError(f"sweep_dir {cfg.sweep_dir} is not a folder")
    write_sweep_summary(Path(cfg.sweep_dir))
