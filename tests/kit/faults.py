"""Storage faults on demand: a TCP proxy on 127.0.0.1 between the app and a backend (Azurite) that tests can cut,
black-hole and restore, so a storage outage can be injected without losing the emulator's in-memory data; and
``FailingStore``, a TableStore proxy that raises instead of calling its backend (no emulator needed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from storage.base import BatchOp, Row, StorageError, TableStore, Unavailable, Value, Where
from tests.kit.azurite import free_port

Mode = Literal["pass", "refuse", "hang"]


class FlakyProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.mode: Mode = "pass"
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def set_mode(self, mode: Mode) -> None:
        """``refuse``: the port is closed (connection refused); ``hang``: connections are accepted and never
        answered; ``pass``: traffic flows. Switching drops every open connection, like a network cut."""
        self.mode = mode
        self._drop_connections()
        if mode == "refuse":
            await self._stop_listening()
        elif self._server is None:
            await self.start()

    async def close(self) -> None:
        self._drop_connections()
        await self._stop_listening()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _drop_connections(self) -> None:
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.mode == "hang":
            return  # keep the socket open, never answer
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pipe(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            sink.close()


class FailingStore:
    """A TableStore proxy that, while ``down``, raises ``error()`` (default: ``Unavailable``, what the backends
    raise when they cannot reach storage) from every call except those on the ``spared`` tables (e.g. to let a
    turn take its redelivery claim and fail after it). ``ping`` follows ``down`` too, so readiness reports it."""

    def __init__(
        self,
        inner: TableStore,
        error: Callable[[], StorageError] = lambda: Unavailable("injected storage outage"),
    ) -> None:
        self.inner = inner
        self.error = error
        self.down = False
        self.spared: frozenset[str] = frozenset()
        self.failures = 0

    def _check(self, table: str | None = None) -> None:
        if self.down and table not in self.spared:
            self.failures += 1
            raise self.error()

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        self._check(table)
        return await self.inner.get(table, partition_key, row_key)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._check(table)
        return await self.inner.insert(table, partition_key, row_key, data)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._check(table)
        return await self.inner.upsert(table, partition_key, row_key, data)

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        self._check(table)
        return await self.inner.update(table, partition_key, row_key, data, etag=etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        self._check(table)
        await self.inner.delete(table, partition_key, row_key, etag=etag)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        self._check(table)
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        self._check(table)
        return await self.inner.batch(table, partition_key, ops)

    async def ping(self) -> None:
        self._check()
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
