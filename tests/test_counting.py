"""The counting proxy counts one round trip per call and changes nothing else."""

from __future__ import annotations

import asyncio

from bench.counting import CountingStore
from bot.jobs.background import BACKGROUND_TASK_PREFIX
from storage.base import BatchOp
from storage.sqlite import SqliteStore


async def test_counts_each_operation_once() -> None:
    store = CountingStore(SqliteStore(":memory:"))
    await store.insert("things", "p", "a", {"n": 1})
    row = await store.get("things", "p", "a")
    await store.update("things", "p", "a", {"n": 2}, etag=row.etag)
    await store.upsert("things", "p", "b", {"n": 3})
    await store.batch("things", "p", [BatchOp("delete", "b")])
    assert [r.row_key for r in await store.query("things", "p")] == ["a"]
    await store.delete("things", "p", "a")
    assert store.total == 7
    assert store.calls["get:things"] == 1
    store.reset()
    assert store.total == 0
    await store.close()


async def test_calls_from_background_tasks_are_counted_apart() -> None:
    store = CountingStore(SqliteStore(":memory:"))
    await store.upsert("things", "p", "a", {"n": 1})

    async def refresh() -> None:
        await store.get("things", "p", "a")

    await asyncio.get_running_loop().create_task(refresh(), name=f"{BACKGROUND_TASK_PREFIX}refresh")
    await asyncio.get_running_loop().create_task(refresh(), name="a-turn")
    assert dict(store.calls) == {"upsert:things": 1, "get:things": 1}
    assert dict(store.background) == {"get:things": 1}
    assert store.total == 2
    store.reset()
    assert not store.background
    await store.close()
