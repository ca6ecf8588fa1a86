"""pytest fixtures of the end-to-end kit (loaded from tests/conftest.py as a plugin)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage.sqlite import SqliteStore
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = FakeConnector()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "copbot.sqlite3")
    yield store
    await store.close()


@pytest.fixture
async def bot(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    """The app on SQLite with a fake connector; the usual starting point of an end-to-end test."""
    async with running_bot(sqlite_store, connector=connector) as running:
        yield running
