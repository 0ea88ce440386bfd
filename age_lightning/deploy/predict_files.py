"""Image or folder -> one CSV row per file, for any backend (PyTorch or ONNX Runtime). Needs no torch.

Files that are not images, or (under the face policy `align`) show no face, get a status instead of an age.
"""

import csv
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from age_lightning.ages import age_band
from age_lightning.errors import UserError
from age_lightning.faces import NO_FACE, RECORD_COLUMNS
from age_lightning.id_rules import IdCheck
from age_lightning.input_spec import PhotoPreparer
from age_lightning.minor_probability import MinorProbability
from age_lightning.shift import STATISTICS, photo_statistics

OK = "ok"
COLUMNS = [
    "file",
    "status",
    "predicted_age",
    "age_scale",
    "age_low",
    "age_high",
    "age_band",
    "asks_for_id",
    "p_minor",
    "p_under_25",
    *RECORD_COLUMNS,
    *STATISTICS,  # how the face looks, for the shift alarm (drift.py replays a file of them)
]
# A predictor: float32 images (N, 3, size, size) from `input_spec.PhotoPreparer` -> ages in years (N,) and their
# scales (N,), or None for a model without an uncertain head.
PredictBatch = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def input_files(path: str | Path) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
    raise UserError(f"input {path} is neither a file nor a folder")


def answers(ages, scales, id_check: IdCheck, minor: MinorProbability | None = None) -> list[dict]:
    """Per prediction: the age, its scale and calibrated bounds (None without them), band, whether to ask for
    ID, and the probabilities of a buyer under 18 and under 25 (None without an error model). (Age and scale are
    what shares.py needs to estimate age-group shares later.)"""
    ages = np.asarray(ages, dtype=float)
    missing = [None] * len(ages)
    bounds = id_check.bounds(ages, scales)
    low, high = bounds if bounds is not None else (missing, missing)
    asks = id_check.asks_for_id(ages, scales)
    p_minor, p_under_25 = minor.of(ages) if minor else (missing, missing)
    return [
        {
            "predicted_age": round(age, 1),
            "age_scale": _rounded(scale, 2),
            "age_low": _rounded(lo, 1),
            "age_high": _rounded(hi, 1),
            "age_band": band,
            "asks_for_id": bool(ask),
            "p_minor": _rounded(minor_, 4),
            "p_under_25": _rounded(under_25, 4),
        }
        for age, scale, lo, hi, band, ask, minor_, under_25 in zip(
            ages.tolist(), missing if scales is None else scales, low, high, age_band(ages), asks, p_minor, p_under_25
        )
    ]


def _rounded(value, digits: int) -> float | None:
    return None if value is None else round(float(value), digits)


def predict_files(
    files: list[Path],
    predict_batch: PredictBatch,
    prepare: PhotoPreparer,
    batch_size: int = 32,
    progress: Callable = lambda items, **_: items,
    minor: MinorProbability | None = None,
) -> list[dict]:
    """One row per file: its input and ID rule come from `prepare`'s input spec; p_minor from `minor`."""
    rows: list[dict] = []
    batch: list[tuple[dict, np.ndarray]] = []
    id_check = prepare.spec.id_check

    def flush():
        if batch:
            inputs = np.stack([array for _, array in batch])
            ages, scales = predict_batch(inputs)
            looks = photo_statistics(inputs).round(5).tolist()
            for (row, _), answer, values in zip(batch, answers(ages, scales, id_check, minor), looks):
                row.update(answer, **dict(zip(STATISTICS, values)))
            batch.clear()

    for file in progress(files, description=f"Predicting {len(files)} file(s)"):
        row = {column: None for column in COLUMNS} | {"file": str(file), "status": OK}
        rows.append(row)
        try:
            image = prepare.load(file)
        except UnidentifiedImageError:
            row["status"] = "not an image"
            continue
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            row["status"] = f"unreadable: {error}"
            continue
        array, face = prepare(image)
        row.update(face)
        if array is None:
            row["status"] = NO_FACE
            continue
        batch.append((row, array))
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
        lines.append(
            f"predicted age: mean {np.mean(ages):.1f}, range {min(ages):.1f}-{max(ages):.1f}; "
            f"{sum(r['asks_for_id'] for r in ok)} would be asked for ID"
        )
    return "\n".join(lines)
