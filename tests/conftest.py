"""Session-wide test fixtures. The Azurite emulator starts once, and only if a test asks for it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from storage import TableStore
from tests.kit.azurite import Azurite

pytest_plugins = ["tests.kit.fixtures"]  # the end-to-end kit: bot, connector, sqlite_store


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A running Azurite Table emulator on 127.0.0.1 (``.connection_string``, ``.stop()``, ``.start()``)."""
    with Azurite() as emulator:
        yield emulator


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("azure", marks=pytest.mark.azurite)])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[TableStore]:
    """A fresh store of each backend: SQLite in a temp file, Azure on the session's Azurite."""
    backend: TableStore
    if request.param == "sqlite":
        from storage.sqlite import SqliteStore

        backend = SqliteStore(tmp_path / "db" / "store.sqlite3")
    else:
        from storage.azure import AzureTableStore

        backend = AzureTableStore.from_connection_string(request.getfixturevalue("azurite").connection_string)
    try:
        yield backend
    finally:
        await backend.close()


@pytest.fixture
def table() -> str:
    """A table name no other test uses (Azurite is shared by the whole session)."""
    return "t" + uuid.uuid4().hex[:12]
