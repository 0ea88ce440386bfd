"""Reading and validating a labeled-photo folder (`labels.csv` + image folder) in one pass.

Every problem is reported with its labels.csv line and file name, never as a traceback from PIL or pandas.
"""

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError
from rich.progress import track

from age_lightning.ages import MAX_AGE, MIN_AGE
from age_lightning.errors import DatasetError
from age_lightning.images import decode_threads, load_rgb

log = logging.getLogger(__name__)

# calibration: held back for the uncertain head's conformal calibration; never trained on nor used to pick a model.
SPLITS = ("train", "val", "calibration", "test")
SHOWN_PROBLEMS = 20
UNKNOWN = "unknown"  # an empty value in a group column of labels.csv


@dataclass(frozen=True)
class Problem:
    line: int  # line number in labels.csv (the header is line 1)
    file_name: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.file_name or '<no file name>'}: {self.reason}"


@dataclass(frozen=True)
class LabelsFormat:
    """How a labeled folder is laid out (the `data.labels` config node is generated from these defaults): the csv
    and image folder's names inside it, the csv's columns and its separator."""

    labels_file: str = "labels.csv"
    image_dir: str = "final_files"
    file_column: str = "file_name"
    age_column: str = "real_age"
    split_column: str = "split"  # the split of each row, read when data.split.protocol is auto or column
    sep: str = ","


@dataclass(frozen=True)
class LabelsSpec(LabelsFormat):
    """Where one folder's labels and images are, and how its csv names its columns."""

    root: str = field(kw_only=True)

    @property
    def labels_path(self) -> Path:
        return Path(self.root) / self.labels_file

    @property
    def image_path(self) -> Path:
        return Path(self.root) / self.image_dir


def read_labels(spec: LabelsSpec, check_images: bool = True) -> tuple[pd.DataFrame, list[Problem]]:
    """Read labels.csv and check every row (and, with `check_images`, decode every image).

    Returns the valid rows (columns: file_name, age, path, line, and split when the csv has one)
    and the problems found. Problems that make the whole file unusable raise DatasetError.
    """
    table = _read_csv(spec)
    table["line"] = range(2, len(table) + 2)
    table["file_name"] = table[spec.file_column].str.strip()
    table["path"] = [str(spec.image_path / name) for name in table["file_name"]]
    problems = [*_age_problems(table, spec.age_column), *_name_problems(table)]
    if spec.split_column in table.columns:
        problems += _split_problems(table, spec.split_column)
    bad_lines = {p.line for p in problems}
    candidates = table[~table["line"].isin(bad_lines)]
    problems += _file_problems(candidates, check_images)
    problems.sort(key=lambda p: p.line)

    bad_lines = {p.line for p in problems}
    valid = table[~table["line"].isin(bad_lines)].copy()
    valid["age"] = pd.to_numeric(valid[spec.age_column]).astype(float)
    columns = ["file_name", "age", "path", "line"]
    if spec.split_column in table.columns:
        valid["split"] = valid[spec.split_column].str.strip().str.lower()
        columns.append("split")
    return valid[columns].reset_index(drop=True), problems


def format_problems(spec: LabelsSpec, problems: list[Problem]) -> str:
    shown = "\n".join(f"  {p}" for p in problems[:SHOWN_PROBLEMS])
    more = len(problems) - SHOWN_PROBLEMS
    tail = f"\n  ... and {more} more" if more > 0 else ""
    return f"{len(problems)} problem(s) in {spec.labels_path}:\n{shown}{tail}"


def write_problems(problems: dict[str, list[Problem]], path: Path) -> None:
    """One csv row per problem: labels_file (the csv it is in), line, file_name, reason."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"labels_file": labels_file, **vars(p)} for labels_file, found in problems.items() for p in found]
    pd.DataFrame(rows, columns=["labels_file", "line", "file_name", "reason"]).to_csv(path, index=False)


def label_columns(spec: LabelsSpec, lines, columns: list[str], lacking_ok: bool = False) -> pd.DataFrame:
    """Other columns of labels.csv (e.g. gender, race) for the given csv line numbers, an empty value as
    UNKNOWN; a column the file lacks is a DatasetError naming the column and the file, or with lacking_ok all
    UNKNOWN (one folder of several without the column)."""
    table = _read_csv(spec)
    missing = [c for c in columns if c not in table.columns]
    if missing and not lacking_ok:
        raise DatasetError(f"{spec.labels_path} has no column(s) {missing}; it has {list(table.columns)}")
    found = table.reindex(columns=table.columns.union(missing, sort=False), fill_value="").iloc[np.asarray(lines) - 2]
    found = found[columns]
    return found.apply(lambda c: c.str.strip().replace("", UNKNOWN)).reset_index(drop=True)


def _read_csv(spec: LabelsSpec) -> pd.DataFrame:
    if not Path(spec.root).is_dir():
        raise DatasetError(f"data folder {spec.root} does not exist (set data.root=/path/to/folder)")
    if not spec.labels_path.is_file():
        raise DatasetError(
            f"no {spec.labels_file} in {spec.root} (expected columns: {spec.file_column},{spec.age_column})"
        )
    if not spec.image_path.is_dir():
        raise DatasetError(f"image folder {spec.image_path} does not exist (set data.labels.image_dir=...)")
    try:
        # utf-8-sig also accepts a byte-order mark, which spreadsheet programs like to add.
        table = pd.read_csv(
            spec.labels_path,
            sep=spec.sep,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        raise DatasetError(
            f"{spec.labels_path} is empty: it needs a header line "
            f"'{spec.file_column},{spec.age_column}' and one line per photo"
        ) from None
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise DatasetError(f"{spec.labels_path} is not a readable csv: {error}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in (spec.file_column, spec.age_column) if c not in table.columns]
    if missing:
        hint = ""
        if len(table.columns) == 1 and ";" in table.columns[0]:
            hint = " It looks ';'-separated: save it comma-separated or set data.labels.sep=';'."
        raise DatasetError(
            f"{spec.labels_path} has no column(s) {missing}; it has {list(table.columns)}. "
            f"Set data.labels.file_column / data.labels.age_column to the right names.{hint}"
        )
    if table.empty:
        raise DatasetError(f"{spec.labels_path} has a header but no rows")
    return table


def _age_problems(table: pd.DataFrame, age_column: str) -> list[Problem]:
    problems = []
    for line, name, raw in zip(table["line"], table["file_name"], table[age_column]):
        raw = raw.strip()
        try:
            age = float(raw)
        except ValueError:
            reason = "age is missing" if raw == "" else f"age {raw!r} is not a number"
            problems.append(Problem(line, name, reason))
            continue
        if age != age:
            problems.append(Problem(line, name, "age is NaN"))
        elif not MIN_AGE <= age <= MAX_AGE:
            problems.append(Problem(line, name, f"age {raw} is outside {MIN_AGE:g}..{MAX_AGE:g}"))
    return problems


def _name_problems(table: pd.DataFrame) -> list[Problem]:
    problems = [
        Problem(line, "", "file name is empty") for line, name in zip(table["line"], table["file_name"]) if name == ""
    ]
    named = table[table["file_name"] != ""]
    first_line = named.groupby("file_name")["line"].transform("min")
    for line, name, first in zip(named["line"], named["file_name"], first_line):
        if line != first:
            problems.append(Problem(line, name, f"duplicate file name (first on line {first})"))
    return problems


def _split_problems(table: pd.DataFrame, split_column: str) -> list[Problem]:
    values = table[split_column].str.strip().str.lower()
    return [
        Problem(line, name, f"split {raw!r} is not one of {', '.join(SPLITS)}")
        for line, name, raw, value in zip(table["line"], table["file_name"], table[split_column], values)
        if value not in SPLITS
    ]


def _file_problems(table: pd.DataFrame, check_images: bool) -> list[Problem]:
    check = _decode_problem if check_images else _existence_problem
    rows = list(zip(table["line"], table["file_name"], table["path"]))
    with ThreadPoolExecutor(max_workers=decode_threads()) as pool:
        results = pool.map(lambda row: check(row[2]), rows)
        reasons = list(
            track(results, total=len(rows), description="Checking images", transient=True, disable=len(rows) < 1000)
        )
    return [Problem(line, name, reason) for (line, name, _), reason in zip(rows, reasons) if reason]


def _existence_problem(path: str) -> str | None:
    if not os.path.isfile(path):
        return f"file not found: {path}"
    if os.path.getsize(path) == 0:
        return "file is empty (0 bytes)"
    return None


def _decode_problem(path: str) -> str | None:
    problem = _existence_problem(path)
    if problem:
        return problem
    try:
        load_rgb(path, min_size=32)
    except UnidentifiedImageError:
        return "not an image format Pillow can read"
    except Image.DecompressionBombError as error:
        return f"image too large: {error}"
    except (OSError, SyntaxError, ValueError) as error:
        return f"unreadable or truncated image ({error})"
    return None
