"""Load: 200 concurrent simulated users across 5 CoPs mixing joins (core and wider, some in two CoPs),
questions and RSVPs (to a capacity-10 event per CoP, some changing their mind), all at once against one app.
Every request answers without error and the final counts are exact: memberships per CoP and tier, one core CoP
per person, one open query per question asked, and per event exactly 10 going, the rest of those who want to go
waitlisted, and every maybe and no recorded.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from bot.core import messages
from bot.domain.events import Draft, EventRepo
from bot.domain.members import MembershipRepo
from bot.domain.queries import QueryRepo
from storage.azure import AzureTableStore
from storage.base import TableStore
from storage.sqlite import SqliteStore
from tests.features.membership.kit import PROFILE, install
from tests.kit.activities import Team, User, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, Posted, find_action, running_bot

pytestmark = pytest.mark.slow

# Azurite is shared by the whole test session: ids of this run's own, so no other test's rows are counted
RUN = secrets.token_hex(3)
TEAMS = [Team(f"19:load-{RUN}-{n}@thread.tacv2", f"group-load-{RUN}-{n}", f"Load CoP {n}") for n in range(5)]
USERS = [User(id=f"29:load-{RUN}-{i}", aad=f"aad-load-{RUN}-{i:04d}", name=f"Load User {i}") for i in range(200)]
APOLOGY = messages.APOLOGY.split("(ref")[0].strip()
DOWN = messages.STORAGE_DOWN.split("(ref")[0].strip()


def home(i: int) -> int:
    return i % 5


def tier(i: int) -> str:
    return "core" if i % 4 == 0 else "wider"


def second(i: int) -> int | None:
    """Every third person also joins the next CoP, as wider."""
    return (i + 1) % 5 if i % 3 == 0 else None


def asks(i: int) -> bool:
    return i % 2 == 0


def question(i: int) -> str:
    return f"ask does anyone have the key code for storeroom {i} in the old zoology wing?"


def choice(i: int) -> str:
    """What person i answers to their CoP's event; "changed" means going first, then can't go."""
    return ("going", "maybe", "changed")[i % 3]


CAPACITY = 10


def no_error(posted: Posted, what: str) -> None:
    assert posted.status in (200, 201), (what, posted.status, posted.body)
    text = posted.everything
    assert APOLOGY not in text, (what, text[:300])
    assert DOWN not in text, (what, text[:300])


async def own(bot: BotUnderTest, activity: dict[str, Any]) -> Posted:
    """Post, keeping only this activity's replies (many requests run at once, so the connector interleaves)."""
    posted = await bot.post(activity)
    posted.calls = [c for c in posted.calls if (c.body or {}).get("replyToId") == activity["id"]]
    return posted


async def join(bot: BotUnderTest, person: User, where: Team, tier_name: str) -> Posted:
    shown = await own(bot, bot.acts.channel(person, where, "join"))
    no_error(shown, "join card")
    action = find_action(shown.card or {}, f"Join as {tier_name}")
    activity = bot.acts.execute(person, action["verb"], where=where)
    activity["value"]["action"]["data"] = {**action["data"], **PROFILE}
    return await bot.post(activity)


async def rsvp(bot: BotUnderTest, person: User, where: Team, event_id: str, answer: str) -> None:
    data = bot.sealed("event.rsvp", {"cop_id": where.id, "id": event_id, "choice": answer})
    no_error(await bot.click(person, "event.rsvp", data, where=where), f"rsvp {answer}")


async def journey(bot: BotUnderTest, i: int, events: list[str], replies: dict[int, str] | None = None) -> None:
    person = USERS[i]
    no_error(await join(bot, person, TEAMS[home(i)], tier(i)), f"join {i}")
    answer = choice(i)
    await rsvp(bot, person, TEAMS[home(i)], events[home(i)], "going" if answer == "changed" else answer)
    other = second(i)
    if other is not None:
        no_error(await join(bot, person, TEAMS[other], "wider"), f"second join {i}")
    if asks(i):
        asked = await own(bot, bot.acts.channel(person, TEAMS[home(i)], question(i)))
        no_error(asked, f"ask {i}")
        if replies is not None:
            replies[i] = asked.everything[:300]  # what the asker saw, for a failure's message
    no_error(await own(bot, bot.acts.personal(person, "me")), f"me {i}")
    if answer == "changed":
        await rsvp(bot, person, TEAMS[home(i)], events[home(i)], "no")


@pytest.fixture(params=["sqlite", pytest.param("azure", marks=pytest.mark.azurite)])
async def load_bot(
    request: pytest.FixtureRequest, sqlite_store: SqliteStore, connector: FakeConnector
) -> AsyncIterator[BotUnderTest]:
    store: TableStore = sqlite_store
    if request.param == "azure":
        store = AzureTableStore.from_connection_string(request.getfixturevalue("azurite").connection_string)
    try:
        async with running_bot(store, connector=connector) as running:
            yield running
    finally:
        if store is not sqlite_store:
            await store.close()


async def test_200_concurrent_users_across_5_cops_end_with_exact_counts(load_bot: BotUnderTest) -> None:
    bot = load_bot
    now = bot.services.clock.now()
    events: list[str] = []
    for n, where in enumerate(TEAMS):
        installer = user(700 + n, f"Installer {n}")
        await install(bot, installer, where)
        start = now + timedelta(days=30)
        draft = Draft(f"Lunch and learn {n}", "lunch_and_learn", start, start + timedelta(hours=1), "Europe/London",
                      place="Room 1", capacity=CAPACITY)  # fmt: skip
        event = await EventRepo(bot.services.store).create(where.id, draft, installer.aad, installer.name, now)
        events.append(event.event_id)
    started = time.perf_counter()
    replies: dict[int, str] = {}
    results = await asyncio.gather(
        *(journey(bot, i, events, replies) for i in range(len(USERS))), return_exceptions=True
    )
    elapsed = time.perf_counter() - started
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, failures[:3]

    repo = MembershipRepo(bot.services.store)
    expected: Counter[tuple[str, str]] = Counter()
    for i in range(len(USERS)):
        expected[(TEAMS[home(i)].id, tier(i))] += 1
        other = second(i)
        if other is not None:
            expected[(TEAMS[other].id, "wider")] += 1
    actual: Counter[tuple[str, str]] = Counter()
    for where in TEAMS:
        for membership in await repo.members_of(where.id):
            actual[(where.id, membership.tier)] += 1
    assert actual == expected

    cores: Counter[str] = Counter()
    for i, person in enumerate(USERS):
        state = await repo.person(person.aad)
        assert state.core_cop_id == (TEAMS[home(i)].id if tier(i) == "core" else None)
        assert len(state.memberships) == (2 if second(i) is not None else 1)
        if state.core_cop_id:
            cores[state.core_cop_id] += 1
    assert sum(cores.values()) == 50

    queries = QueryRepo(bot.services.store)
    for n, where in enumerate(TEAMS):
        opened = await queries.of_cop(where.id, open_only=True)
        askers = {q.asker_aad for q in opened}
        wanted = {USERS[i].aad for i in range(len(USERS)) if asks(i) and home(i) == n}
        missing = {i: replies.get(i) for i in range(len(USERS)) if USERS[i].aad in wanted - askers}
        assert askers == wanted, missing
        assert len(opened) == len(askers)  # one query per question, none lost or doubled
    repo_events = EventRepo(bot.services.store)
    for n, where in enumerate(TEAMS):
        mine = [i for i in range(len(USERS)) if home(i) == n]
        answers = Counter(r.status for r in await repo_events.rsvps(where.id, events[n]))
        want = sum(choice(i) == "going" for i in mine)
        assert answers["going"] == min(CAPACITY, want), answers
        assert answers["waitlist"] == max(0, want - CAPACITY), answers
        assert answers["maybe"] == sum(choice(i) == "maybe" for i in mine), answers
        assert answers["no"] == sum(choice(i) == "changed" for i in mine), answers
    sent = sum(4 + 2 * (second(i) is not None) + asks(i) + (choice(i) == "changed") for i in range(len(USERS)))
    print(f"200 users, {sent} activities in {elapsed:.1f} s")
