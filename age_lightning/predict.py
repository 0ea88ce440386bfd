"""Predict the age of new photos: `python -m age_lightning.predict ckpt_path=... input=PATH`.

PATH is an image or a folder. Writes a CSV (file, status, predicted_age, age_band, asks_for_id) and prints
a summary. Files that are not images, or (with detect_faces=true) have no face, get a status instead of an age.
"""

import logging
from pathlib import Path

import hydra
import pandas as pd
import torch
from omegaconf import DictConfig
from PIL import Image, UnidentifiedImageError
from rich.progress import track

from age_lightning.constants import age_band
from age_lightning.errors import UserError
from age_lightning.hydra_utils import exit_on_user_error
from age_lightning.images import load_rgb
from age_lightning.inference import load_checkpoint
from age_lightning.transforms import eval_transform

log = logging.getLogger(__name__)

OK = "ok"


def input_files(path: str) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    raise UserError(f"input {path} is neither a file nor a folder")


def predict_files(files: list[Path], model, image_size: int, batch_size: int = 32, id_check_age: float = 25,
                  face_cropper=None) -> pd.DataFrame:
    """One row per file: status "ok" with the predicted age, or the reason there is none."""
    transform = eval_transform(image_size)
    rows, batch = [], []

    def flush():
        if batch:
            images = torch.stack([tensor for _, tensor in batch]).to(model.device)
            for (row, _), age in zip(batch, model.predict_age(images).cpu().tolist()):
                row.update(predicted_age=round(age, 1), asks_for_id=age < id_check_age)
            batch.clear()

    for file in track(files, description=f"Predicting {len(files)} file(s)"):
        row = {"file": str(file), "status": OK, "predicted_age": None, "asks_for_id": None}
        rows.append(row)
        try:
            image = load_rgb(file)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            row["status"] = "not an image" if isinstance(error, UnidentifiedImageError) else f"unreadable: {error}"
            continue
        if face_cropper is not None:
            image = face_cropper.crop(image)
            if image is None:
                row["status"] = "no face found"
                continue
        batch.append((row, transform(image)))
        if len(batch) == batch_size:
            flush()
    flush()
    table = pd.DataFrame(rows, columns=["file", "status", "predicted_age", "asks_for_id"])
    table.insert(3, "age_band", age_band(table["predicted_age"].astype(float)).astype(object))
    return table


def summary(table: pd.DataFrame) -> str:
    ok = table[table["status"] == OK]
    lines = [f"{len(table)} file(s): {len(ok)} predicted, {len(table) - len(ok)} without a prediction"]
    for status, count in table.loc[table["status"] != OK, "status"].value_counts().items():
        lines.append(f"  {count} x {status}")
    if len(ok):
        lines.append(f"predicted age: mean {ok['predicted_age'].mean():.1f}, "
                     f"range {ok['predicted_age'].min():.1f}-{ok['predicted_age'].max():.1f}; "
                     f"{int(ok['asks_for_id'].sum())} would be asked for ID")
    return "\n".join(lines)


@hydra.main(version_base="1.3", config_path="../conf", config_name="predict")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    model, trained_data = load_checkpoint(cfg.ckpt_path, cfg.device)
    cropper = None
    if cfg.detect_faces:
        from age_lightning.faces import FaceCropper

        cropper = FaceCropper(margin=cfg.face_margin)
    table = predict_files(input_files(cfg.input), model, trained_data.get("image_size", 224), cfg.batch_size,
                          cfg.id_check_age, cropper)
    output = Path(cfg.output or Path(cfg.paths.output_dir) / "predictions.csv")
    output.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(output, index=False)
    print(summary(table))
    print(f"written: {output}")


if __name__ == "__main__":
    main()
