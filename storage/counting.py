"""A TableStore proxy that counts round trips per operation (for benchmarks and round-trip budgets in tests)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from storage.base import BatchOp, Row, TableStore, Value, Where


class CountingStore:
    """Delegates to ``inner`` and counts every call; ``total`` is the number of round trips since ``reset()``."""

    def __init__(self, inner: TableStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def reset(self) -> None:
        self.calls.clear()

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        self.calls[f"get:{table}"] += 1
        return await self.inner.get(table, partition_key, row_key)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self.calls[f"insert:{table}"] += 1
        return await self.inner.insert(table, partition_key, row_key, data)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self.calls[f"upsert:{table}"] += 1
        return await self.inner.upsert(table, partition_key, row_key, data)

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        self.calls[f"update:{table}"] += 1
        return await self.inner.update(table, partition_key, row_key, data, etag=etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        self.calls[f"delete:{table}"] += 1
        await self.inner.delete(table, partition_key, row_key, etag=etag)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        self.calls[f"query:{table}"] += 1
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        self.calls[f"batch:{table}"] += 1
        return await self.inner.batch(table, partition_key, ops)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
