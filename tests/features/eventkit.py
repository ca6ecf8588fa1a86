"""Helpers for the events tests: a CoP made directly in storage, personal messages, a counting store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.cops import Cop, CopRepo
from bot.domain.members import MembershipRepo, Profile, Tier
from storage.base import BatchOp, Row, TableStore, Value, Where
from tests.kit.activities import TENANT, Team, User
from tests.kit.connector import Call, FakeConnector
from tests.kit.harness import BotUnderTest
from tests.kit.records import channel_reference, ref

FORM = {
    "title": "Lunch and learn: dashboards",
    "kind": "lunch_and_learn",
    "date": "2026-11-30",
    "start": "12:30",
    "end": "13:30",
    "tz": "Europe/London",
    "link": "https://teams.microsoft.com/l/meetup-join/abc",
    "place": "Room 101",
    "capacity": "",
    "audience": "all",
    "description": "Bring your questions.",
}


async def make_cop(
    store: TableStore,
    connector_url: str,
    where: Team,
    now: datetime,
    *,
    leads: Sequence[User],
    sponsor: User | None = None,
    members: Mapping[User, Tier] | None = None,
    home: bool = True,
) -> Cop:
    cop = Cop(
        cop_id=where.id,
        name=where.name,
        tenant_id=TENANT,
        service_url=connector_url,
        aad_group_id=where.aad_group_id,
        status="launched",
        leads=tuple(ref(p) for p in leads),
        sponsor=ref(sponsor) if sponsor else None,
        home_channel_id=where.general if home else "",
        home_reference=channel_reference(where, connector_url) if home else {},
        created_at=now,
    )
    created = await CopRepo(store).create(cop)
    repo = MembershipRepo(store)
    for person, tier in (members or {}).items():
        await repo.join(where.id, Profile(person.aad, person.id, person.name), tier, now)
    return created


async def setup(bot: BotUnderTest, where: Team, **kwargs: Any) -> Cop:
    return await make_cop(bot.services.store, bot.connector.url, where, bot.services.clock.now(), **kwargs)


def personal_messages(connector: FakeConnector, calls: Iterable[Call] | None = None) -> list[tuple[str, Call]]:
    """(Teams user id, message) for each message sent into a 1:1 chat the bot opened (outbox deliveries, which
    may run concurrently): a proactive send to a personal chat names its recipient."""
    out: list[tuple[str, Call]] = []
    for call in connector.calls if calls is None else calls:
        if call.method == "POST" and "/activities" in call.path and call.conversation_id.startswith("a:personal"):
            recipient = (call.body or {}).get("recipient") or {}
            if recipient.get("id"):
                out.append((str(recipient["id"]), call))
    return out


def messages_to(connector: FakeConnector, person: User) -> list[Call]:
    return [call for who, call in personal_messages(connector) if who == person.id]


class CountingStore:
    """A TableStore that counts round trips per table (each call is one request to the backend)."""

    def __init__(self, inner: TableStore) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, str]] = []

    def _count(self, method: str, table: str) -> None:
        self.calls[table] += 1
        self.log.append((method, table))

    def reset(self) -> None:
        self.calls.clear()
        self.log.clear()

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        self._count("get", table)
        return await self.inner.get(table, partition_key, row_key)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._count("insert", table)
        return await self.inner.insert(table, partition_key, row_key, data)

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        self._count("upsert", table)
        return await self.inner.upsert(table, partition_key, row_key, data)

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        self._count("update", table)
        return await self.inner.update(table, partition_key, row_key, data, etag=etag)

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        self._count("delete", table)
        await self.inner.delete(table, partition_key, row_key, etag=etag)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        self._count("query", table)
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        self._count("batch", table)
        return await self.inner.batch(table, partition_key, ops)

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()
