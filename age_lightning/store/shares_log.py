"""A predictions file (predict_onnx.py's CSV, or a store's log of sales with answers, as CSV or Parquet) reduced to
counts per group and half-year cell of the predicted age, in one pass and bounded memory: a chain's year of
sales becomes a (groups x cells) table of integers, which is all that shares and lift need.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from age_lightning.deploy.predict_files import OK
from age_lightning.errors import UserError
from age_lightning.shares import CELLS, Cells, cell_index
from age_lightning.store.answer_records import source
from age_lightning.store.sales_log import header, numbers, record_batches, text
from age_lightning.store.tally import Names

EMPTY_GROUP = "(empty)"


@dataclass
class GroupCounts:
    """Each group's predictions counted per cell, the rows left out without a prediction (status other than ok),
    and how many rows could not be read."""

    keys: list[tuple]
    cells: Cells
    skipped: int
    problems: int

    @property
    def rows(self) -> int:
        return int(self.cells.counts.sum())


def read_groups(
    path: str | Path, by: list[str], on_problems: Callable[[list[tuple[int, str]]], object] = lambda rows: None
) -> GroupCounts:
    """The rows of a predictions file counted per group of the `by` columns (an empty value is the group
    "(empty)"). Errors name the file; each batch's bad rows go to `on_problems` as (line, reason)."""
    path = source(path)
    columns = header(path, "predictions")
    missing = [c for c in ["predicted_age", *by] if c not in columns]
    if missing:
        raise UserError(
            f"{path} has no column {', '.join(map(repr, missing))} (its columns: {', '.join(columns) or 'none'})"
        )
    status = ["status"] if "status" in columns else []
    names = Names()
    counts = np.zeros((0, len(CELLS)), np.int64)
    skipped = 0
    problems = 0
    for first, batch in record_batches(path, ["predicted_age", *by, *status]):
        answered = np.isin(text(batch.column("status")), (OK, "")) if status else np.ones(batch.num_rows, bool)
        skipped += int((~answered).sum())
        predicted, valid = numbers(batch.column("predicted_age"))
        bad = np.flatnonzero(answered & ~valid)
        on_problems(
            [
                (first + int(i), f"predicted_age {batch.column('predicted_age')[int(i)].as_py()!r} is not a number")
                for i in bad
            ]
        )
        problems += len(bad)
        keep = answered & valid
        keys = [np.where(values == "", EMPTY_GROUP, values)[keep] for values in (text(batch.column(c)) for c in by)]
        group = names.codes(*keys) if by else np.zeros(int(keep.sum()), np.int64)
        groups = max(len(names.index), 1)
        found = np.bincount(group * len(CELLS) + cell_index(predicted[keep]), minlength=groups * len(CELLS))
        counts = np.vstack([counts, np.zeros((groups - len(counts), len(CELLS)), np.int64)])
        counts += found.reshape(groups, len(CELLS))
    if not counts.sum():
        raise UserError(f"{path} holds no predictions (rows with status ok and a predicted_age)")
    if by:
        rank, keys_sorted = names.sorted(np.arange(len(names.index)))
        counts[rank] = counts.copy()
    else:
        keys_sorted = [()]
    seen = np.flatnonzero(counts.sum(axis=0))
    return GroupCounts(keys_sorted, Cells(seen, counts[:, seen]), skipped, problems)
