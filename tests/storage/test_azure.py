"""Azure-specific behaviour: unreachable endpoints, tables vanishing, client construction."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from storage import BatchOp, NotFound, Unavailable, Where
from storage.azure import AzureTableStore
from tests.kit.azurite import Azurite, free_port

pytestmark = pytest.mark.azurite


async def test_dead_endpoint_is_unavailable_within_seconds() -> None:
    store = AzureTableStore.from_connection_string(Azurite(free_port()).connection_string)
    try:
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await store.ping()
        with pytest.raises(Unavailable):
            await store.get("things", "p", "r")
        assert time.monotonic() - started < 10
    finally:
        await store.close()


async def test_survives_emulator_restart() -> None:
    """Stop the emulator: Unavailable. Restart it (empty, same port): tables are created again on demand."""
    with Azurite() as emulator:
        store = AzureTableStore.from_connection_string(emulator.connection_string)
        try:
            await store.insert("things", "p", "r", {"a": 1})
            await store.insert("others", "p", "r", {"a": 1})
            emulator.stop()
            with pytest.raises(Unavailable):
                await store.get("things", "p", "r")
            emulator.start()
            with pytest.raises(NotFound):
                await store.get("things", "p", "r")
            await store.insert("things", "p", "r", {"a": 2})
            assert [r["a"] for r in await store.query("things", "p", [Where("a", "eq", 2)])] == [2]
            # a transaction finds its table gone too (the service names it in the transaction's response)
            await store.batch("others", "p", [BatchOp("insert", "r", {"a": 3}), BatchOp("insert", "s", {"a": 4})])
            assert [r["a"] for r in await store.query("others", "p")] == [3, 4]
        finally:
            await store.close()


class FakeCredential(AsyncTokenCredential):
    async def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        return AccessToken("token", int(time.time()) + 3600)

    async def close(self) -> None:
        pass

    async def __aexit__(self, *args: object) -> None:
        await self.close()


async def test_from_account_url_builds_a_client() -> None:
    store = AzureTableStore.from_account_url("https://example.table.core.windows.net", FakeCredential())
    assert "example.table.core.windows.net" in repr(store)
    await store.close()


def _transport_uses_environment(store: AzureTableStore) -> bool:
    transport: object = store._service._client._client._pipeline._transport
    while hasattr(transport, "_transport"):  # the SDK's wrappers around the aiohttp transport
        transport = transport._transport
    return bool(getattr(transport, "_use_env_settings"))  # noqa: B009 - private to azure-core


async def test_proxy_and_netrc_lookups_are_skipped_only_when_the_environment_has_neither(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Under trust_env aiohttp looks for proxy variables and a .netrc on every request: skipped when there are none
    (nothing could be found), kept when either is there."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    connection = Azurite(free_port()).connection_string
    stores = [AzureTableStore.from_connection_string(connection)]
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    stores.append(AzureTableStore.from_connection_string(connection))
    monkeypatch.delenv("HTTPS_PROXY")
    (tmp_path / ".netrc").write_text("machine example.org login a password b\n")
    stores.append(AzureTableStore.from_connection_string(connection))
    try:
        assert [_transport_uses_environment(store) for store in stores] == [False, True, True]
    finally:
        for store in stores:
            await store.close()
