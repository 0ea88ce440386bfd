"""The service's record of its answers (answer_log=...): what the routes call. The database is answer_db.py's.

An answer is acknowledged to its till only once its row is committed. Rows are written by one thread in group
commits: while one transaction commits, the rows of the requests that arrive meanwhile wait for the next, so the
service pays one disk sync per group rather than per photo. When a commit fails (the database down, the disk
full) or takes longer than `timeout_s`, `record` returns False and the route says so to the till; the row of a
commit that merely took long may still land, so nothing acknowledged is ever missing, and nothing unacknowledged is
claimed. Rows older than `keep_days` are deleted every hour (and at start-up), and each deletion is logged.
"""

import asyncio
import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from fastapi import HTTPException

from age_lightning.deploy import answer_db
from age_lightning.deploy.observability import Metrics, log_fields
from age_lightning.errors import UserError

log = logging.getLogger("age_lightning.server")
MAX_GROUP = 256  # rows committed together at most
RETENTION_EVERY_S = 3600


def unavailable() -> HTTPException:
    return HTTPException(503, "the answer log is unavailable; retry shortly", {"Retry-After": "1"})


class AnswerLog:
    def __init__(self, log_url: str, keep_days: int, timeout_s: float):
        """Open the log (created or upgraded): a one-line UserError when it cannot be."""
        if keep_days < 1:
            raise UserError(f"answer_log_keep_days={keep_days}: keep the answers at least one day")
        self.engine = answer_db.connect(log_url)
        self.name, self.keep_days, self.timeout_s = answer_db.shown(log_url), keep_days, timeout_s

    async def start(self, metrics: Metrics) -> None:
        """Delete what is past keeping, then start committing (in the service's event loop) and deleting hourly,
        counting on `metrics`."""
        self.metrics = metrics
        self.writer = ThreadPoolExecutor(1, thread_name_prefix="answer-log")  # one writer: SQLite's rule anyway
        self.queue: asyncio.Queue[tuple[answer_db.Answer, asyncio.Future]] = asyncio.Queue()
        await self._delete_old()
        self.tasks = [asyncio.create_task(self._commit_groups()), asyncio.create_task(self._retain())]

    async def stop(self) -> None:
        """Commit what is queued (for up to `timeout_s`), then stop; the service's shutdown has waited for its
        requests first."""
        try:
            await asyncio.wait_for(self.queue.join(), self.timeout_s)
        except asyncio.TimeoutError:
            log.error("The answer log stopped with %d answer(s) uncommitted", self.queue.qsize())
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.writer.shutdown(wait=True)
        self.engine.dispose()

    async def record(self, answer: answer_db.Answer) -> bool:
        """Whether the answer's row is committed (False: the log is unavailable, and the failure is counted)."""
        done = asyncio.get_running_loop().create_future()
        await self.queue.put((answer, done))
        try:
            recorded = await asyncio.wait_for(asyncio.shield(done), self.timeout_s)
        except asyncio.TimeoutError:
            recorded = False
        if not recorded:
            self.metrics.log_failures.inc()
        return recorded

    async def _commit_groups(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            group = [await self.queue.get()]
            while not self.queue.empty() and len(group) < MAX_GROUP:
                group.append(self.queue.get_nowait())
            try:
                with self.metrics.log_commit.time():
                    await loop.run_in_executor(self.writer, answer_db.insert, self.engine, [row for row, _ in group])
                committed = True
                self.metrics.log_rows.inc(len(group))
            except Exception as error:  # noqa: BLE001 - whatever fails a group, its tills are told and the loop goes on
                committed = False
                log.error(
                    "The answer log could not commit %d row(s)",
                    len(group),
                    extra=log_fields(error=type(answer_db.cause(error)).__name__, log=self.name),
                )
            for _, done in group:
                if not done.done():
                    done.set_result(committed)
                self.queue.task_done()

    async def write(self, function, *args):
        """`function(engine, *args)` on the writer thread (a sale's outcome): SQLAlchemyError if the log fails."""
        return await asyncio.get_running_loop().run_in_executor(self.writer, function, self.engine, *args)

    async def read(self, function, *args):
        """`function(engine, *args)` on a reader thread (WAL: reading never waits for the writer)."""
        return await asyncio.get_running_loop().run_in_executor(None, function, self.engine, *args)

    async def _delete_old(self) -> None:
        cutoff = dt.datetime.now(answer_db.UTC) - dt.timedelta(days=self.keep_days)
        try:
            deleted = await self.write(answer_db.delete_before, cutoff)
            log.info(
                "Answer log retention: deleted %d answer(s) older than %s",
                deleted,
                cutoff.isoformat(timespec="seconds"),
                extra=log_fields(deleted=deleted, keep_days=self.keep_days, log=self.name),
            )
        except sa.exc.SQLAlchemyError as error:
            log.error(
                "Answer log retention failed; it runs again in an hour",
                extra=log_fields(error=type(answer_db.cause(error)).__name__, log=self.name),
            )

    async def _retain(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_EVERY_S)
            await self._delete_old()
