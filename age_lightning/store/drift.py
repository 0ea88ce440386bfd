"""The shift alarm replayed over a log of answers (drift.py): when and at which till the photos stopped looking like
the calibration photos. The same test as the service's (age_lightning.shift), photo after photo in the file's
order, one test martingale per till; read in batches, with each till's state a few numbers, so a year's log fits.

A predictions file from predict_onnx.py or predict.py, or a log with their columns, carries the statistics the
test needs (brightness, contrast, roughness, and the predicted age they are compared at); a file without a till
column is one till.
"""

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from age_lightning.errors import UserError
from age_lightning.shift import DELTA, STATISTICS, ShiftReference, TillShift
from age_lightning.store.answer_records import source
from age_lightning.store.sales_log import header, numbers, record_batches, text

LOOKS = (*STATISTICS, "predicted_age")  # what each row's p-value is computed from

ONE_TILL = "(all)"
CURVE_POINTS = 2000  # each till's evidence curve is kept at most this finely (for the chart)


@dataclass
class TillDrift:
    """One till's test, and its evidence curve thinned to at most CURVE_POINTS points."""

    state: TillShift = field(default_factory=TillShift)
    alarm_at: int | None = None
    curve: list[tuple[int, float]] = field(default_factory=list)
    stride: int = 1

    def observe(self, p: float, delta: float) -> None:
        if self.state.observe(p, delta):
            self.alarm_at = self.state.photos - 1
        if (self.state.photos - 1) % self.stride == 0:
            self.curve.append((self.state.photos - 1, self.state.evidence))
            if len(self.curve) > CURVE_POINTS:
                self.curve, self.stride = self.curve[::2], 2 * self.stride

    def to_dict(self, till: str) -> dict:
        return {
            "till": till,
            "photos": self.state.photos,
            "alarm": self.state.alarm,
            "alarm_at": self.alarm_at,
            "evidence": round(self.state.evidence, 4),
        }


def replay(
    path: str | Path,
    reference: ShiftReference,
    by: str = "till",
    delta: float = DELTA,
    seed: int = 0,
    on_problems: Callable[[list[tuple[int, str]]], object] = lambda rows: None,
) -> dict[str, TillDrift]:
    """Each till's test over the answered rows of a predictions file, in its order; rows without the statistics
    (no face, not an image) are left out, and malformed ones go to `on_problems` as (line, reason)."""
    path = source(path)
    columns = header(path, "predictions")
    missing = [name for name in LOOKS if name not in columns]
    if missing:
        raise UserError(
            f"{path} has no column {', '.join(missing)}: predict it again with this version (predict_onnx.py), "
            f"whose files carry how each face looks"
        )
    grouped = by in columns
    rng = np.random.default_rng(seed)
    tills: dict[str, TillDrift] = {}
    for first, batch in record_batches(path, [*LOOKS, *([by] if grouped else [])]):
        values, valid = zip(*(numbers(batch.column(name)) for name in LOOKS))
        present = np.column_stack(valid)
        usable = present.all(axis=1)
        on_problems(
            [
                (first + int(i), "a statistic or predicted_age is not a number")
                for i in np.flatnonzero(present.any(axis=1) & ~usable)
            ]
        )
        found = np.column_stack(values)[usable]
        p = reference.p_values(found[:, : len(STATISTICS)], found[:, len(STATISTICS)], rng)
        names = text(batch.column(by))[usable] if grouped else np.full(len(p), ONE_TILL)
        for till, value in zip(names.tolist(), p.tolist()):
            tills.setdefault(till or ONE_TILL, TillDrift()).observe(value, delta)
    if not tills:
        raise UserError(f"{path} has no row with the statistics (every row without a face?)")
    return dict(sorted(tills.items()))


def write_drift(tills: dict[str, TillDrift], delta: float, out: Path) -> list[str]:
    """drift.json (one entry per till), drift.csv (each till's evidence curve) and, with matplotlib, drift.png."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "drift.json").write_text(json.dumps([drift.to_dict(till) for till, drift in tills.items()], indent=2))
    with open(out / "drift.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["till", "photo", "evidence"])
        writer.writerows((till, n, round(value, 4)) for till, drift in tills.items() for n, value in drift.curve)
    written = ["drift.json", "drift.csv"]
    try:  # the chart needs matplotlib, which a till's install does not have
        from age_lightning.evaluation import plots
    except ImportError:
        return written
    plots.save(plots.shift_evidence({till: drift.curve for till, drift in tills.items()}, delta), out / "drift.png")
    return [*written, "drift.png"]
