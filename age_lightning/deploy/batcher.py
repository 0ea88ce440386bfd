"""One model thread for all requests: the faces of every waiting request are run through the model together."""

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, cast

import numpy as np

from age_lightning.deploy.predict_files import PredictBatch

log = logging.getLogger("age_lightning.server")


class Batcher:
    """Runs the model on the faces of all waiting requests together, at most `max_batch` rows per model run, in
    its own thread.

    Supervised: should its loop ever die (a bug, not a model error, which goes to the requests), the requests it
    held get the error, `on_crash` is told, and a new loop starts. `alive` says whether a loop is running.
    """

    def __init__(
        self,
        model: PredictBatch,
        max_batch: int,
        on_batch: Callable[[int], None] = lambda rows: None,
        on_crash: Callable[[BaseException], None] = lambda error: None,
    ):
        self.model, self.max_batch, self.on_batch, self.on_crash = model, max_batch, on_batch, on_crash
        self.queue: asyncio.Queue = asyncio.Queue()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="age-model")
        self.task: asyncio.Task | None = None
        self.stopping = False

    def start(self) -> None:
        self.stopping = False
        self.task = asyncio.create_task(self._run())
        self.task.add_done_callback(self._restart)

    async def stop(self) -> None:
        self.stopping = True
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.executor.shutdown(wait=False)

    @property
    def alive(self) -> bool:
        return self.task is not None and not self.task.done()

    async def predict(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((np.stack(arrays), future))
        return await future

    def _restart(self, task: asyncio.Task) -> None:
        if self.stopping or task.cancelled():
            return
        error = task.exception()
        if error is not None:
            self.on_crash(error)
        self.start()

    async def _run(self) -> None:
        while True:
            waiting = [await self.queue.get()]
            while not self.queue.empty() and sum(len(a) for a, _ in waiting) < self.max_batch:
                waiting.append(self.queue.get_nowait())
            waiting = [(a, f) for a, f in waiting if not f.cancelled()]  # timed out while waiting
            try:
                await self._answer(waiting)
            except Exception as error:
                _fail(waiting, error)
                raise

    async def _answer(self, waiting: list) -> None:
        if not waiting:
            return
        images = np.concatenate([a for a, _ in waiting])
        age_chunks: list[np.ndarray] = []
        scale_chunks: list[np.ndarray | None] = []
        for start in range(0, len(images), self.max_batch):
            chunk = images[start : start + self.max_batch]
            self.on_batch(len(chunk))
            try:
                age, scale = await asyncio.get_running_loop().run_in_executor(self.executor, self.model, chunk)
            except Exception as error:  # noqa: BLE001 - a model error goes to these requests; the loop goes on
                _fail(waiting, error)
                return
            age_chunks.append(age)
            scale_chunks.append(scale)
        ages = np.concatenate(age_chunks)
        scales = None if scale_chunks[0] is None else np.concatenate(cast(list[np.ndarray], scale_chunks))
        start = 0
        for arrays, future in waiting:
            end = start + len(arrays)
            if not future.done():
                future.set_result((ages[start:end], None if scales is None else scales[start:end]))
            start = end


def _fail(waiting: list, error: BaseException) -> None:
    """Hand `error` to every waiting request that has no answer yet."""
    for _, future in waiting:
        if not future.done():
            future.set_exception(error)
