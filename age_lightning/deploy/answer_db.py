"""The answer log's database: its schema, its versions, and the queries the service and the audit run on it.

One schema for SQLite (a file at one store, WAL mode, every commit synced to disk) and PostgreSQL (a chain's central
database), through SQLAlchemy Core. The service creates it, and upgrades an older one on start-up through the steps
of MIGRATIONS (the `schema_version` table holds how many have run); a database newer than the service is refused.

Tables (version 3):
    answers        one row per photo answered: time (UTC), request_id, till, store, cashier, sale_id, event, the
                   model (file, sha256, version), the ID rule, faces found, status ("ok" or "no_face"), and the
                   till's shift alarm after it (none, alarm: every face asked; null without a shift reference)
    answer_faces   one row per face of an answer (face 0 is the face policy's preferred one): predicted_age,
                   age_scale, age_low, age_high, age_band, asks_for_id, p_minor
    sale_outcomes  what a till reported afterwards about one of its sales: completed, id_checked, time
    schema_version the version

Never a photo's bytes, a crop, an embedding or a key: the service has nothing else to write here.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from age_lightning.errors import UserError

UTC = dt.timezone.utc
NAME = 64  # the longest till, store, cashier, sale id, event and request id

metadata = sa.MetaData()
schema_version = sa.Table("schema_version", metadata, sa.Column("version", sa.Integer, nullable=False))
answers = sa.Table(
    "answers",
    metadata,
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("time", sa.DateTime, nullable=False, index=True),  # UTC, without a zone
    sa.Column("request_id", sa.String(NAME), nullable=False),
    sa.Column("till", sa.String(NAME), nullable=False),
    sa.Column("store", sa.String(NAME)),
    sa.Column("cashier", sa.String(NAME)),
    sa.Column("sale_id", sa.String(NAME)),
    sa.Column("event", sa.String(NAME)),
    sa.Column("model_file", sa.String(255), nullable=False),
    sa.Column("model_sha256", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(NAME)),
    sa.Column("id_rule", sa.String(NAME), nullable=False),
    sa.Column("faces", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("shift", sa.String(8)),  # version 3
    sa.Index("answers_till_sale", "till", "sale_id"),
)
answer_faces = sa.Table(
    "answer_faces",
    metadata,
    sa.Column("answer_id", answers.c.id.type, sa.ForeignKey("answers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("face", sa.Integer, primary_key=True),
    sa.Column("predicted_age", sa.Float, nullable=False),
    sa.Column("age_scale", sa.Float),
    sa.Column("age_low", sa.Float),
    sa.Column("age_high", sa.Float),
    sa.Column("age_band", sa.String(16), nullable=False),
    sa.Column("asks_for_id", sa.Boolean, nullable=False),
    sa.Column("p_minor", sa.Float),
)
sale_outcomes = sa.Table(
    "sale_outcomes",
    metadata,
    sa.Column("till", sa.String(NAME), primary_key=True),
    sa.Column("sale_id", sa.String(NAME), primary_key=True),
    sa.Column("completed", sa.Boolean, nullable=False),
    sa.Column("id_checked", sa.Boolean, nullable=False),
    sa.Column("time", sa.DateTime, nullable=False),  # when it was reported (UTC)
)
# Each step takes the schema one version up; a database at version v has run MIGRATIONS[:v].
MIGRATIONS = (
    lambda connection: metadata.create_all(connection, tables=[answers, answer_faces]),
    lambda connection: metadata.create_all(connection, tables=[sale_outcomes]),
    lambda connection: _add_column(connection, answers.c.shift),
)
VERSION = len(MIGRATIONS)
FACE_FIELDS = ("predicted_age", "age_scale", "age_low", "age_high", "age_band", "asks_for_id", "p_minor")
# The columns an export has, in order: what the audit reads (store/sales_log.Columns), and the rest of the row.
EXPORT_COLUMNS = (
    "time",
    "request_id",
    "store",
    "till",
    "cashier",
    "sale_id",
    "event",
    "alcohol",
    "completed",
    "id_checked",
    "status",
    "shift",
    "faces",
    *FACE_FIELDS,
    "model_file",
    "model_sha256",
    "id_rule",
)
ALCOHOL_EVENT = "alcohol_scanned"


@dataclass
class Answer:
    """One answered photo, as the log keeps it."""

    time: dt.datetime
    request_id: str
    till: str
    store: str | None
    cashier: str | None
    sale_id: str | None
    event: str | None
    model: dict  # the answer's model info: file, sha256, version, id_rule
    status: str
    faces: list[dict] = field(default_factory=list)  # the answer's faces (their FACE_FIELDS are kept)
    shift: str | None = None


def since_time(since: str | None) -> dt.datetime | None:
    """`2026-12-01` or `2026-12-01T08:00[:00][Z|+01:00]` (UTC unless it names a zone); a one-line error otherwise."""
    if not since:
        return None
    try:
        return dt.datetime.fromisoformat(since)
    except ValueError:
        raise UserError(f"since={since}: give a date or a time, e.g. 2026-12-01 or 2026-12-01T08:00") from None


def naive_utc(time: dt.datetime) -> dt.datetime:
    """The time as the log keeps it: UTC without a zone (a time without a zone is taken to be UTC already)."""
    return time if time.tzinfo is None else time.astimezone(UTC).replace(tzinfo=None)


def database_url(log: str) -> sa.URL:
    """`answers.db` (a SQLite file) or a SQLAlchemy URL: sqlite:///..., postgresql://... (psycopg 3)."""
    if "://" not in log:
        return sa.URL.create("sqlite", database=log)
    try:
        url = sa.make_url(log)
    except sa.exc.ArgumentError:
        raise UserError(f"answer_log={log}: not a file name or a database URL") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise UserError(f"answer_log: {url.get_backend_name()} is not supported (a SQLite file or postgresql://)")
    return url


def shown(log: str) -> str:
    """The log's name without its password, for messages and the server's log."""
    return database_url(log).render_as_string(hide_password=True)


def cause(error: Exception) -> BaseException:
    """The driver's error under SQLAlchemy's (its class names the failure: OperationalError, DiskFull...)."""
    return getattr(error, "orig", None) or error


def _sqlite_pragmas(connection, record) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the auditor) never block the writer
    cursor.execute("PRAGMA synchronous=FULL")  # a commit is on disk before it returns: a power cut loses nothing
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def connect(log: str, upgrade: bool = True) -> Engine:
    """An engine on the answer log, its schema created or upgraded to VERSION (with `upgrade`), or checked to be
    it; a one-line UserError when the database cannot be opened or is newer than this code."""
    url = database_url(log)
    if url.get_backend_name() == "sqlite":
        engine = sa.create_engine(url)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    else:  # a server may restart: test each pooled connection before use, and give up connecting after 5 s
        engine = sa.create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    try:
        with engine.begin() as connection:
            version = _version(connection, log)
            if version > VERSION:
                raise UserError(
                    f"answer_log={shown(log)} has schema version {version}, newer than this service's {VERSION}: "
                    f"upgrade age-lightning to use it"
                )
            if version < VERSION:
                if not upgrade:
                    raise UserError(
                        f"answer_log={shown(log)} has schema version {version}: start the service on it once to "
                        f"upgrade it to {VERSION}"
                    )
                migrate(connection, version, VERSION)
    except sa.exc.SQLAlchemyError as error:
        engine.dispose()
        reason = str(cause(error)).splitlines()[0]
        raise UserError(f"answer_log={shown(log)}: cannot open it ({reason})") from None
    except UserError:
        engine.dispose()
        raise
    return engine


def _version(connection: Connection, log: str) -> int:
    tables = set(sa.inspect(connection).get_table_names())
    if "schema_version" not in tables:
        if tables:
            raise UserError(f"answer_log={shown(log)} holds other tables ({', '.join(sorted(tables))}), no answer log")
        return 0
    return connection.execute(sa.select(schema_version.c.version)).scalar_one()


def _add_column(connection: Connection, column: sa.Column) -> None:
    """ALTER TABLE ... ADD COLUMN, where the table does not have it yet (a log created at this version has it)."""
    table = column.table.name
    if column.name not in {found["name"] for found in sa.inspect(connection).get_columns(table)}:
        kind = column.type.compile(dialect=connection.dialect)
        connection.execute(sa.text(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}"))


def migrate(connection: Connection, version: int, to: int) -> None:
    """Run MIGRATIONS[version:to] and record the version reached."""
    for step in MIGRATIONS[version:to]:
        step(connection)
    if version == 0:
        metadata.create_all(connection, tables=[schema_version])
        connection.execute(schema_version.insert().values(version=to))
    else:
        connection.execute(schema_version.update().values(version=to))


def insert(engine: Engine, rows: list[Answer]) -> None:
    """Write `rows` in one transaction (two statements, whatever their number): all are committed when it
    returns, or none."""
    values = [
        {
            "time": naive_utc(row.time),
            **{name: getattr(row, name) for name in ("request_id", "till", "store", "cashier", "sale_id", "event")},
            "model_file": row.model["file"],
            "model_sha256": row.model["sha256"],
            "model_version": row.model.get("version"),
            "id_rule": row.model["id_rule"],
            "faces": len(row.faces),
            "status": row.status,
            "shift": row.shift,
        }
        for row in rows
    ]
    with engine.begin() as connection:
        ids = connection.execute(answers.insert().returning(answers.c.id, sort_by_parameter_order=True), values)
        faces = [
            {"answer_id": answer_id, "face": n, **{name: face.get(name) for name in FACE_FIELDS}}
            for answer_id, row in zip(ids.scalars(), rows)
            for n, face in enumerate(row.faces)
        ]
        if faces:
            connection.execute(answer_faces.insert(), faces)


def record_outcome(engine: Engine, till: str, sale_id: str, completed: bool, id_checked: bool) -> str:
    """Keep a till's report on one of its sales: "recorded", "unchanged" (the same report again), "unknown" (no
    answer of this till has the sale id) or "conflict" (a different report is already kept)."""
    outcome = {"completed": completed, "id_checked": id_checked}
    with engine.begin() as connection:
        known = connection.execute(
            sa.select(answers.c.id).where(answers.c.till == till, answers.c.sale_id == sale_id).limit(1)
        ).first()
        if known is None:
            return "unknown"
        kept = connection.execute(
            sa.select(sale_outcomes.c.completed, sale_outcomes.c.id_checked).where(
                sale_outcomes.c.till == till, sale_outcomes.c.sale_id == sale_id
            )
        ).first()
        if kept is not None:
            return "unchanged" if kept._asdict() == outcome else "conflict"
        connection.execute(
            sale_outcomes.insert().values(till=till, sale_id=sale_id, time=naive_utc(dt.datetime.now(UTC)), **outcome)
        )
    return "recorded"


def delete_before(engine: Engine, cutoff: dt.datetime) -> int:
    """Delete the answers older than `cutoff` (UTC), with their faces and the outcomes of sales no answer is left
    of; the number of answers deleted."""
    cutoff = naive_utc(cutoff)
    old = sa.select(answers.c.id).where(answers.c.time < cutoff)
    with engine.begin() as connection:
        connection.execute(answer_faces.delete().where(answer_faces.c.answer_id.in_(old)))
        deleted = connection.execute(answers.delete().where(answers.c.time < cutoff)).rowcount
        answered = sa.select(answers.c.id).where(
            answers.c.till == sale_outcomes.c.till, answers.c.sale_id == sale_outcomes.c.sale_id
        )
        connection.execute(sale_outcomes.delete().where(~answered.exists()))
    return deleted


def _joined():
    """answers with their sale's outcome (a left join: most answers have none)."""
    return answers.outerjoin(
        sale_outcomes, sa.and_(sale_outcomes.c.till == answers.c.till, sale_outcomes.c.sale_id == answers.c.sale_id)
    )


def page(engine: Engine, since: dt.datetime | None, till: str | None, after: int, limit: int) -> list[dict]:
    """Up to `limit` answers with an id above `after`, oldest first, each with its faces and its sale's outcome."""
    query = (
        sa.select(*answers.c, sale_outcomes.c.completed, sale_outcomes.c.id_checked)
        .select_from(_joined())
        .where(answers.c.id > after)
        .order_by(answers.c.id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(answers.c.time >= naive_utc(since))
    if till is not None:
        query = query.where(answers.c.till == till)
    with engine.connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query)]
        faces: dict[int, list[dict]] = {row["id"]: [] for row in rows}
        if rows:
            found = connection.execute(
                sa.select(answer_faces)
                .where(answer_faces.c.answer_id.in_(list(faces)))
                .order_by(answer_faces.c.answer_id, answer_faces.c.face)
            )
            for face in found:
                faces[face.answer_id].append({name: getattr(face, name) for name in FACE_FIELDS})
    for row in rows:
        row["time"] = row["time"].replace(tzinfo=UTC)
        row["answers"] = faces[row["id"]]
    return rows


def export(
    engine: Engine, since: dt.datetime | None = None, alcohol_event: str = ALCOHOL_EVENT, batch_rows: int = 50_000
) -> Iterator[list[tuple]]:
    """Every answer since `since` as rows of EXPORT_COLUMNS (face 0's answer; `alcohol`: the event is
    `alcohol_event` and the sale was not reported as abandoned), oldest first, `batch_rows` at a time: a year of a
    chain is read in bounded memory (a server-side cursor on PostgreSQL)."""
    first_face = answer_faces.alias("face")
    completed = sale_outcomes.c.completed
    columns = {
        "time": answers.c.time,
        **{name: answers.c[name] for name in ("request_id", "store", "till", "cashier", "sale_id", "event")},
        "alcohol": sa.type_coerce(
            sa.case((sa.and_(answers.c.event == alcohol_event, sa.func.coalesce(completed, True)), True), else_=False),
            sa.Boolean,
        ),
        "completed": completed,
        "id_checked": sale_outcomes.c.id_checked,
        "status": answers.c.status,
        "shift": answers.c.shift,
        "faces": answers.c.faces,
        **{name: first_face.c[name] for name in FACE_FIELDS},
        **{name: answers.c[name] for name in ("model_file", "model_sha256", "id_rule")},
    }
    query = (
        sa.select(*(column.label(name) for name, column in columns.items()))
        .select_from(
            _joined().outerjoin(first_face, sa.and_(first_face.c.answer_id == answers.c.id, first_face.c.face == 0))
        )
        .order_by(answers.c.id)
    )
    if since is not None:
        query = query.where(answers.c.time >= naive_utc(since))
    with engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(query)
        for partition in result.partitions():
            yield [tuple(row) for row in partition]
