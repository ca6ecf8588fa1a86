"""A TableStore proxy that counts round trips per operation (for benchmarks and round-trip budgets in tests)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Mapping, Sequence

from bot.jobs.background import BACKGROUND_TASK_PREFIX
from storage.base import BatchOp, Row, TableStore, Value, Where


class CountingStore:
    """Delegates to ``inner`` and counts every call; ``total`` is the number of round trips since ``reset()``.

    Calls made from a task named with ``BACKGROUND_TASK_PREFIX`` are counted in ``background`` instead of
    ``calls``: they belong to no request, and would otherwise land in whichever turn happens to be running.
    """

    def __init__(self, inner: TableStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.background: Counter[str] = Counter()

    def _count(self, key: str) -> None:
        task = asyncio.current_task()
        if task is not None and task.get_name().startswith(BACKGROUND_TASK_PREFIX):
            self.background[key] += 1
        else:
            self.calls[key] += 1

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()
        self.background.clear()

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        self._count(f"get:{table}")
        return await self.inner.get(table, partition_key, row_key)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._count(f"insert:{table}")
        return await self.inner.insert(table, partition_key, row_key, data)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._count(f"upsert:{table}")
        return await self.inner.upsert(table, partition_key, row_key, data)

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        self._count(f"update:{table}")
        return await self.inner.update(table, partition_key, row_key, data, etag=etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        self._count(f"delete:{table}")
        await self.inner.delete(table, partition_key, row_key, etag=etag)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        self._count(f"query:{table}")
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        self._count(f"batch:{table}")
        return await self.inner.batch(table, partition_key, ops)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
