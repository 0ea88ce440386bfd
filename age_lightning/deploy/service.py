"""What the service's routes share: the model, the face step, the ID rule, the batcher, the metrics and the
answer log."""

import asyncio
import contextlib
import datetime as dt
import logging
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi import HTTPException

from age_lightning.deploy.access import Caller
from age_lightning.deploy.answer_db import UTC, Answer
from age_lightning.deploy.answer_log import AnswerLog, unavailable
from age_lightning.deploy.batcher import Batcher
from age_lightning.deploy.configs import ServeConfig
from age_lightning.deploy.observability import Metrics, log_fields
from age_lightning.deploy.onnx_model import OnnxAgeModel
from age_lightning.deploy.predict_files import answers
from age_lightning.deploy.shift_watch import ALARM, ShiftWatch
from age_lightning.deploy.uploads import open_photo
from age_lightning.input_spec import PhotoPreparer
from age_lightning.minor_probability import MinorProbability

log = logging.getLogger("age_lightning.server")


class AgeService:
    """One per running service, built at start-up (the model is loaded before the first request is accepted)."""

    def __init__(self, cfg: ServeConfig, model: OnnxAgeModel, answer_log: AnswerLog | None = None):
        self.cfg, self.model = cfg, model
        self.spec = model.spec.override(id_rule=cfg.id_rule, id_check_age=cfg.id_check_age)
        self.id_check, self.policy = self.spec.id_check, self.spec.faces
        self.preparer = PhotoPreparer(self.spec)
        self.minor = MinorProbability.for_answers(model.file.error_model)
        self.prepare_pool = ThreadPoolExecutor(cfg.prepare_threads, thread_name_prefix="age-prepare")
        self.metrics = Metrics()
        self.answer_log = answer_log
        self.shift = ShiftWatch(model.file.shift_reference, self.metrics)
        self.batcher = Batcher(model, cfg.max_batch, self.metrics.batch.observe, self._batcher_crashed)
        self.in_server = 0
        self.model_info = {**model.info, "faces": self.policy.mode, "id_rule": self.id_check.rule}

    def _batcher_crashed(self, error: BaseException) -> None:
        self.metrics.restarts.inc()
        log.error("The model loop died; restarting it", extra=log_fields(error=type(error).__name__))

    @property
    def ready(self) -> bool:
        return self.batcher.alive

    @contextlib.contextmanager
    def place(self):
        """A place among the `max_queue` photos in the server, or 503."""
        if self.in_server >= self.cfg.max_queue:
            raise HTTPException(503, "busy: too many photos waiting; retry shortly", {"Retry-After": "1"})
        self.in_server += 1
        self.metrics.in_server.inc()
        try:
            yield
        finally:
            self.in_server -= 1
            self.metrics.in_server.dec()

    def prepare(self, body: bytes) -> list[tuple[np.ndarray, dict]]:
        """Decode and run the face step (in a worker thread): the network inputs and each face's box and score."""
        image = open_photo(body, self.cfg.limits, draft_side=self.preparer.min_size)
        return [
            (
                array,
                {"box": [0, 0, image.width, image.height], "score": None}
                if face is None
                else {"box": [round(v, 1) for v in face.box], "score": round(face.score, 3)},
            )
            for array, face in self.preparer.every_face(image, self.cfg.max_faces)
        ]

    async def estimate(self, body: bytes, till: str) -> tuple[list[dict], str | None]:
        """One answer per face of the photo in `body`, within the service's timeout (503 past it), and the till's
        shift state after it (none or alarm; None for a model without a shift reference, or a photo without a
        face). While the till's alarm is on, every face is asked for ID."""

        async def answer() -> tuple[list[dict], str | None]:
            prepared = await asyncio.get_running_loop().run_in_executor(self.prepare_pool, self.prepare, body)
            self.metrics.faces.observe(len(prepared))
            if not prepared:
                return [], None
            ages, scales = await self.batcher.predict([array for array, _ in prepared])
            shift = self.shift.observe(till, prepared[0][0], float(ages[0]))
            found = answers(ages, scales, self.id_check, self.minor)
            if shift == ALARM:
                found = [{**face, "asks_for_id": True} for face in found]
            return [{**face, **estimate} for (_, face), estimate in zip(prepared, found)], shift

        try:
            return await asyncio.wait_for(answer(), self.cfg.timeout_s)
        except asyncio.TimeoutError:
            raise HTTPException(
                503, f"timed out after {self.cfg.timeout_s:g} s; retry shortly", {"Retry-After": "1"}
            ) from None

    async def keep(self, request_id: str, caller: Caller, context: dict, faces: list[dict], shift: str | None) -> bool:
        """Commit the answer's row to the answer log: whether it is kept (True without a log: nothing to keep);
        503 when it is not and the service is told to require it."""
        if self.answer_log is None:
            return True
        answer = Answer(
            time=dt.datetime.now(UTC),
            request_id=request_id,
            till=caller.name,
            store=caller.store or self.cfg.store,
            model=self.model_info,
            status="ok" if faces else "no_face",
            faces=faces,
            shift=shift,
            **context,
        )
        kept = await self.answer_log.record(answer)
        if not kept and self.cfg.answer_log_required:
            raise unavailable()
        return kept

    async def start(self) -> None:
        self.batcher.start()
        if self.answer_log is not None:
            await self.answer_log.start(self.metrics)

    async def stop(self) -> None:
        await self.batcher.stop()
        if self.answer_log is not None:
            await self.answer_log.stop()
        self.prepare_pool.shutdown(wait=False, cancel_futures=True)
