"""A log's alcohol sales reduced to counts, in bounded memory: how many sales each (store, till, cashier, week)
made at each half-year cell of the predicted age, by whether the ID rule would have asked and whether an ID
check was recorded. The audit's statistics need nothing else. Stores, tills and cashiers are counted by number
(their names kept once, in `Names`), so a chain's year of counts is a few integer columns.

Beside the counts, each cashier's sales with the lowest predicted ages (the highest p_minor) are kept for the
review queue.
"""

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from age_lightning.shares import cell_index

GROUP = ("store", "till", "cashier", "week", "cell", "asked", "checked")
UNKNOWN, NOT_CHECKED, CHECKED = -1, 0, 1  # the checked column: no id_checked in the log, or its value
REVIEW_COLUMNS = ("store", "cashier", "till", "sale_id", "time", "line", "predicted_age")
COMPACT_ROWS = 2_000_000  # partial counts are merged when they reach this many rows


def _merge(tables: list[pa.Table]) -> pa.Table:
    return (
        pa.concat_tables(tables).group_by(list(GROUP)).aggregate([("sales", "sum")]).rename_columns([*GROUP, "sales"])
    )


@dataclass
class Names:
    """Numbers for names: the same name, the same number, batch after batch."""

    index: dict[tuple, int] = field(default_factory=dict)

    def codes(self, *columns: np.ndarray) -> np.ndarray:
        """The number of each row's name (a tuple of the columns' values)."""
        joined = pa.array(columns[0].astype(str))
        for column in columns[1:]:
            joined = pc.binary_join_element_wise(joined, pa.array(column.astype(str)), "\x00")
        encoded = pc.dictionary_encode(joined)
        numbers = np.array(
            [
                self.index.setdefault(tuple(name.split("\x00")), len(self.index))
                for name in encoded.dictionary.to_pylist()
            ],
            dtype=np.int64,
        )
        return numbers[np.asarray(encoded.indices.to_numpy(zero_copy_only=False), np.int64)]

    def sorted(self, codes: np.ndarray) -> tuple[np.ndarray, list[tuple]]:
        """The codes renumbered in the names' sort order, and the names in that order."""
        names = sorted(self.index, key=self.index.__getitem__)
        order = sorted(range(len(names)), key=names.__getitem__)
        rank = np.empty(len(names), np.int64)
        rank[order] = np.arange(len(names))
        return rank[codes], [names[i] for i in order]


@dataclass
class Tally:
    review_size: int = 10  # sales kept per cashier for the review queue
    parts: list[pa.Table] = field(default_factory=list)
    review: dict[str, np.ndarray] | None = None
    rows: int = 0
    names: dict[str, Names] = field(default_factory=lambda: {key: Names() for key in ("store", "till", "cashier")})

    def add(self, keys: dict[str, np.ndarray], week, predicted, asked, checked, line) -> None:
        """One batch of alcohol sales: their keys (store, till, cashier, sale_id, time), week, predicted age,
        whether the rule asks, the checked state (UNKNOWN / NOT_CHECKED / CHECKED) and line."""
        batch = pa.table(
            {
                "store": self.names["store"].codes(keys["store"]),
                "till": self.names["till"].codes(keys["store"], keys["till"]),
                "cashier": self.names["cashier"].codes(keys["store"], keys["cashier"]),
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

    def counts(self) -> tuple[dict[str, np.ndarray], dict[str, list[tuple]]]:
        """The merged counts, one numpy array per column of GROUP + sales (store, till and cashier numbered in
        the sort order of their names), and the names: (store,), (store, till) and (store, cashier) tuples."""
        table = _merge(self.parts) if self.parts else _merge([_empty()])
        counts = {name: table.column(name).to_numpy(zero_copy_only=False) for name in (*GROUP, "sales")}
        names = {}
        for key, numbered in self.names.items():
            counts[key], names[key] = numbered.sorted(counts[key])
        return counts, names


def _empty() -> pa.Table:
    types = {
        "store": pa.int64(),
        "till": pa.int64(),
        "cashier": pa.int64(),
        "week": pa.int64(),
        "cell": pa.int64(),
        "asked": pa.bool_(),
        "checked": pa.int8(),
        "sales": pa.int64(),
    }
    return pa.table({name: pa.array([], kind) for name, kind in types.items()})
