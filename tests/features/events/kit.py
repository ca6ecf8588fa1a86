"""Helpers for the events tests: a CoP made directly in storage, personal messages, a counting store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.domain.cops import Cop, CopRepo
from bot.domain.members import MembershipRepo, Profile, Tier
from storage.base import TableStore
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
            recipient = connector.recipient(call)
            if recipient:
                out.append((recipient, call))
    return out


def messages_to(connector: FakeConnector, person: User) -> list[Call]:
    return [call for who, call in personal_messages(connector) if who == person.id]
