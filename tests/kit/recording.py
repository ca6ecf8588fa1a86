"""A TableStore proxy that records which tables the app touches, and snapshots of everything in them.

Tests use it to discover the tables a journey wrote (so a sweep covers tables added by features written later)
and to prove that refused input changed nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from storage.base import BatchOp, Row, TableStore, Value, Where

Snapshot = dict[tuple[str, str, str], dict[str, Any]]


class RecordingStore:
    def __init__(self, inner: TableStore) -> None:
        self.inner = inner
        self.touched: set[str] = set()
        self.written: set[str] = set()
        self.writes: list[str] = []  # every write call's table, in order (tests slice it per request)

    def _seen(self, table: str, *, write: bool = False) -> None:
        self.touched.add(table)
        if write:
            self.written.add(table)
            self.writes.append(table)

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        self._seen(table)
        return await self.inner.get(table, partition_key, row_key)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._seen(table, write=True)
        return await self.inner.insert(table, partition_key, row_key, data)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._seen(table, write=True)
        return await self.inner.upsert(table, partition_key, row_key, data)

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        self._seen(table, write=True)
        return await self.inner.update(table, partition_key, row_key, data, etag=etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        self._seen(table, write=True)
        await self.inner.delete(table, partition_key, row_key, etag=etag)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        self._seen(table)
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        self._seen(table, write=True)
        return await self.inner.batch(table, partition_key, ops)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()

    async def snapshot(self, tables: set[str] | None = None) -> Snapshot:
        """Every row of ``tables`` (default: every table touched so far), without ETags."""
        result: Snapshot = {}
        for table in sorted(tables if tables is not None else self.touched):
            for row in await self.inner.query(table, None):
                result[(table, row.partition_key, row.row_key)] = dict(row.data)
        return result


def changed_tables(before: Snapshot, after: Snapshot) -> set[str]:
    keys = set(before) | set(after)
    return {key[0] for key in keys if before.get(key) != after.get(key)}
