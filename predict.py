"""Predict the age of new photos with a checkpoint: `python predict.py ckpt_path=... input=PATH`.

PATH is an image or a folder. Writes a CSV (file, status, predicted_age, age_low/age_high for a calibrated
uncertain model, age_band, asks_for_id and what the face step found) and prints a summary. predict_onnx.py
does the same with an exported model, without torch.
"""

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig, OmegaConf
from rich.progress import track

from age_lightning.calibration import IdCheck, default_rule
from age_lightning.deploy.predict_files import PhotoPreparer, input_files, predict_files, summary, write_csv
from age_lightning.evaluation.inference import load_checkpoint
from age_lightning.faces import FacePolicy
from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.preprocess import DEFAULT_IMAGE_SIZE


@hydra.main(version_base="1.3", config_path="conf", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
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


if __name__ == "__main__":
    main()
