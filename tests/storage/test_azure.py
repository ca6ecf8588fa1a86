"""Azure-specific behaviour: unreachable endpoints, tables vanishing, client construction."""

from __future__ import annotations

import time

import pytest
from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from storage import NotFound, Unavailable, Where
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
            emulator.stop()
            with pytest.raises(Unavailable):
                await store.get("things", "p", "r")
            emulator.start()
            with pytest.raises(NotFound):
                await store.get("things", "p", "r")
            await store.insert("things", "p", "r", {"a": 2})
            assert [r["a"] for r in await store.query("things", "p", [Where("a", "eq", 2)])] == [2]
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
