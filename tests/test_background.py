"""Work a turn leaves running: kept until it ends, waited for by settle (including work it starts), and a failure
logged once with the work's name."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.jobs.background import BACKGROUND_TASK_PREFIX, Background


async def test_settle_waits_for_work_and_the_work_it_starts() -> None:
    background = Background()
    done: list[str] = []
    names: list[str] = []

    async def second() -> None:
        await asyncio.sleep(0.02)
        done.append("second")

    async def first() -> None:
        task = asyncio.current_task()
        assert task is not None
        names.append(task.get_name())
        await asyncio.sleep(0.01)
        background.start("second", second())
        done.append("first")

    background.start("first", first())
    await background.settle()
    assert done == ["first", "second"]
    assert names == [f"{BACKGROUND_TASK_PREFIX}first"]  # counted apart from the turn's storage round trips


async def test_a_failure_is_logged_once_with_the_works_name_and_does_not_stop_the_rest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    background = Background()
    finished: list[bool] = []

    async def broken() -> None:
        raise RuntimeError("boom")

    async def fine() -> None:
        await asyncio.sleep(0.01)
        finished.append(True)

    with caplog.at_level(logging.ERROR, logger="bot.jobs.background"):
        background.start("import-abc", broken())
        background.start("press", fine())
        await background.settle()
    assert finished == [True]
    [record] = [r for r in caplog.records if r.name == "bot.jobs.background"]
    assert record.getMessage() == "background work stopped name=import-abc"
    assert record.exc_info is not None
