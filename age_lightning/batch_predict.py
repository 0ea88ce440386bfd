"""Image or folder -> one CSV row per file, for any backend (PyTorch or ONNX Runtime). Needs no torch.

Files that are not images, or (with a face cropper) show no face, get a status instead of an age.
"""

import csv
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from age_lightning.constants import ID_CHECK_AGE, age_band
from age_lightning.errors import UserError
from age_lightning.images import load_rgb
from age_lightning.preprocess import preprocess

OK = "ok"
COLUMNS = ["file", "status", "predicted_age", "age_band", "asks_for_id"]


def input_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    raise UserError(f"input {path} is neither a file nor a folder")


def predict_files(files: list[Path], predict_batch: Callable[[np.ndarray], np.ndarray], image_size: int,
                  batch_size: int = 32, id_check_age: float = ID_CHECK_AGE, face_cropper=None,
                  progress: Callable = lambda items, **_: items) -> list[dict]:
    """predict_batch: float32 array (N, 3, size, size) from `preprocess` -> predicted ages in years (N,)."""
    rows, batch = [], []

    def flush():
        if batch:
            ages = predict_batch(np.stack([array for _, array in batch]))
            for (row, _), age in zip(batch, np.asarray(ages, dtype=float).tolist()):
                row.update(predicted_age=round(age, 1), age_band=age_band([age])[0], asks_for_id=age < id_check_age)
            batch.clear()

    for file in progress(files, description=f"Predicting {len(files)} file(s)"):
        row = {"file": str(file), "status": OK, "predicted_age": None, "age_band": None, "asks_for_id": None}
        rows.append(row)
        try:
            image = load_rgb(file)
        except UnidentifiedImageError:
            row["status"] = "not an image"
            continue
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            row["status"] = f"unreadable: {error}"
            continue
        if face_cropper is not None:
            image = face_cropper.crop(image)
            if image is None:
                row["status"] = "no face found"
                continue
        batch.append((row, preprocess(image, image_size)))
        if len(batch) == batch_size:
            flush()
    flush()
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def summary(rows: list[dict]) -> str:
    ok = [r for r in rows if r["status"] == OK]
    lines = [f"{len(rows)} file(s): {len(ok)} predicted, {len(rows) - len(ok)} without a prediction"]
    for status, count in Counter(r["status"] for r in rows if r["status"] != OK).most_common():
        lines.append(f"  {count} x {status}")
    if ok:
        ages = [r["predicted_age"] for r in ok]
        lines.append(f"predicted age: mean {np.mean(ages):.1f}, range {min(ages):.1f}-{max(ages):.1f}; "
                     f"{sum(r['asks_for_id'] for r in ok)} would be asked for ID")
    return "\n".join(lines)


def face_cropper_or_none(detect_faces: bool, margin: float):
    if not detect_faces:
        return None
    from age_lightning.faces import FaceCropper  # OpenCV is only needed for this option

    return FaceCropper(margin=margin)
