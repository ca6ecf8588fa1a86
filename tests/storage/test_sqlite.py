"""SQLite-specific behaviour the contract cannot see: files, WAL, the worker thread, closing."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from storage import BatchOp, StorageError, Where
from storage.sqlite import SqliteStore


async def test_memory_database() -> None:
    store = SqliteStore(":memory:")
    try:
        await store.insert("things", "p", "r", {"a": 1})
        assert (await store.get("things", "p", "r"))["a"] == 1
    finally:
        await store.close()


async def test_creates_parent_dirs_uses_wal_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    store = SqliteStore(path)
    await store.insert("things", "p", "r", {"a": 1})
    await store.close()
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    reopened = SqliteStore(str(path))
    try:
        assert (await reopened.get("things", "p", "r"))["a"] == 1
    finally:
        await reopened.close()


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.ping()
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StorageError):
        await store.ping()


async def test_filter_values_are_type_strict(tmp_path: Path) -> None:
    """Like Azure Tables (not Azurite, which compares loosely): a condition matches only its own type."""
    store = SqliteStore(tmp_path / "s.db")
    try:
        await store.insert("things", "p", "int", {"v": 5})
        await store.insert("things", "p", "str", {"v": "5"})
        await store.insert("things", "p", "flt", {"v": 5.0})
        await store.insert("things", "p", "bool", {"v": True})
        await store.insert("things", "p", "bytes", {"v": b"5"})
        assert [r.row_key for r in await store.query("things", "p", [Where("v", "ge", 1)])] == ["int"]
        assert [r.row_key for r in await store.query("things", "p", [Where("v", "ge", 1.0)])] == ["flt"]
        assert [r.row_key for r in await store.query("things", "p", [Where("v", "eq", "5")])] == ["str"]
        assert [r.row_key for r in await store.query("things", "p", [Where("v", "eq", True)])] == ["bool"]
        assert [r.row_key for r in await store.query("things", "p", [Where("v", "eq", b"5")])] == ["bytes"]
    finally:
        await store.close()


async def test_work_runs_off_the_event_loop(tmp_path: Path) -> None:
    """A heartbeat keeps ticking while a large batch is written."""
    store = SqliteStore(tmp_path / "s.db")
    ticks = 0
    stop = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0)

    try:
        beat = asyncio.create_task(heartbeat())
        started = time.perf_counter()
        for n in range(10):
            ops = [BatchOp("upsert", f"r{i:03d}", {"s": "x" * 30_000, "n": i}) for i in range(100)]
            await store.batch("things", f"p{n}", ops)
        elapsed = time.perf_counter() - started
        stop.set()
        await beat
        assert ticks > 10, (ticks, elapsed)
        assert len(await store.query("things", None, limit=1000)) == 1000
    finally:
        await store.close()
