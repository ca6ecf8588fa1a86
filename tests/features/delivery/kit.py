"""Helpers for the scheduler, outbox and digest tests: CoPs with a home channel, members, references."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.domain.cops import Cop, CopRepo
from bot.domain.members import MembershipRepo, Profile
from storage.base import TableStore
from tests.kit import records
from tests.kit.activities import TENANT, Team, User
from tests.kit.records import ref


def channel_reference(service_url: str, conversation_id: str) -> dict[str, Any]:
    """A serialised ConversationReference for a channel, as the bot stores it at install time."""
    return records.channel_reference(conversation_id, service_url)


async def make_cop(
    store: TableStore,
    where: Team,
    service_url: str,
    *,
    leads: tuple[User, ...] = (),
    sponsor: User | None = None,
    created_at: datetime | None = None,
    digest_day: int = 0,
    digest_time: str = "09:00",
    timezone: str = "Europe/London",
    home: bool = True,
) -> Cop:
    cop = Cop(
        cop_id=where.id,
        name=where.name,
        tenant_id=TENANT,
        service_url=service_url,
        aad_group_id=where.aad_group_id,
        status="launched",
        leads=tuple(ref(p) for p in leads),
        sponsor=ref(sponsor) if sponsor else None,
        home_channel_id=where.general if home else "",
        home_reference=channel_reference(service_url, where.general) if home else {},
        timezone=timezone,
        digest_day=digest_day,
        digest_time=digest_time,
        created_at=created_at,
    )
    return await CopRepo(store).create(cop)


async def add_member(store: TableStore, cop_id: str, person: User, joined_at: datetime, tier: str = "wider") -> None:
    profile = Profile(person.aad, person.id, person.name, org_area="faculty")
    await MembershipRepo(store).join(cop_id, profile, "core" if tier == "core" else "wider", joined_at)
