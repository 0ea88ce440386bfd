"""Predictions CSV (from predict.py, predict_onnx.py, a till's log) -> corrected age-group shares per group, as
a CSV and a markdown table. Needs no torch and no pandas."""

import csv
import math
from pathlib import Path

import numpy as np

from age_lightning.deploy.model_file import ModelFile
from age_lightning.errors import UserError
from age_lightning.formatting import markdown_table, pct
from age_lightning.shares import BANDS, BandShares, ErrorModel, estimate_shares

OK = "ok"
EMPTY_GROUP = "(empty)"


def read_error_model(model_json: str | Path) -> ErrorModel:
    """The error model in an exported model.json (a clear error when it is missing)."""
    path = Path(model_json)
    error_model = ModelFile.read(path).error_model
    if error_model is None:
        raise UserError(
            f"{path} has no error model (exported before shares existed, or never calibrated): run "
            f"python recalibrate.py ckpt_path=<its checkpoint> data.root=<labeled photos it never "
            f"trained on>, then python export.py again"
        )
    return error_model


def read_predictions(path: str | Path, by: list[str]) -> tuple[dict[tuple, tuple], int]:
    """Rows of a predictions CSV grouped by the `by` columns: {group values: (ages, scales or None)}, and how many
    rows had no prediction (status other than ok). Errors name the file, line and column."""
    path = Path(path)
    try:
        handle = open(path, newline="")
    except OSError as error:
        raise UserError(f"predictions={path}: cannot read it ({error.strerror})") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in ["predicted_age", *by] if c not in columns]
        if missing:
            raise UserError(
                f"{path} has no column {', '.join(map(repr, missing))} (its columns: {', '.join(columns) or 'none'})"
            )
        has_scale = "age_scale" in columns
        groups: dict[tuple, tuple[list, list]] = {}
        skipped = 0
        for line, row in enumerate(reader, start=2):
            if row.get("status", OK) not in (OK, ""):
                skipped += 1
                continue
            age = _number(row["predicted_age"], path, line, "predicted_age")
            scale = _number(row["age_scale"], path, line, "age_scale") if has_scale and row["age_scale"] else None
            key = tuple(row[c].strip() or EMPTY_GROUP for c in by)
            ages, scales = groups.setdefault(key, ([], []))
            ages.append(age)
            scales.append(scale)
    if not groups:
        raise UserError(f"{path} holds no predictions (rows with status ok and a predicted_age)")
    return {
        key: (np.array(ages), None if any(s is None for s in scales) else np.array(scales))
        for key, (ages, scales) in sorted(groups.items())
    }, skipped


def _number(text: str, path: Path, line: int, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise UserError(f"{path}, line {line}: {column} {text!r} is not a number")
    return value


def group_shares(groups: dict[tuple, tuple], error_model: ErrorModel, **options) -> list[tuple[tuple, BandShares]]:
    return [(key, estimate_shares(error_model, ages, scales, **options)) for key, (ages, scales) in groups.items()]


def write_shares_csv(results: list[tuple[tuple, BandShares]], by: list[str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*by, "photos", "band", "counted", "share", "low", "high", "method", "note"])
        for key, shares in results:
            for i, band in enumerate(BANDS):
                writer.writerow(
                    [
                        *key,
                        shares.photos,
                        band,
                        f"{shares.naive[i]:.4f}",
                        f"{shares.share[i]:.4f}",
                        f"{shares.low[i]:.4f}",
                        f"{shares.high[i]:.4f}",
                        shares.method,
                        shares.note,
                    ]
                )


def shares_markdown(results: list[tuple[tuple, BandShares]], by: list[str]) -> str:
    """One table row per group: corrected share [interval] of every band, and the photos it rests on."""
    first = results[0][1]
    rows = [
        [
            *(key or ("all",)),
            f"{s.photos}" + (" (too few)" if s.too_few else ""),
            *(
                f"{pct(s.share[i], 0)} [{pct(s.low[i], 0)[:-1]}-{pct(s.high[i], 0)}] ({pct(s.naive[i], 0)})"
                for i in range(len(BANDS))
            ),
        ]
        for key, s in results
    ]
    lines = [
        f"Corrected age-band shares ({first.method}; {first.level:.0%} intervals; counted shares in parentheses)",
        "",
        *markdown_table([*(by or ["group"]), "photos", *BANDS], rows),
    ]
    notes = [f"- {', '.join(key) or 'all'}: {s.note}" for key, s in results if s.note]
    return "\n".join(lines + ([""] + notes if notes else [])) + "\n"
