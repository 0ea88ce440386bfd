"""A log's alcohol sales reduced to counts, in bounded memory: how many sales each (store, till, cashier, week)
made at each half-year cell of the predicted age, by whether the ID rule would have asked and whether an ID
check was recorded. The audit's statistics need nothing else; a chain's year is a few hundred thousand cells.

Beside the counts, each cashier's sales with the lowest predicted ages (the highest p_minor) are kept for the
review queue.
"""

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from age_lightning.minor_probability import cell_index

GROUP = ("store", "till", "cashier", "week", "cell", "asked", "checked")
UNKNOWN, NOT_CHECKED, CHECKED = -1, 0, 1  # the checked column: no id_checked in the log, or its value
REVIEW_COLUMNS = ("store", "cashier", "till", "sale_id", "time", "line", "predicted_age")
COMPACT_ROWS = 2_000_000  # partial counts are merged when they reach this many rows


def _merge(tables: list[pa.Table]) -> pa.Table:
    return (
        pa.concat_tables(tables).group_by(list(GROUP)).aggregate([("sales", "sum")]).rename_columns([*GROUP, "sales"])
    )


@dataclass
class Tally:
    review_size: int = 10  # sales kept per cashier for the review queue
    parts: list[pa.Table] = field(default_factory=list)
    review: dict[str, np.ndarray] | None = None
    rows: int = 0

    def add(self, keys: dict[str, np.ndarray], week, predicted, asked, checked, line) -> None:
        """One batch of alcohol sales: their keys (store, till, cashier, sale_id, time), week, predicted age,
        whether the rule asks, the checked state (UNKNOWN / NOT_CHECKED / CHECKED) and line."""
        batch = pa.table(
            {
                "store": keys["store"].astype(str),
                "till": keys["till"].astype(str),
                "cashier": keys["cashier"].astype(str),
                "week": np.asarray(week, np.int64),
                "cell": cell_index(predicted),
                "asked": np.asarray(asked, bool),
                "checked": np.asarray(checked, np.int8),
                "sales": np.ones(len(predicted), np.int64),
            }
        )
        self.parts.append(_merge([batch]))
        self.rows += len(predicted)
        if sum(part.num_rows for part in self.parts) > COMPACT_ROWS:
            self.parts = [_merge(self.parts)]
        self._keep_for_review(keys, predicted, line)

    def _keep_for_review(self, keys, predicted, line) -> None:
        candidate = {name: keys[name].astype(str) for name in ("store", "cashier", "till", "sale_id", "time")}
        candidate |= {"line": np.asarray(line, np.int64), "predicted_age": np.asarray(predicted, float)}
        if self.review is not None:
            candidate = {name: np.concatenate([self.review[name], candidate[name]]) for name in REVIEW_COLUMNS}
        who = np.char.add(np.char.add(candidate["store"], "\x00"), candidate["cashier"])
        order = np.lexsort((candidate["line"], candidate["predicted_age"], who))
        who = who[order]
        first = np.searchsorted(who, who, side="left")
        keep = order[np.arange(len(order)) - first < self.review_size]
        self.review = {name: values[keep] for name, values in candidate.items()}

    def counts(self) -> dict[str, np.ndarray]:
        """The merged counts, one numpy array per column of GROUP + sales."""
        table = _merge(self.parts) if self.parts else _merge([_empty()])
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in (*GROUP, "sales")}


def _empty() -> pa.Table:
    types = {
        "store": pa.string(),
        "till": pa.string(),
        "cashier": pa.string(),
        "week": pa.int64(),
        "cell": pa.int64(),
        "asked": pa.bool_(),
        "checked": pa.int8(),
        "sales": pa.int64(),
    }
    return pa.table({name: pa.array([], kind) for name, kind in types.items()})
