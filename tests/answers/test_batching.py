"""Questions that queue behind the encoder are encoded together, each caller gets its own text's vector, and
errors and cancelled callers are handled."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from bot.answers.batching import QuestionBatcher
from bot.answers.ranker import FloatArray


class GatedEncoder:
    """Encodes text i as a vector holding len(text); each call waits until the test opens the gate."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()
        self.fail = False

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.calls.append(list(texts))
        assert self.gate.wait(10)
        if self.fail:
            raise RuntimeError("model broke")
        return np.asarray([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


@pytest.fixture
def worker() -> Any:
    pool = ThreadPoolExecutor(max_workers=1)
    yield pool
    pool.shutdown(wait=True)


def runner(pool: ThreadPoolExecutor) -> Any:
    async def run(fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    return run


async def until(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_lone_question_is_encoded_at_once(worker: ThreadPoolExecutor) -> None:
    encoder = GatedEncoder()
    encoder.gate.set()
    batcher = QuestionBatcher(encoder, runner(worker))
    vector = await batcher.vector("how do I join?")
    assert vector.tolist() == [14.0, 1.0]
    assert encoder.calls == [["how do I join?"]]


async def test_questions_waiting_behind_a_batch_are_encoded_together(worker: ThreadPoolExecutor) -> None:
    encoder = GatedEncoder()
    batcher = QuestionBatcher(encoder, runner(worker), max_batch=4)
    first = asyncio.create_task(batcher.vector("a"))
    await until(lambda: len(encoder.calls) == 1)  # the first question is being encoded; six more arrive
    rest = [asyncio.create_task(batcher.vector("b" * n)) for n in range(2, 8)]
    await asyncio.sleep(0.05)
    encoder.gate.set()
    assert (await first).tolist() == [1.0, 1.0]
    assert [(await task).tolist()[0] for task in rest] == [2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert [len(call) for call in encoder.calls] == [1, 4, 2]
    assert list(batcher.batches) == [1, 4, 2]


async def test_an_error_reaches_every_waiting_caller_and_the_next_batch_runs(worker: ThreadPoolExecutor) -> None:
    encoder = GatedEncoder()
    batcher = QuestionBatcher(encoder, runner(worker))
    encoder.fail = True
    waiting = [asyncio.create_task(batcher.vector(text)) for text in ("one", "two")]
    await until(lambda: len(encoder.calls) == 1)
    encoder.gate.set()
    for task in waiting:
        with pytest.raises(RuntimeError, match="model broke"):
            await task
    encoder.fail = False
    assert (await batcher.vector("three")).tolist() == [5.0, 1.0]


async def test_a_cancelled_caller_is_skipped_and_others_are_answered(worker: ThreadPoolExecutor) -> None:
    encoder = GatedEncoder()
    batcher = QuestionBatcher(encoder, runner(worker))
    first = asyncio.create_task(batcher.vector("first"))
    await until(lambda: len(encoder.calls) == 1)
    gone = asyncio.create_task(batcher.vector("gone"))
    stays = asyncio.create_task(batcher.vector("stays"))
    await asyncio.sleep(0.01)
    gone.cancel()
    encoder.gate.set()
    assert (await first).tolist()[0] == 5.0
    assert (await stays).tolist()[0] == 5.0
    assert gone.cancelled()
    assert encoder.calls == [["first"], ["stays"]]
