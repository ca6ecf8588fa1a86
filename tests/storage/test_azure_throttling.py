"""Azure throttling and server errors, answered by a proxy in front of Azurite: every operation's request goes
through the table client's pipeline, whose retries get past a few refusals; refusals that go on are Unavailable
within the operation's deadline, and nothing is written twice. A reply that is not the service's is a StorageError."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from storage import BatchOp, StorageError, Unavailable, Where
from storage.azure import OPERATION_DEADLINE_S, AzureTableStore
from tests.kit.azurite import ACCOUNT, KEY, Azurite

pytestmark = pytest.mark.azurite

BUSY = b'{"odata.error":{"code":"ServerBusy","message":{"lang":"en-US","value":"The server is busy."}}}'
_HOP = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class ThrottlingProxy:
    """Forwards to Azurite, except that the next ``refuse`` requests get ``status`` and ``body`` (503 ServerBusy by
    default)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.refuse = 0
        self.status = 503
        self.body = BUSY
        self.seen: list[str] = []
        self.request_ids: list[str] = []  # each request's x-ms-client-request-id, as it arrived
        self._session: aiohttp.ClientSession | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/{ACCOUNT}"

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        self.seen.append(f"{request.method} {request.path}")
        self.request_ids.append(request.headers.get("x-ms-client-request-id", ""))
        body = await request.read()
        if self.refuse > 0:
            self.refuse -= 1
            headers = {"x-ms-error-code": "ServerBusy", "Retry-After": "0"}
            return web.Response(status=self.status, body=self.body, headers=headers, content_type="application/json")
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        url = URL(self.target + request.raw_path, encoded=True)  # as sent: the signature covers the path
        data = body or None  # no body, no Content-Type: the signature covers it
        async with self._session.request(request.method, url, headers=headers, data=data) as answer:
            content = await answer.read()
            out = {k: v for k, v in answer.headers.items() if k.lower() not in _HOP}
            return web.Response(status=answer.status, body=content, headers=out)


@pytest.fixture
async def proxied(azurite: Azurite) -> AsyncIterator[tuple[AzureTableStore, ThrottlingProxy]]:
    proxy = ThrottlingProxy(f"http://127.0.0.1:{azurite.port}")
    await proxy.start()
    store = AzureTableStore.from_connection_string(
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};TableEndpoint={proxy.url};"
    )
    try:
        yield store, proxy
    finally:
        await store.close()
        await proxy.close()


@pytest.fixture
def table() -> str:
    return "t" + uuid.uuid4().hex[:12]  # the emulator lives for the whole run


Operation = Callable[[AzureTableStore, str], Awaitable[object]]
OPERATIONS: dict[str, Operation] = {
    "get": lambda s, t: s.get(t, "p", "seed"),
    "insert": lambda s, t: s.insert(t, "p", "new", {"v": 1}),
    "upsert": lambda s, t: s.upsert(t, "p", "seed", {"v": 2}),
    "update": lambda s, t: s.update(t, "p", "seed", {"v": 3}),
    "delete": lambda s, t: s.delete(t, "p", "seed"),
    "query": lambda s, t: s.query(t, "p", [Where("v", "ge", 0)]),
    "batch": lambda s, t: s.batch(t, "p", [BatchOp("insert", "a", {"v": 1}), BatchOp("upsert", "seed", {"v": 4})]),
}


@pytest.mark.parametrize("status", [503, 429, 500])
@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_a_few_refusals_are_retried_and_the_operation_lands_once(
    proxied: tuple[AzureTableStore, ThrottlingProxy], table: str, name: str, status: int
) -> None:
    store, proxy = proxied
    await store.insert(table, "p", "seed", {"v": 0})
    proxy.seen.clear()
    proxy.request_ids.clear()
    proxy.refuse, proxy.status = 2, status
    await OPERATIONS[name](store, table)
    assert len(proxy.seen) == 3  # two refused, the third answered
    assert len(set(proxy.seen)) == 1  # the same request each time
    first = proxy.request_ids[0]
    assert first
    assert proxy.request_ids == [first] * 3  # one client request id, kept by the retries (for support)
    rows = {row.row_key: row.data for row in await store.query(table, "p")}
    expected = {
        "get": {"seed": {"v": 0}},
        "insert": {"seed": {"v": 0}, "new": {"v": 1}},
        "upsert": {"seed": {"v": 2}},
        "update": {"seed": {"v": 3}},
        "delete": {},
        "query": {"seed": {"v": 0}},
        "batch": {"seed": {"v": 4}, "a": {"v": 1}},
    }[name]
    assert rows == expected


async def test_each_request_has_a_client_request_id_of_its_own(
    proxied: tuple[AzureTableStore, ThrottlingProxy], table: str
) -> None:
    store, proxy = proxied
    await store.insert(table, "p", "seed", {"v": 0})  # the table is created here, by the SDK's own call
    proxy.request_ids.clear()
    for operation in OPERATIONS.values():
        await operation(store, table)
    ids = proxy.request_ids
    assert len(ids) == len(OPERATIONS)
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(value).version == 4 for value in ids)  # the bot's own, not the pipeline's uuid1


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_refusals_that_go_on_are_unavailable_within_the_deadline(
    proxied: tuple[AzureTableStore, ThrottlingProxy], table: str, name: str
) -> None:
    store, proxy = proxied
    await store.insert(table, "p", "seed", {"v": 0})
    proxy.refuse = 1_000
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await OPERATIONS[name](store, table)
    assert time.monotonic() - started < OPERATION_DEADLINE_S + 1
    proxy.refuse = 0
    assert [row.data for row in await store.query(table, "p")] == [{"v": 0}]


@pytest.mark.parametrize(
    "body", [b"<html>sign in to the wifi</html>", b"[1, 2]", b'{"value": 5}', b'{"value": [{"v": 1}]}', b"{}"]
)
@pytest.mark.parametrize("name", ["get", "query"])
async def test_a_reply_that_is_not_the_services_is_a_storage_error(
    proxied: tuple[AzureTableStore, ThrottlingProxy], table: str, name: str, body: bytes
) -> None:
    """A 200 whose body is not an entity or a page of them (a captive portal, a misbehaving proxy) is the storage
    layer's own error, as every other refusal is, and never a KeyError or TypeError from reading it."""
    store, proxy = proxied
    await store.insert(table, "p", "seed", {"v": 0})
    proxy.refuse, proxy.status, proxy.body = 1, 200, body
    with pytest.raises(StorageError) as caught:
        await OPERATIONS[name](store, table)
    assert type(caught.value) is StorageError  # not NotFound or another subclass that would mean something else
    assert await store.get(table, "p", "seed")
