"""SQLite implementation of :class:`~storage.base.TableStore`: the embedded default backend.

All database work runs on one dedicated worker thread with one connection, so the event loop never blocks and
every operation (including a whole batch) is serialised, which is what makes ETag checks atomic.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import secrets
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from .base import (
    AlreadyExists,
    BatchOp,
    NotFound,
    PreconditionFailed,
    Row,
    StorageError,
    Unavailable,
    Value,
    Where,
    check_batch,
    check_query,
    check_row,
    check_table,
    to_utc,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    tbl   TEXT NOT NULL,
    pk    TEXT NOT NULL,
    rk    TEXT NOT NULL,
    data  TEXT NOT NULL,
    types TEXT NOT NULL,
    etag  TEXT NOT NULL,
    PRIMARY KEY (tbl, pk, rk)
) WITHOUT ROWID
"""

_SQL_OPS = {"eq": "=", "ne": "!=", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

# Type tags for values JSON cannot tell apart from strings. Ints, floats and bools keep their JSON types
# (SQLite's json_type() says 'integer', 'real', 'true'/'false'), so they need no tag.
_DT = "dt"
_BYTES = "bytes"


def _iso(value: datetime) -> str:
    # Fixed width UTC ('YYYY-MM-DDTHH:MM:SS.ffffff+00:00') so that string order is time order.
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def _encode(data: Mapping[str, Value]) -> tuple[str, str]:
    out: dict[str, Any] = {}
    types: dict[str, str] = {}
    for name, value in data.items():
        if isinstance(value, datetime):
            out[name] = _iso(value)
            types[name] = _DT
        elif isinstance(value, bytes):
            out[name] = base64.b64encode(value).decode("ascii")
            types[name] = _BYTES
        else:
            out[name] = value
    return json.dumps(out, allow_nan=False), json.dumps(types)


def _decode(data: str, types: str) -> dict[str, Value]:
    values: dict[str, Value] = json.loads(data)
    for name, tag in json.loads(types).items():
        raw = values[name]
        assert isinstance(raw, str)
        values[name] = datetime.fromisoformat(raw) if tag == _DT else base64.b64decode(raw)
    return values


def _param(value: Value) -> Any:
    """A filter value as SQLite sees it inside the stored JSON."""
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, bool):
        return int(value)
    return value


def _compile(where: Sequence[Where]) -> tuple[str, list[Any]]:
    """Compile conditions to SQL. Names only ever reach SQL as bound JSON paths, values as bound parameters.

    A condition only matches properties of the value's own type (as Azure Tables does), so a missing
    property or a string "5" never satisfies ``n gt 4``, not even with ``ne``.
    """
    clauses: list[str] = []
    params: list[Any] = []
    for cond in where:
        op = _SQL_OPS[cond.op]
        if cond.name in ("RowKey", "PartitionKey"):
            clauses.append(f"{'rk' if cond.name == 'RowKey' else 'pk'} {op} ?")
            params.append(cond.value)
            continue
        path = f'$."{cond.name}"'
        value = cond.value
        if isinstance(value, bool):
            guard, guard_params = "json_type(data, ?) IN ('true', 'false')", [path]
        elif isinstance(value, int):
            guard, guard_params = "json_type(data, ?) = 'integer'", [path]
        elif isinstance(value, float):
            guard, guard_params = "json_type(data, ?) = 'real'", [path]
        elif isinstance(value, datetime):
            guard, guard_params = "json_extract(types, ?) = 'dt'", [path]
        elif isinstance(value, bytes):
            guard, guard_params = "json_extract(types, ?) = 'bytes'", [path]
        else:
            guard, guard_params = "json_type(data, ?) = 'text' AND json_extract(types, ?) IS NULL", [path, path]
        clauses.append(f"({guard} AND json_extract(data, ?) {op} ?)")
        params.extend([*guard_params, path, _param(value)])
    return " AND ".join(clauses), params


def _new_etag() -> str:
    return f'W/"{secrets.token_hex(10)}"'


class SqliteStore:
    """TableStore over one SQLite file (or ``":memory:"``)."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"SqliteStore({self._path!r})"

    # -- plumbing --------------------------------------------------------------------------------------------

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise StorageError("the store is closed")
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self._call, fn, *args))

    def _call(self, fn: Callable[..., T], *args: Any) -> T:
        # Runs on the worker thread.
        try:
            conn = self._conn or self._open()
            return fn(conn, *args)
        except (sqlite3.OperationalError, OSError) as exc:
            # Locked, disk full, I/O error, unreadable file: the caller may retry later.
            log.warning("sqlite store %s unavailable: %s", self._path, exc)
            raise Unavailable(f"sqlite: {exc}") from exc
        except sqlite3.Error as exc:
            raise StorageError(f"sqlite: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        if self._path != ":memory:" and not self._path.startswith("file:"):
            Path(self._path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, with explicit BEGIN IMMEDIATE around every write.
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=10)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(_SCHEMA)
        self._conn = conn
        return conn

    @staticmethod
    def _write(conn: sqlite3.Connection, fn: Callable[[], T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn()
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    # -- single-row primitives (worker thread, inside a transaction for writes) ------------------------------

    @staticmethod
    def _etag_of(conn: sqlite3.Connection, table: str, pk: str, rk: str) -> str | None:
        cur = conn.execute("SELECT etag FROM entities WHERE tbl = ? AND pk = ? AND rk = ?", (table, pk, rk))
        found = cur.fetchone()
        return None if found is None else str(found[0])

    @classmethod
    def _apply(
        cls,
        conn: sqlite3.Connection,
        table: str,
        pk: str,
        kind: str,
        rk: str,
        data: Mapping[str, Value],
        etag: str | None,
    ) -> Row | None:
        current = cls._etag_of(conn, table, pk, rk)
        if kind == "insert" and current is not None:
            raise AlreadyExists(f"{table}/{pk}/{rk} already exists")
        if kind in ("update", "delete"):
            if current is None:
                raise NotFound(f"{table}/{pk}/{rk} does not exist")
            if etag is not None and etag != current:
                raise PreconditionFailed(f"{table}/{pk}/{rk} was changed by someone else")
        if kind == "delete":
            conn.execute("DELETE FROM entities WHERE tbl = ? AND pk = ? AND rk = ?", (table, pk, rk))
            return None
        body, types = _encode(data)
        new = _new_etag()
        conn.execute(
            "INSERT OR REPLACE INTO entities (tbl, pk, rk, data, types, etag) VALUES (?, ?, ?, ?, ?, ?)",
            (table, pk, rk, body, types, new),
        )
        return Row(pk, rk, to_utc(data), new)

    def _write_one(
        self,
        conn: sqlite3.Connection,
        table: str,
        pk: str,
        kind: str,
        rk: str,
        data: Mapping[str, Value],
        etag: str | None,
    ) -> Row | None:
        return self._write(conn, lambda: self._apply(conn, table, pk, kind, rk, data, etag))

    @staticmethod
    def _get(conn: sqlite3.Connection, table: str, pk: str, rk: str) -> Row:
        cur = conn.execute(
            "SELECT data, types, etag FROM entities WHERE tbl = ? AND pk = ? AND rk = ?", (table, pk, rk)
        )
        found = cur.fetchone()
        if found is None:
            raise NotFound(f"{table}/{pk}/{rk} does not exist")
        return Row(pk, rk, _decode(found[0], found[1]), found[2])

    @staticmethod
    def _query(
        conn: sqlite3.Connection, table: str, pk: str | None, where: Sequence[Where], limit: int | None
    ) -> list[Row]:
        sql = "SELECT pk, rk, data, types, etag FROM entities WHERE tbl = ?"
        params: list[Any] = [table]
        if pk is not None:
            sql += " AND pk = ?"
            params.append(pk)
        if where:
            clause, more = _compile(where)
            sql += " AND " + clause
            params.extend(more)
        sql += " ORDER BY pk, rk"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return [Row(r[0], r[1], _decode(r[2], r[3]), r[4]) for r in conn.execute(sql, params)]

    # -- TableStore ------------------------------------------------------------------------------------------

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        check_row(table, partition_key, row_key)
        return await self._run(self._get, table, partition_key, row_key)

    async def _single(
        self, kind: str, table: str, pk: str, rk: str, data: Mapping[str, Value] | None, etag: str | None
    ) -> Row | None:
        check_row(table, pk, rk, data)
        return await self._run(self._write_one, table, pk, kind, rk, data or {}, etag)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        row = await self._single("insert", table, partition_key, row_key, data, None)
        assert row is not None
        return row

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        row = await self._single("upsert", table, partition_key, row_key, data, None)
        assert row is not None
        return row

    async def update(
        self,
        table: str,
        partition_key: str,
        row_key: str,
        data: Mapping[str, Value],
        *,
        etag: str | None = None,
    ) -> Row:
        row = await self._single("update", table, partition_key, row_key, data, etag)
        assert row is not None
        return row

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        await self._single("delete", table, partition_key, row_key, None, etag)

    async def query(
        self,
        table: str,
        partition_key: str | None,
        where: Sequence[Where] = (),
        *,
        limit: int | None = None,
    ) -> list[Row]:
        check_query(table, partition_key, where, limit)
        return await self._run(self._query, table, partition_key, tuple(where), limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        check_table(table)
        check_batch(partition_key, ops)
        ops = tuple(ops)

        def run(conn: sqlite3.Connection) -> list[Row | None]:
            def all_ops() -> list[Row | None]:
                return [self._apply(conn, table, partition_key, op.kind, op.row_key, op.data, op.etag) for op in ops]

            return self._write(conn, all_ops)

        return await self._run(run)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def close(self) -> None:
        if self._closed:
            return
        if self._executor is not None and self._conn is not None:
            await self._run(lambda conn: conn.close())
        self._closed = True
        if self._executor is not None:
            # The worker is idle once the close above has run, so this does not block the loop for long.
            self._executor.shutdown(wait=False)
            self._executor = None
        self._conn = None
