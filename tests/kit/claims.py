"""A store that shows what a turn reads while its redelivery claim (the dedupe middleware's insert) is on its way:
for tests that work overlaps the claim instead of following it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from contextlib import suppress

from bench.counting import CountingStore
from bot.routing.middleware import DEDUPE_TABLE
from storage.base import Row, TableStore, Value


class ClaimWatcher(CountingStore):
    """Counts like :class:`CountingStore` and records the calls (``op:table``) made while a claim is pending in
    ``during_claim``. The claim waits (up to a second) for a call on ``awaited`` (a table) to start, so a read that
    only starts after the claim is answered is seen as not overlapping it."""

    def __init__(self, inner: TableStore, awaited: str) -> None:
        super().__init__(inner)
        self.awaited = awaited
        self.claiming = False
        self.during_claim: list[str] = []
        self._seen = asyncio.Event()

    def _count(self, key: str) -> None:
        super()._count(key)
        if self.claiming and not key.endswith(f":{DEDUPE_TABLE}"):
            self.during_claim.append(key)
        if key.endswith(f":{self.awaited}"):
            self._seen.set()

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        if table != DEDUPE_TABLE:
            return await super().insert(table, partition_key, row_key, data)
        self.claiming = True
        try:
            self._seen.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._seen.wait(), 1.0)
            return await super().insert(table, partition_key, row_key, data)
        finally:
            self.claiming = False
