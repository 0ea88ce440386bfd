"""The service's answer log (answer_log=answers.db, or a postgresql:// URL) read as record batches, as the sales log
reader reads a CSV or Parquet file: the audit, the shares and answers.py read it directly, a batch at a time.

A row is one answered photo with the columns of answer_db.EXPORT_COLUMNS: face 0's answer, the sale's outcome as its
till reported it, and `alcohol`, true where the till's event was `alcohol_event` and the sale was not abandoned.
"""

import datetime as dt
from pathlib import Path
from typing import Iterator

import pyarrow as pa

from age_lightning.deploy import answer_db
from age_lightning.errors import UserError

SUFFIXES = (".db", ".sqlite", ".sqlite3")
TYPES = {
    "time": pa.timestamp("us", tz="UTC"),
    "alcohol": pa.bool_(),
    "completed": pa.bool_(),
    "id_checked": pa.bool_(),
    "asks_for_id": pa.bool_(),
    "faces": pa.int64(),
    **{name: pa.float64() for name in ("predicted_age", "age_scale", "age_low", "age_high", "p_minor")},
}


def source(log: str | Path) -> str | Path:
    """A database URL as given (a path would fold its //), anything else as a path."""
    return str(log) if "://" in str(log) else Path(log)


def is_answer_log(log: str | Path) -> bool:
    return "://" in str(log) or Path(log).suffix in SUFFIXES


def answer_schema(names: list[str] | None = None) -> pa.Schema:
    return pa.schema([(name, TYPES.get(name, pa.string())) for name in names or answer_db.EXPORT_COLUMNS])


def answer_batches(
    log: str | Path,
    wanted: list[str] | None = None,
    since: dt.datetime | None = None,
    alcohol_event: str = answer_db.ALCOHOL_EVENT,
    batch_rows: int = 100_000,
) -> Iterator[pa.RecordBatch]:
    """The answer log's rows (the `wanted` columns of EXPORT_COLUMNS, all by default), oldest first."""
    if "://" not in str(log) and not Path(log).is_file():
        raise UserError(f"log {log}: no such file")
    engine = answer_db.connect(str(log), upgrade=False)
    schema = answer_schema(wanted)
    try:
        for rows in answer_db.export(engine, since, alcohol_event, batch_rows):
            columns = dict(zip(answer_db.EXPORT_COLUMNS, zip(*rows)))
            yield pa.record_batch([pa.array(columns[f.name], f.type) for f in schema], schema=schema)
    finally:
        engine.dispose()
