"""Set-up helpers for the trust tests: CoPs and memberships written through the domain repositories (the
features that create them through Teams are tested by their own suites)."""

from __future__ import annotations

from datetime import datetime

from bot.domain.cops import Cop, CopRepo, PersonRef
from bot.domain.members import MembershipRepo, Profile, Tier
from storage.base import TableStore
from tests.kit.activities import Team, User


def ref(person: User) -> PersonRef:
    return PersonRef(person.aad, person.id, person.name)


async def make_cop(
    store: TableStore,
    team: Team,
    service_url: str,
    now: datetime,
    *,
    leads: tuple[User, ...] = (),
    sponsor: User | None = None,
) -> Cop:
    return await CopRepo(store).create(
        Cop(
            cop_id=team.id,
            name=team.name,
            tenant_id="tenant-1",
            service_url=service_url,
            aad_group_id=team.aad_group_id,
            status="launched",
            leads=tuple(ref(lead) for lead in leads),
            sponsor=ref(sponsor) if sponsor else None,
            created_at=now,
        )
    )


async def join(store: TableStore, team: Team, person: User, now: datetime, tier: Tier = "wider") -> None:
    profile = Profile(aad_id=person.aad, user_id=person.id, name=person.name)
    await MembershipRepo(store).join(team.id, profile, tier, now)
