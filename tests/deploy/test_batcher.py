"""The service's model loop: batching, a model error handed to its requests, and supervision after a crash."""

import asyncio

import numpy as np
import pytest

from age_lightning.deploy.batcher import Batcher


class DoubleModel:
    """ages = 2 x the first pixel; scales = 1; records the rows of every run."""

    def __init__(self):
        self.runs = []

    def __call__(self, images):
        self.runs.append(len(images))
        return images[:, 0, 0, 0] * 2, np.ones(len(images), np.float32)


def faces(*values):
    return [np.full((3, 4, 4), v, np.float32) for v in values]


def test_waiting_requests_share_runs_of_at_most_max_batch_rows():
    model = DoubleModel()

    async def main():
        batcher = Batcher(model, max_batch=4)
        batcher.start()
        answers = await asyncio.gather(*(batcher.predict(faces(i, i + 0.5, i + 0.25)) for i in range(5)))
        await batcher.stop()
        return answers

    answers = asyncio.run(main())
    for i, (ages, scales) in enumerate(answers):
        assert ages.tolist() == [2 * i, 2 * i + 1, 2 * i + 0.5] and scales.tolist() == [1, 1, 1]
    assert max(model.runs) <= 4 and sum(model.runs) == 15 and len(model.runs) < 15


def test_a_model_error_goes_to_its_requests_and_the_loop_goes_on():
    model = DoubleModel()
    failing = {"left": 1}

    def flaky(images):
        if failing["left"]:
            failing["left"] -= 1
            raise RuntimeError("onnxruntime failed")
        return model(images)

    async def main():
        batcher = Batcher(flaky, max_batch=8)
        batcher.start()
        with pytest.raises(RuntimeError, match="onnxruntime"):
            await batcher.predict(faces(1))
        ages, _ = await batcher.predict(faces(3))
        alive = batcher.alive
        await batcher.stop()
        return ages, alive

    ages, alive = asyncio.run(main())
    assert ages.tolist() == [6] and alive


def test_a_crashed_loop_fails_its_requests_is_reported_and_restarted():
    crashes = []

    async def main():
        batcher = Batcher(DoubleModel(), max_batch=8, on_crash=crashes.append)
        batcher.start()
        broken = asyncio.get_running_loop().create_future()
        await batcher.queue.put((None, broken))  # a bug's worth of input: the loop itself raises
        with pytest.raises(ValueError):
            await broken
        await asyncio.sleep(0)
        ages, _ = await batcher.predict(faces(2))  # served by the restarted loop
        alive = batcher.alive
        await batcher.stop()
        return ages, alive, batcher.alive

    ages, alive, after_stop = asyncio.run(main())
    assert ages.tolist() == [4] and alive and not after_stop
    assert len(crashes) == 1 and isinstance(crashes[0], ValueError)
