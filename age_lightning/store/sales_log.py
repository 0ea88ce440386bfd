"""A store's sales log, read in bounded memory: CSV or Parquet, in batches of rows (pyarrow's streaming readers:
one engine for both formats, columnar, and it counts rows, so every bad row is reported with its line), or the
service's answer log (answer_records.py), likewise.

Each batch comes back checked: the rows an audit can use (alcohol sales with an answer) as numpy arrays, and the
bad rows as (line, reason). A CSV's line counts the header as line 1, so the first sale is line 2; a Parquet
file's "line" is its row number + 1 likewise, and so is an answer log's (its line in answers.py's export).
"""

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from age_lightning.deploy.answer_db import EXPORT_COLUMNS
from age_lightning.errors import UserError
from age_lightning.formatting import NUMBER
from age_lightning.store.answer_records import answer_batches, is_answer_log, source

TRUE_WORDS = ("true", "1", "yes", "y", "t")
FALSE_WORDS = ("false", "0", "no", "n", "f")
NUMBER_CELL = rf"^\s*{NUMBER}\s*$"
BATCH_ROWS = 200_000  # a Parquet batch; a CSV batch is BLOCK_BYTES of text (about as many rows)
BLOCK_BYTES = 16 << 20


@dataclass
class Columns:
    """The log's column names (`columns.cashier=...` renames one)."""

    sale_id: str = "sale_id"
    store: str = "store"
    till: str = "till"
    cashier: str = "cashier"
    time: str = "time"
    alcohol: str = "alcohol"
    id_checked: str = "id_checked"  # optional: the POS's age-verification button
    predicted_age: str = "predicted_age"
    age_scale: str = "age_scale"  # optional: an uncertain model's scale
    status: str = "status"  # optional: predict_onnx's / the service's answer status ("ok")
    photo: str = "photo"  # optional: photos to answer with the model, where the log has no predicted_age


REQUIRED = ("store", "cashier", "alcohol")
KEYS = ("sale_id", "store", "till", "cashier", "time")


@dataclass
class Batch:
    """One batch's usable alcohol sales (numpy arrays) and its bad rows."""

    line: np.ndarray
    keys: dict[str, np.ndarray]  # sale_id, store, till, cashier, time: strings ("" where absent)
    predicted_age: np.ndarray
    age_scale: np.ndarray | None
    id_checked: np.ndarray | None  # bool
    week: np.ndarray  # weeks since 1970 (Monday to Sunday) of the sale's time; -1 without a time column
    photo: np.ndarray | None  # where answers are still to be made
    problems: list[tuple[int, str]]
    rows: int  # rows read, alcohol or not


def header(path: Path | str, name: str) -> list[str]:
    """The column names of a CSV or Parquet file, or of the service's answer log; a one-line error naming it (as
    `name`) when there is none."""
    if is_answer_log(path):
        return list(EXPORT_COLUMNS)
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{name} {path}: no such file")
    try:
        if path.suffix == ".parquet":
            return pq.ParquetFile(path).schema_arrow.names
        with open(path, newline="") as f:
            return next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError, pa.ArrowException) as error:
        raise UserError(f"{name} {path}: cannot read it as CSV or Parquet ({error})") from None


def open_log(log: str | Path, columns: Columns) -> tuple[Path | str, dict[str, str]]:
    """The log's path (or database URL) and which of `columns` it has ({field: column name}); a one-line error when
    it cannot be audited at all."""
    path = source(log)
    names = header(path, "log")
    present = {field: getattr(columns, field) for field in vars(columns) if getattr(columns, field) in names}
    missing = [getattr(columns, field) for field in REQUIRED if field not in present]
    if "predicted_age" not in present and "photo" not in present:
        missing.append(f"{columns.predicted_age} (or {columns.photo})")
    if missing:
        raise UserError(f"log {path}: no column {', '.join(missing)} (its columns: {', '.join(names)})")
    return path, present


def record_batches(path: Path | str, wanted: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """The `wanted` columns of a CSV (as text) or Parquet file, or of the answer log, one batch at a time, each with
    the line of its first row (the answer log's: as in its export by answers.py)."""
    reader: Iterator[pa.RecordBatch]
    if is_answer_log(path):
        reader = answer_batches(path, wanted)
    elif Path(path).suffix == ".parquet":
        reader = pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=wanted)
    else:
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=BLOCK_BYTES),
            convert_options=pa_csv.ConvertOptions(
                include_columns=wanted, column_types={name: pa.string() for name in wanted}, strings_can_be_null=True
            ),
        )
    first = 2
    try:
        for record_batch in reader:
            yield first, record_batch
            first += record_batch.num_rows
    except pa.ArrowInvalid as error:
        raise UserError(f"{path}: unreadable after line {first - 1} ({str(error).splitlines()[0]})") from None


def batches(path: Path | str, present: dict[str, str]) -> Iterator[Batch]:
    """The log's rows, checked, one batch at a time."""
    for first, record_batch in record_batches(path, list(present.values())):
        yield _check(record_batch, present, first)


def text(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.utf8_trim_whitespace(array.cast(pa.string())), "").to_numpy(zero_copy_only=False))


def _booleans(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, valid) of a boolean column stored as booleans or words."""
    if pa.types.is_boolean(array.type):
        return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False)), np.asarray(
            array.is_valid().to_numpy(zero_copy_only=False)
        )
    words = np.char.lower(text(array).astype(str))
    true, false = np.isin(words, TRUE_WORDS), np.isin(words, FALSE_WORDS)
    return true, true | false


def numbers(array: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(value, valid) of a numeric column stored as numbers or text."""
    if not (pa.types.is_floating(array.type) or pa.types.is_integer(array.type)):
        text = array.cast(pa.string())
        valid_text = pc.fill_null(pc.match_substring_regex(text, NUMBER_CELL), False)
        array = pc.if_else(valid_text, text, pa.scalar(None, pa.string())).cast(pa.float64())
    values = np.asarray(pc.fill_null(array.cast(pa.float64()), np.nan).to_numpy(zero_copy_only=False))
    return values, np.isfinite(values)


def _check(record_batch: pa.RecordBatch, present: dict[str, str], first: int) -> Batch:
    column = {field: record_batch.column(name) for field, name in present.items()}
    rows = record_batch.num_rows
    line = np.arange(first, first + rows)
    reasons = np.full(rows, "", dtype=object)

    def bad(mask: np.ndarray, reason) -> None:
        """Mark rows with their first reason (a string, or one per row)."""
        mask = mask & (reasons == "")
        reasons[mask] = reason if isinstance(reason, str) else reason[mask]

    keys = {field: text(column[field]) if field in column else np.full(rows, "", object) for field in KEYS}
    for field in ("store", "cashier"):
        bad(keys[field] == "", f"no {present[field]}")
    alcohol, valid = _booleans(column["alcohol"])
    bad(~valid, f"{present['alcohol']} is not true/false")
    id_checked = None
    if "id_checked" in column:
        id_checked, valid = _booleans(column["id_checked"])
        bad(~valid & alcohol, f"{present['id_checked']} is not true/false")
    if "status" in column:
        status = text(column["status"])
        bad(alcohol & (status != "ok") & (status != ""), np.char.add("no answer: status ", status.astype(str)))
    week = np.full(rows, -1, dtype=np.int64)
    if "time" in column:
        day = pc.utf8_slice_codeunits(pc.utf8_trim_whitespace(column["time"].cast(pa.string())), 0, 10)
        parsed = pc.strptime(day, format="%Y-%m-%d", unit="s", error_is_null=True)
        dated = np.asarray(parsed.is_valid().to_numpy(zero_copy_only=False))
        days = np.asarray(pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)) // 86400
        bad(alcohol & ~dated, f"{present['time']} does not start with a date (YYYY-MM-DD)")
        week = np.where(dated, (days + 3) // 7, -1)
    photo = None
    predicted = np.full(rows, np.nan)
    if "predicted_age" in column:
        predicted, valid = numbers(column["predicted_age"])
        bad(alcohol & ~valid, f"{present['predicted_age']} is not a number")
    else:  # answered by the model after reading (open_log made sure the column is there)
        photo = text(column["photo"])
        bad(alcohol & (photo == ""), f"no {present['photo']}")
    scale = None
    if "age_scale" in column:
        scale, valid = numbers(column["age_scale"])
        bad(alcohol & ~valid & (photo is None), f"{present['age_scale']} is not a number")
    keep = alcohol & (reasons == "")
    problems = [(int(n), str(r)) for n, r in zip(line[reasons != ""], reasons[reasons != ""])]
    return Batch(
        line=line[keep],
        keys={field: values[keep] for field, values in keys.items()},
        predicted_age=predicted[keep],
        age_scale=None if scale is None else scale[keep],
        id_checked=None if id_checked is None else id_checked[keep],
        week=week[keep],
        photo=None if photo is None else photo[keep],
        problems=problems,
        rows=rows,
    )
