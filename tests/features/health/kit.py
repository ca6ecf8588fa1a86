"""Helpers for the health, survey and programme tests: CoPs with known activity, written through the repos."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from bot.core.clock import FakeClock
from bot.core.turn import Person
from bot.domain.cops import Cop, CopRepo
from bot.domain.events import Draft as EventDraft
from bot.domain.events import EventRepo, Kind
from bot.domain.faq import Draft as FaqDraft
from bot.domain.faq import FaqRepo
from bot.domain.members import MembershipRepo, Profile, Tier
from bot.domain.queries import QueryRepo
from storage.base import TableStore
from tests.kit.activities import TENANT, Team, User, user
from tests.kit.harness import BotUnderTest
from tests.kit.records import channel_reference, ref

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # the kit's default clock: Autumn 2026 term, 75% through
ADMIN = User(id="29:admin", aad="aad-admin", name="Pat Programme")  # in the test settings' programme admins


def clock(bot: BotUnderTest) -> FakeClock:
    c = bot.services.clock
    assert isinstance(c, FakeClock)
    return c


def person(u: User) -> Person:
    return Person(u.id, u.aad, u.name)


async def make_cop(
    store: TableStore,
    service_url: str,
    where: Team,
    now: datetime,
    *,
    leads: Sequence[User] = (),
    sponsor: User | None = None,
    terms_of_reference: str = "",
    objectives: str = "",
    name: str | None = None,
) -> Cop:
    return await CopRepo(store).create(
        Cop(
            cop_id=where.id,
            name=name or where.name,
            tenant_id=TENANT,
            service_url=service_url,
            aad_group_id=where.aad_group_id,
            status="launched",
            leads=tuple(ref(p) for p in leads),
            sponsor=ref(sponsor) if sponsor else None,
            terms_of_reference_url=terms_of_reference,
            objectives=objectives,
            home_channel_id=where.general,
            home_reference=channel_reference(where, service_url),
            created_at=now,
        )
    )


async def join(
    store: TableStore, where: Team, members: Mapping[User, tuple[Tier, str]], now: datetime, *, switch: bool = False
) -> None:
    repo = MembershipRepo(store)
    for u, (tier, area) in members.items():
        await repo.join(where.id, Profile(u.aad, u.id, u.name, org_area=area), tier, now, switch_core=switch)


async def add_event(
    store: TableStore, where: Team, kind: Kind, start: datetime, *, ratings: Sequence[int] = (), lead: User
) -> str:
    repo = EventRepo(store)
    draft = EventDraft(f"{kind} on {start:%d %b}", kind, start, start + timedelta(hours=1), "Europe/London")
    event = await repo.create(where.id, draft, lead.aad, lead.name, start - timedelta(days=7))
    for i, rating in enumerate(ratings):
        rater = user(900 + i)
        await repo.record_feedback(
            where.id, event.event_id, rater.aad, rater.name, rating, "", start + timedelta(hours=2)
        )
    return event.event_id


async def add_query(
    store: TableStore,
    where: Team,
    asker: User,
    asked_at: datetime,
    *,
    responder: User | None = None,
    after: timedelta | None = None,
) -> None:
    repo = QueryRepo(store)
    query = await repo.open(
        where.id,
        person(asker),
        "How do I get access to the data warehouse?",
        asked_at,
        place_kind="channel",
        reference=channel_reference(where, "http://127.0.0.1:1"),
    )
    if responder is not None and after is not None:
        await repo.record_first_response(query, person(responder), asked_at + after)


async def add_faq(store: TableStore, where: Team, now: datetime, count: int = 1) -> None:
    drafts = [FaqDraft(f"Question number {i} about dashboards?", f"Answer {i}.") for i in range(count)]
    await FaqRepo(store).add(where.id, drafts, "lead", now)


class Cast:
    """The people of the rich CoP."""

    leads: tuple[User, ...] = (user(1, "Alice Adams"), user(2, "Bo Brown"), user(3, "Cy Chen"))
    sponsor: User = user(5, "Eve Evans")
    outsider: User = user(99, "Olly Outsider")

    @staticmethod
    def member(n: int) -> User:
        return user(100 + n, f"Member {n}")
