"""Labeled-photo folders -> one checked table: every row validated (`labels.read_labels`), split (each folder on
its own), its square cached (with the face step under `faces=align`), every problem kept with its csv line, and
the group columns a report asks for. Torch-free: evaluate, eda, export_squares and the Lightning adapter
(`datamodule.AgeDataModule`) all read labeled folders through it.
"""

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from age_lightning.data import cache
from age_lightning.data.labels import (
    UNKNOWN,
    LabelsFormat,
    LabelsSpec,
    Problem,
    format_problems,
    label_columns,
    read_labels,
    write_problems,
)
from age_lightning.data.splits import SPLITS, SplitSettings, assign_splits
from age_lightning.errors import DatasetError, UserError
from age_lightning.faces import NO_FACE
from age_lightning.input_spec import InputSpec

log = logging.getLogger(__name__)

INVALID_ROWS_FILE = "invalid_rows.csv"
ON_INVALID = ("error", "skip")


class LabeledFolders:
    """One or several labeled folders, validated once per process (decoding every image, and with faces=align
    detecting every face), split, and kept as `tables` (one per split: file_name, age, path, line, source, split,
    and with the cache cache_row and the face found)."""

    def __init__(
        self,
        roots: list[str],
        labels: LabelsFormat,
        split: SplitSettings,
        spec: InputSpec,
        on_invalid: str = "error",
        check_images: bool = True,
        cache: bool = False,
        cache_dir: str | None = None,
        report_dir: str | None = None,
    ):
        """on_invalid: "error" stops on any bad row; "skip" drops bad rows and writes them to report_dir.
        cache: keep the photos' squares in a memory-mapped array in cache_dir (always on with the face step)."""
        if on_invalid not in ON_INVALID:
            raise UserError(f"data.on_invalid must be one of {ON_INVALID}, got {on_invalid!r}")
        self.specs = [LabelsSpec(root=str(root), **asdict(labels)) for root in roots]
        names = [Path(r).name for r in roots]
        self.sources = names if len(set(names)) == len(names) else [str(r) for r in roots]
        self.split, self.spec = split, spec
        self.on_invalid, self.check_images, self.report_dir = on_invalid, check_images, report_dir
        self.uses_cache, self.cache_dir = cache or spec.faces.aligns, cache_dir
        self.squares: np.ndarray | None = None  # the cache array
        self.problems: dict[str, list[Problem]] = {}  # labels.csv path -> its invalid rows
        self.tables: dict[str, pd.DataFrame] = {}
        self._valid_rows: pd.DataFrame | None = None

    def load(self) -> pd.DataFrame:
        """All valid rows with their split (validated on the first call only); applies the on_invalid policy."""
        if self._valid_rows is None:
            self._valid_rows = self._validate()
            for name in SPLITS:
                self.tables[name] = self._valid_rows[self._valid_rows["split"] == name].reset_index(drop=True)
            sizes = {name: len(t) for name, t in self.tables.items()}
            log.info("Split %s (protocol %s): %s", ", ".join(self.sources), self.split.protocol, sizes)
        return self._valid_rows.copy()

    def table(self, split: str) -> pd.DataFrame:
        """The rows of one split, or of all splits for "all"."""
        self.load()
        if split == "all":
            return pd.concat(self.tables.values(), ignore_index=True)
        if split not in self.tables:
            raise DatasetError(f"unknown split {split!r}; use {', '.join(SPLITS)} or all")
        return self.tables[split]

    @property
    def train_age_stats(self) -> tuple[float, float]:
        """Mean and standard deviation of the training ages (the regression target's normalization)."""
        ages = self.table("train")["age"]
        return float(ages.mean()), float(max(ages.std(ddof=0), 1.0))

    def baseline_mae(self, split: str) -> float:
        """MAE of always predicting the training mean age: the bar a model has to beat."""
        mean, _ = self.train_age_stats
        return float((self.table(split)["age"] - mean).abs().mean())

    def group_columns(self, rows: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
        """The named group columns for `rows` (one of this object's tables): `source` is the folder, any other is
        read from that folder's labels.csv (`labels.label_columns`). With several folders, one that lacks a column
        gives UNKNOWN for its photos (All-Age-Faces has no race); a column no folder has is an error."""
        values = pd.DataFrame(index=rows.index, columns=columns, dtype=object)
        if "source" in columns:
            values["source"] = rows["source"]
        labelled = [c for c in columns if c != "source"]
        for source, spec in zip(self.sources, self.specs) if labelled else ():
            chosen = rows["source"] == source
            try:
                found = label_columns(spec, rows.loc[chosen, "line"].to_numpy(), labelled, len(self.specs) > 1)
            except DatasetError as error:
                raise DatasetError(f"groups={columns}: {error}") from None
            values.loc[chosen, labelled] = found.to_numpy()
        nowhere = [c for c in labelled if (values[c] == UNKNOWN).all()]
        if nowhere and len(self.specs) > 1:
            raise DatasetError(
                f"groups={columns}: no photo of {self.sources} has a value for {nowhere} (no labels.csv "
                "has the column, or it is empty)"
            )
        return values

    def _validate(self) -> pd.DataFrame:
        tables, problems = [], {}
        for spec, source in zip(self.specs, self.sources):
            table, found = read_labels(spec, check_images=self.check_images)
            self._stop_on(spec, found)
            tables.append(table.assign(source=source))
            problems[str(spec.labels_path)] = found
        table = pd.concat(tables, ignore_index=True)
        if self.uses_cache and not table.empty:
            table = self._attach_cache(table, problems)
        self.problems = problems
        invalid = sum(len(found) for found in problems.values())
        if invalid:
            report = Path(self.report_dir or ".") / INVALID_ROWS_FILE
            write_problems(problems, report)
            log.warning(
                "Skipping %d invalid row(s) of %s (data.on_invalid=skip); list written to %s",
                invalid,
                ", ".join(problems),
                report,
            )
        if table.empty:
            raise DatasetError(f"no valid rows left in {', '.join(problems)}")
        table["split"] = pd.concat(
            [
                self._assign_splits(table[table["source"] == source], problems[str(spec.labels_path)])
                for spec, source in zip(self.specs, self.sources)
            ]
        )
        return table

    def _assign_splits(self, rows: pd.DataFrame, problems: list[Problem]) -> pd.Series:
        """Each folder is split on its own, so each has its share of train, val and test rows."""
        if rows.empty:
            return pd.Series(dtype=object)
        total_rows = len(rows) + len({p.line for p in problems})
        settings = self.split
        return assign_splits(
            rows, settings.protocol, dict(settings.fractions), settings.seed, total_rows, settings.enrich
        )

    def _stop_on(self, spec: LabelsSpec, problems: list[Problem]) -> None:
        if problems and self.on_invalid == "error":
            raise DatasetError(
                format_problems(spec, problems) + "\nFix these rows, or set data.on_invalid=skip to train without them."
            )

    def _attach_cache(self, table: pd.DataFrame, problems: dict[str, list[Problem]]) -> pd.DataFrame:
        """Build or load the squares of `table`'s photos; under a face policy, photos without a face become
        problems (added to `problems`) and the others get the face found (box, score, number of faces)."""
        if not self.cache_dir:
            raise DatasetError("data.cache=true and faces.mode=align need data.cache_dir")
        self.squares, faces = cache.load_or_build(table["path"].tolist(), self.cache_dir, self.spec)
        table["cache_row"] = range(len(table))
        if faces is None:
            return table
        table = pd.concat([table, faces], axis=1)
        missing = table["faces_found"] == 0
        for spec, source in zip(self.specs, self.sources):
            rows = table[missing & (table["source"] == source)]
            found = [Problem(line, name, NO_FACE) for line, name in zip(rows["line"], rows["file_name"])]
            self._stop_on(spec, found)
            problems[str(spec.labels_path)] = sorted(problems[str(spec.labels_path)] + found, key=lambda p: p.line)
        return table[~missing].reset_index(drop=True)
