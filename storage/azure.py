"""Azure Table Storage implementation of :class:`~storage.base.TableStore` (production backend).

Inputs are validated by the same ``storage.base`` checks as SQLite before anything is sent, and every Azure SDK
error is translated into the project's errors, so callers cannot tell the backends apart.

The SDK (azure-data-tables) holds the credential, retries, timeouts and transport: its pipeline. Entity requests
and transactions are written and read by :mod:`storage.azure_rest` and :mod:`storage.azure_batch` and sent through
that pipeline, because the SDK's own operations cost several times their CPU (measured there); tables are created
and the service pinged through the SDK's own calls.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from azure.core.credentials import AzureNamedKeyCredential, AzureSasCredential
from azure.core.credentials_async import AsyncTokenCredential
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceExistsError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.data.tables.aio import TableClient, TableServiceClient

from . import azure_rest as rest
from .azure_batch import transact
from .azure_rest import ServiceRefused
from .base import (
    AlreadyExists,
    BatchOp,
    EntityTooLarge,
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

# Few, quick retries (the SDK itself retries throttling, 5xx, timeouts and refused connections) and short timeouts:
# a refused connection surfaces as Unavailable in ~1.5 s, an unroutable host in ~7 s, a hung server in ~25 s.
CLIENT_OPTIONS: dict[str, Any] = {
    "retry_total": 3,
    "retry_connect": 2,
    "retry_read": 2,
    "retry_backoff_factor": 0.2,
    "retry_backoff_max": 2,
    "connection_timeout": 2,
    "read_timeout": 8,
}
# Whatever the SDK's retries add up to, one operation gives up after this long: a hung server must not hold a
# turn past Teams' 5 s invoke limit (the caller gets Unavailable and tells the user to try again).
OPERATION_DEADLINE_S = 4.0

_TOO_LARGE_CODES = frozenset({"EntityTooLarge", "PropertyValueTooLarge", "RequestBodyTooLarge"})


_READ = {"Accept": rest.READ}
_WRITE = {"Accept": rest.READ, "Content-Type": "application/json"}
_INSERT = {**_WRITE, "Prefer": "return-no-content"}


def _written(reply: rest.Reply) -> str:
    """The ETag a write left (204 No Content), or the service's refusal."""
    if reply.status not in (200, 201, 204):
        raise rest.refused(reply)
    return reply.headers.get("etag", "")


def _raise(exc: BaseException, *, conditional: bool = False) -> NoReturn:
    """Translate an Azure SDK / network error into the project's errors."""
    if isinstance(exc, StorageError):
        raise exc
    if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | asyncio.TimeoutError):
        raise Unavailable(f"azure tables unreachable: {exc}") from exc
    if isinstance(exc, ServiceRefused):
        _raise_status(exc, exc.status, exc.code, exc.message, conditional)
    if isinstance(exc, HttpResponseError):
        _raise_status(exc, exc.status_code, _error_code(exc), exc.message or str(exc), conditional)
    if isinstance(exc, AzureError | ValueError):  # ValueError: a reply that is not what the service sends
        raise StorageError(f"azure tables: {exc}") from exc
    raise exc


def _raise_status(exc: BaseException, status: int | None, code: str, message: str, conditional: bool) -> NoReturn:
    if status == 404:
        raise NotFound(message) from exc
    if status == 409 and code == "TableBeingDeleted":
        raise Unavailable(f"azure tables: {message}") from exc
    if status == 409:
        raise AlreadyExists(message) from exc
    if status == 412:
        raise PreconditionFailed(message) from exc
    if status == 413 or code in _TOO_LARGE_CODES:
        raise EntityTooLarge(message) from exc
    # Azurite answers 400 InvalidInput to an If-Match it cannot parse; that ETag cannot match anything.
    if conditional and status == 400 and code == "InvalidInput":
        raise PreconditionFailed(message) from exc
    if status is None or status >= 500 or status in (408, 429):
        raise Unavailable(f"azure tables: {message}") from exc
    raise StorageError(f"azure tables: {message}") from exc


def _environment_options() -> dict[str, Any]:
    """``use_env_settings=False`` when the process has no proxy variables and no .netrc. With it on (the SDK's
    default), aiohttp looks for both on every request, in a worker thread: under mixed_load that lookup (and handing
    it to the thread) took ~20 % of the bot's sampled CPU (py-spy, docs/benchmarks.md). When the process has neither,
    the lookup can only find nothing, so skipping it changes nothing; with either, the SDK's default is kept."""
    import urllib.request

    netrc = os.environ.get("NETRC")
    files = [Path(netrc)] if netrc else [Path.home() / ".netrc", Path.home() / "_netrc"]
    if urllib.request.getproxies() or any(file.is_file() for file in files):
        return {}
    return {"use_env_settings": False}


class AzureTableStore:
    """TableStore over Azure Table Storage (or Azurite)."""

    def __init__(
        self,
        service: TableServiceClient,
        *,
        credential: AsyncTokenCredential | None = None,
        deadline: float = OPERATION_DEADLINE_S,
    ) -> None:
        self._service = service
        self._deadline = deadline
        self._credential = credential  # owned: closed with the store
        self._clients: dict[str, TableClient] = {}
        self._ready: set[str] = set()
        self._creating: dict[str, asyncio.Future[None]] = {}

    @classmethod
    def from_connection_string(cls, connection_string: str, **options: Any) -> AzureTableStore:
        settings = {**CLIENT_OPTIONS, **_environment_options(), **options}
        return cls(TableServiceClient.from_connection_string(connection_string, **settings))

    @classmethod
    def from_account_url(
        cls,
        url: str,
        credential: AsyncTokenCredential | AzureNamedKeyCredential | AzureSasCredential | None = None,
        **options: Any,
    ) -> AzureTableStore:
        """Production: a managed identity / developer login through ``DefaultAzureCredential`` by default."""
        owned: AsyncTokenCredential | None = None
        if credential is None:
            from azure.identity.aio import DefaultAzureCredential

            credential = owned = DefaultAzureCredential()
        settings = {**CLIENT_OPTIONS, **_environment_options(), **options}
        service = TableServiceClient(endpoint=url, credential=credential, **settings)
        return cls(service, credential=owned)

    def __repr__(self) -> str:
        return f"AzureTableStore({self._service.url!r})"

    # -- plumbing --------------------------------------------------------------------------------------------

    async def _table(self, table: str) -> TableClient:
        """The client of ``table``, creating the table on first use (once per store, even when racing)."""
        client = self._clients.get(table)
        if client is None:
            client = self._clients[table] = self._service.get_table_client(table)
        if table not in self._ready:
            pending = self._creating.get(table)
            if pending is None:
                pending = self._creating[table] = asyncio.ensure_future(self._create(client, table))
            try:
                await asyncio.shield(pending)
            finally:
                if pending.done():
                    self._creating.pop(table, None)
        return client

    async def _create(self, client: TableClient, table: str) -> None:
        try:
            async with asyncio.timeout(self._deadline):
                await client.create_table()
            log.info("created table %s", table)
        except ResourceExistsError:
            pass
        except Exception as exc:
            _raise(exc)
        self._ready.add(table)

    async def _call(self, table: str, fn: Callable[[TableClient], Awaitable[T]], *, conditional: bool = False) -> T:
        """Run ``fn`` on the table's client, translating errors. If the table vanished since we created it
        (deleted by an operator, or an emulator restart), create it again and retry once."""
        for attempt in (1, 2):
            client = await self._table(table)
            try:
                async with asyncio.timeout(self._deadline):
                    return await fn(client)
            except (HttpResponseError, ServiceRefused) as exc:
                if attempt == 1 and _error_code(exc) == "TableNotFound":
                    log.warning("table %s disappeared; creating it again", table)
                    self._ready.discard(table)
                    continue
                _raise(exc, conditional=conditional)
            except Exception as exc:
                _raise(exc)
        raise AssertionError("unreachable")

    # -- TableStore ------------------------------------------------------------------------------------------

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        check_row(table, partition_key, row_key)

        async def run(client: TableClient) -> Row:
            reply = await rest.send(client, "GET", rest.entity_url(client, partition_key, row_key), _READ)
            if reply.status != 200:
                raise rest.refused(reply)
            return rest.read_row(reply)

        return await self._call(table, run)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        check_row(table, partition_key, row_key, data)
        body = rest.entity_body(partition_key, row_key, data)

        async def run(client: TableClient) -> str:
            return _written(await rest.send(client, "POST", rest.table_url(client), _INSERT, body))

        etag = await self._call(table, run)
        return Row(partition_key, row_key, to_utc(data), etag)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        check_row(table, partition_key, row_key, data)
        return await self._put(table, partition_key, row_key, data, {})

    async def update(
        self,
        table: str,
        partition_key: str,
        row_key: str,
        data: Mapping[str, Value],
        *,
        etag: str | None = None,
    ) -> Row:
        check_row(table, partition_key, row_key, data)
        return await self._put(table, partition_key, row_key, data, {"If-Match": etag or "*"}, etag is not None)

    async def _put(
        self,
        table: str,
        partition_key: str,
        row_key: str,
        data: Mapping[str, Value],
        condition: Mapping[str, str],
        conditional: bool = False,
    ) -> Row:
        """Insert Or Replace Entity without ``If-Match``, Update Entity (replace) with it."""
        body = rest.entity_body(partition_key, row_key, data)
        headers = {**_WRITE, **condition}

        async def run(client: TableClient) -> str:
            url = rest.entity_url(client, partition_key, row_key)
            return _written(await rest.send(client, "PUT", url, headers, body))

        etag = await self._call(table, run, conditional=conditional)
        return Row(partition_key, row_key, to_utc(data), etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        check_row(table, partition_key, row_key)
        headers = {**_READ, "If-Match": etag or "*"}

        async def run(client: TableClient) -> None:
            reply = await rest.send(client, "DELETE", rest.entity_url(client, partition_key, row_key), headers)
            if reply.status != 204:
                raise rest.refused(reply)

        await self._call(table, run, conditional=etag is not None)

    async def query(
        self,
        table: str,
        partition_key: str | None,
        where: Sequence[Where] = (),
        *,
        limit: int | None = None,
    ) -> list[Row]:
        check_query(table, partition_key, where, limit)
        text = rest.filter_text(partition_key, where)

        async def run(client: TableClient) -> list[Row]:
            rows: list[Row] = []
            after: dict[str, str] = {}
            while True:
                page = min(limit - len(rows), 1000) if limit is not None else None
                reply = await rest.send(client, "GET", rest.query_url(client, text, page, after), _READ)
                if reply.status != 200:
                    raise rest.refused(reply)
                rows.extend(rest.read_rows(reply))
                after = rest.continuation(reply)
                if not after or (limit is not None and len(rows) >= limit):
                    return rows[:limit] if limit is not None else rows

        return await self._call(table, run)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        check_table(table)
        check_batch(partition_key, ops)
        if len(ops) == 1:
            # one operation is atomic on its own, and its plain request is smaller than a transaction of one
            return [await self._single(table, partition_key, ops[0])]

        async def run(client: TableClient) -> list[str]:
            try:
                return await transact(client, partition_key, ops)
            except ServiceRefused as exc:
                # The failing operation decides the error, including whether its ETag was conditional.
                failed = ops[exc.index] if exc.index is not None else None
                log.info("batch on %s/%s failed at op %s: %s", table, partition_key, exc.index, exc.code)
                if exc.code == "TableNotFound":
                    raise
                _raise(exc, conditional=failed is not None and failed.etag is not None)

        etags = await self._call(table, run)
        rows: list[Row | None] = []
        for op, etag in zip(ops, etags, strict=True):
            if op.kind == "delete":
                rows.append(None)
            else:
                rows.append(Row(partition_key, op.row_key, to_utc(op.data), etag))
        return rows

    async def _single(self, table: str, partition_key: str, op: BatchOp) -> Row | None:
        if op.kind == "insert":
            return await self.insert(table, partition_key, op.row_key, op.data)
        if op.kind == "upsert":
            return await self.upsert(table, partition_key, op.row_key, op.data)
        if op.kind == "update":
            return await self.update(table, partition_key, op.row_key, op.data, etag=op.etag)
        await self.delete(table, partition_key, op.row_key, etag=op.etag)
        return None

    async def ping(self) -> None:
        # Listing one table needs only data-plane read rights (unlike service properties under Entra ID roles).
        try:
            async with asyncio.timeout(self._deadline):
                async for _ in self._service.list_tables(results_per_page=1):
                    break
        except Exception as exc:
            _raise(exc)

    async def close(self) -> None:
        for pending in self._creating.values():
            pending.cancel()
        self._creating.clear()
        await self._service.close()
        if self._credential is not None:
            await self._credential.close()


def _error_code(exc: HttpResponseError | ServiceRefused) -> str:
    if isinstance(exc, ServiceRefused):
        return exc.code
    code = getattr(exc, "error_code", None)
    # The SDK gives a TableErrorCode enum for codes it knows and a plain string otherwise.
    code = getattr(code, "value", code)
    if not code:
        # create_entity's errors come without error_code (seen after an emulator restart: TableNotFound); the
        # service always sends the code in a header too
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        code = headers.get("x-ms-error-code") if headers is not None else None
    return str(code or "")
