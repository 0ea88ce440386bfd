"""Predict the age of new photos with a checkpoint: `python -m age_lightning.predict ckpt_path=... input=PATH`.

PATH is an image or a folder. Writes a CSV (file, status, predicted_age, age_band, asks_for_id) and prints
a summary. See age_lightning/serve.py for the same command on an exported ONNX model, without torch.
"""

from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from rich.progress import track

from age_lightning.batch_predict import face_cropper_or_none, input_files, predict_files, summary, write_csv
from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.inference import load_checkpoint


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)

    @torch.inference_mode()
    def predict_batch(images):
        return model.predict_age(torch.from_numpy(images).to(model.device)).float().cpu().numpy()

    rows = predict_files(input_files(cfg.input), predict_batch, trained_data.get("image_size", 224), cfg.batch_size,
                         cfg.id_check_age, face_cropper_or_none(cfg.detect_faces, cfg.face_margin), progress=track)
    output = Path(cfg.output or Path(cfg.paths.output_dir) / "predictions.csv")
    write_csv(rows, output)
    print(summary(rows))
    print(f"written: {output}")


if __name__ == "__main__":
    main()
