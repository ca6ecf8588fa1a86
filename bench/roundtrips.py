"""Count storage round trips per activity in-process: the store is wrapped in a counting proxy.

Azurite's timings say little about real Azure Tables (DESIGN §5), so the bench reports how many storage calls a
hot path makes instead. ``python -m bench.roundtrips`` prints the figures for a join card submit.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storage.base import BatchOp, Row, TableStore, Value, Where

DEDUPE_TABLE = "dedupe"  # the redelivery claim every turn makes (bot/middleware.py)


@dataclass
class CountingStore:
    """A TableStore that records (operation, table) for every call it passes on."""

    inner: TableStore
    calls: list[tuple[str, str]] = field(default_factory=list)

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        self.calls.append(("get", table))
        return await self.inner.get(table, partition_key, row_key)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self.calls.append(("insert", table))
        return await self.inner.insert(table, partition_key, row_key, data)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self.calls.append(("upsert", table))
        return await self.inner.upsert(table, partition_key, row_key, data)

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        self.calls.append(("update", table))
        return await self.inner.update(table, partition_key, row_key, data, etag=etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        self.calls.append(("delete", table))
        await self.inner.delete(table, partition_key, row_key, etag=etag)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        self.calls.append(("query", table))
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        self.calls.append(("batch", table))
        return await self.inner.batch(table, partition_key, ops)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()

    def take(self) -> list[tuple[str, str]]:
        taken, self.calls = self.calls, []
        return taken


@dataclass(frozen=True)
class RoundTrips:
    per_turn: list[int]  # every storage call of each join turn
    per_join: list[int]  # without the redelivery claim, which every turn of every feature pays
    breakdown: dict[str, int]  # "operation table" -> calls, of one first-time join

    def summary(self) -> dict[str, Any]:
        return {
            "joins": len(self.per_turn),
            "per_join_max": max(self.per_join),
            "per_join_median": statistics.median(self.per_join),
            "per_turn_max": max(self.per_turn),
            "breakdown_first_join": self.breakdown,
        }


async def join_round_trips(data_dir: Path, joins: int = 20) -> RoundTrips:
    """Install a team, then ``joins`` different people submit the join card; count storage calls of each."""
    from storage.sqlite import SqliteStore
    from tests.kit.activities import team, user
    from tests.kit.connector import FakeConnector
    from tests.kit.harness import running_bot

    connector = FakeConnector()
    await connector.start()
    store = CountingStore(SqliteStore(data_dir / "roundtrips.sqlite3"))
    where = team(1, "Data and Insight")
    per_turn: list[int] = []
    per_join: list[int] = []
    breakdown: dict[str, int] = {}
    try:
        async with running_bot(store, connector=connector) as bot:
            connector.teams[where.id] = {"id": where.id, "name": where.name, "aadGroupId": where.aad_group_id}
            await bot.post(bot.acts.installed_in_team(user(1), where))
            for i in range(joins):
                data = bot.sealed("membership.join", {"cop_id": where.id, "tier": "core", "mode": "replace"})
                data.update({"org_area": "central", "interests": "data"})
                store.take()
                posted = await bot.click(user(5000 + i), "membership.join", data, where=where)
                calls = store.take()
                if "core member" not in str(posted.body):
                    raise RuntimeError(f"join {i} failed: {str(posted.body)[:200]}")
                per_turn.append(len(calls))
                per_join.append(sum(1 for _, table in calls if table != DEDUPE_TABLE))
                if not breakdown:
                    breakdown = dict(Counter(f"{op} {table}" for op, table in calls))
    finally:
        await store.close()
        await connector.close()
    return RoundTrips(per_turn, per_join, breakdown)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(join_round_trips(Path(tmp)))
    print(result.summary())


if __name__ == "__main__":
    main()
