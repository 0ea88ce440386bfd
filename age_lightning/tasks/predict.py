"""The predict task: a checkpoint's ages for an image or a folder (predict_onnx.py does the same without torch)."""

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import track

from age_lightning.deploy.predict_files import input_files, predict_files, summary, write_csv
from age_lightning.input_spec import PhotoPreparer
from age_lightning.minor_probability import MinorProbability
from age_lightning.model.inference import checkpoint_spec, load_checkpoint


def predict(cfg: DictConfig) -> None:
    """A checkpoint's ages for an image or a folder: CSV + summary (predict_onnx.py does it without torch)."""
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)

    @torch.inference_mode()
    def predict_batch(images):
        ages, scales = model.predict(torch.from_numpy(images).to(model.device))
        return ages.float().cpu().numpy(), (None if scales is None else scales.float().cpu().numpy())

    faces = OmegaConf.to_container(cfg.faces) if cfg.get("faces") else None
    spec = checkpoint_spec(model, trained_data).override(faces, cfg.id_rule, cfg.id_check_age)
    minor = MinorProbability.for_answers(model.error_model)
    rows = predict_files(
        input_files(cfg.input), predict_batch, PhotoPreparer(spec), cfg.batch_size, progress=track, minor=minor
    )
    output = Path(cfg.output or Path(cfg.paths.output_dir) / "predictions.csv")
    write_csv(rows, output)
    print(summary(rows))
    print(f"written: {output}")
