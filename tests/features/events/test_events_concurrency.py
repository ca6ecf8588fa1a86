"""RSVP counts stay exact under concurrency, and an RSVP stays within its storage round-trip budget."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.counting import CountingStore
from bot.core.config import Settings
from bot.domain.events import Draft, EventRepo
from bot.features.event_notices import Refresher, announce_key, runtime, settle
from storage.azure import AzureTableStore
from storage.sqlite import SqliteStore
from tests.features.events.kit import make_cop
from tests.kit.activities import Team, User, user
from tests.kit.azurite import Azurite
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings
from tests.kit.records import channel_reference

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEAD = user(1, "Alice Adams")


def fresh_team() -> Team:
    """Azurite is shared by the whole session: every test gets its own team id."""
    tag = uuid.uuid4().hex[:10]
    return Team(id=f"19:{tag}@thread.tacv2", aad_group_id=f"group-{tag}", name=f"CoP {tag}")


def draft(capacity: int | None) -> Draft:
    start = NOW + timedelta(days=3)
    return Draft(
        "Lunch and learn",
        "lunch_and_learn",
        start,
        start + timedelta(hours=1),
        "Europe/London",
        place="Room 1",
        capacity=capacity,
    )


async def announce(bot: BotUnderTest, where: Team, capacity: int | None) -> str:
    """An event created in storage and its channel card delivered through the outbox, as `event new` does."""
    event = await EventRepo(bot.services.store).create(
        where.id, draft(capacity), LEAD.aad, LEAD.name, NOW, channel_reference(where, bot.connector.url)
    )
    await bot.services.outbox.enqueue(announce_key(event.event_id), event.announce_reference, "announcement", NOW)
    await bot.services.outbox.flush(NOW)
    return event.event_id


def rsvp_data(bot: BotUnderTest, where: Team, event_id: str, choice: str) -> dict[str, Any]:
    return {**bot.sealed("event.rsvp", {"cop_id": where.id, "id": event_id}), "choice": choice}


async def check_consistent(repo: EventRepo, cop_id: str, event_id: str) -> Counter[str]:
    """The summary counts equal the RSVP rows, and nobody waits while a place is free."""
    event = await repo.get(cop_id, event_id)
    assert event is not None
    rows: Counter[str] = Counter(r.status for r in await repo.rsvps(cop_id, event_id))
    assert (event.going, event.waitlist, event.maybe, event.no) == (
        rows["going"],
        rows["waitlist"],
        rows["maybe"],
        rows["no"],
    )
    if event.capacity is not None:
        assert event.going <= event.capacity
        if event.waitlist:
            assert event.going == event.capacity
    return rows


@pytest.mark.azurite
async def test_fifty_members_rsvp_at_once_on_two_instances(azurite: Azurite, connector: FakeConnector) -> None:
    where = fresh_team()
    people = [User(f"29:c-{where.aad_group_id}-{n}", f"aad-{where.aad_group_id}-{n}", f"Member {n}") for n in range(50)]
    store_a = AzureTableStore.from_connection_string(azurite.connection_string)
    store_b = AzureTableStore.from_connection_string(azurite.connection_string)
    try:
        async with (
            running_bot(store_a, connector=connector) as a,
            running_bot(store_b, connector=connector) as b,
        ):
            await make_cop(store_a, connector.url, where, NOW, leads=[LEAD], members=dict.fromkeys(people, "wider"))
            event_id = await announce(a, where, capacity=30)
            repo = EventRepo(store_a)

            # wave 1: all 50 click Going at the same moment, alternating between the two instances
            answers = await asyncio.gather(
                *(
                    (a if n % 2 else b).click(p, "event.rsvp", rsvp_data(a, where, event_id, "going"), where=where)
                    for n, p in enumerate(people)
                )
            )
            assert all(r.status == 200 and r.body["type"] == "application/vnd.microsoft.card.adaptive" for r in answers)
            rows = await check_consistent(repo, where.id, event_id)
            assert (rows["going"], rows["waitlist"]) == (30, 20)
            waiting = [r for r in await repo.rsvps(where.id, event_id) if r.status == "waitlist"]
            assert sorted(r.seq for r in waiting) == list(range(1, 21))  # one ticket each, none lost or shared
            # what each person was shown is what was stored
            stored = {r.user_id: r.status for r in await repo.rsvps(where.id, event_id)}
            for person, answer in zip(people, answers, strict=True):
                shown = "waitlist" if "on the waitlist. I'll tell you" in str(answer.card) else "going"
                assert stored[person.id] == shown

            # wave 2, at once: 15 of those going drop out and 10 of those waiting switch to maybe
            going_people = [p for p in people if stored[p.id] == "going"][:15]
            waiting_people = [p for p in people if stored[p.id] == "waitlist"][:10]
            moves = [(p, "no") for p in going_people] + [(p, "maybe") for p in waiting_people]
            await asyncio.gather(
                *(
                    (a if n % 2 else b).click(p, "event.rsvp", rsvp_data(a, where, event_id, c), where=where)
                    for n, (p, c) in enumerate(moves)
                )
            )
            rows = await check_consistent(repo, where.id, event_id)
            assert (rows["going"], rows["waitlist"], rows["maybe"], rows["no"]) == (25, 0, 10, 15)

            # everyone promoted is told, once (someone promoted and then switching to maybe frees a place again,
            # so there can be more promotions than the 10 who end up going from the waitlist)
            queued = await store_a.query("outbox", "q")
            told = [str(r.get("key")).split(":")[2] for r in queued if str(r.get("key")).startswith("promoted:")]
            assert len(told) == len(set(told)) >= 10
            final = {r.aad_id: r.status for r in await repo.rsvps(where.id, event_id)}
            remaining_waiters = [p for p in people if stored[p.id] == "waitlist" and p not in waiting_people]
            assert all(final[p.aad] == "going" and p.aad in told for p in remaining_waiters)
            await asyncio.gather(settle(a.services), settle(b.services))
            last = connector.updates()[-1]
            assert "**25** going" in last.card_text
            assert "**10** maybe" in last.card_text
            assert "**15** can't go" in last.card_text
    finally:
        await store_a.close()
        await store_b.close()


async def test_an_rsvp_turn_costs_at_most_three_round_trips(tmp_path: Any, connector: FakeConnector) -> None:
    """The whole turn (middleware, role resolution, handler), with production's CoP cache on."""
    where = fresh_team()
    people = [user(100 + n) for n in range(12)]
    store = CountingStore(SqliteStore(tmp_path / "rt.sqlite3"))
    settings = test_settings(cop_cache_seconds=Settings().cop_cache_seconds)
    async with running_bot(store, connector=connector, settings=settings) as bot:
        bot.services.cop_cache.clock = lambda: 0.0  # the copy never expires mid-test, however slow the machine
        # the shared card's update runs in the background after the answer: measured on its own below
        refreshes: list[str] = []
        runtime(bot.services).refresher.request = lambda services, event: refreshes.append(event.event_id)  # type: ignore[method-assign]
        await make_cop(store, connector.url, where, NOW, leads=[LEAD], members=dict.fromkeys(people, "wider"))
        event_id = await announce(bot, where, capacity=10)
        per_rsvp: list[tuple[int, int]] = []
        steady: list[dict[str, int]] = []
        for person in people:
            store.reset()
            posted = await bot.click(person, "event.rsvp", rsvp_data(bot, where, event_id, "going"), where=where)
            assert posted.status == 200
            assert "You're going." in str(posted.card) or "on the waitlist" in str(posted.card)
            events_calls = sum(v for k, v in store.calls.items() if k.endswith(":events"))
            per_rsvp.append((events_calls, store.total))
            steady.append(dict(store.calls))
        # my row is read, then the event (only the first time: after that this process reuses the copy it wrote,
        # guarded by its ETag), then one batch. Around it: no redelivery claim (an RSVP is idempotent), the CoP
        # row read once (then this process's short-lived copy) and the person's partition for the role.
        assert [events for events, _ in per_rsvp] == [3] + [2] * (len(people) - 1)
        assert [total for _, total in per_rsvp] == [5] + [3] * (len(people) - 1)
        assert all(calls == {"query:people": 1, "get:events": 1, "batch:events": 1} for calls in steady[1:])
        assert len(refreshes) == len(people)
        # dropping out of a full event with people waiting: one more query finds who is next
        store.reset()
        await bot.click(people[0], "event.rsvp", rsvp_data(bot, where, event_id, "no"), where=where)
        assert sum(v for k, v in store.calls.items() if k.endswith(":events")) == 3
        await check_consistent(EventRepo(store), where.id, event_id)
        # the background update of the shared card: the activity id once (then cached) and one read to check
        # that nothing changed while the card was being updated
        refresher = Refresher()
        event = await EventRepo(store).get(where.id, event_id)
        assert event is not None
        store.reset()
        refresher.request(bot.services, event)
        await refresher.settle()
        assert dict(store.background) == {"get:outbox": 1, "get:events": 1}
        assert not store.calls
        store.reset()
        refresher.request(bot.services, event)
        await refresher.settle()
        assert dict(store.background) == {"get:events": 1}
        assert "**10** going" in connector.updates()[-1].card_text
    await store.close()


async def test_simultaneous_answers_in_one_instance_are_written_together(
    tmp_path: Any, connector: FakeConnector
) -> None:
    """Group commit: concurrent answers share batches; drops promote waiting people inside the same batch."""
    where = fresh_team()
    people = [user(200 + n) for n in range(24)]
    store = CountingStore(SqliteStore(tmp_path / "group.sqlite3"))
    async with running_bot(store, connector=connector) as bot:
        await make_cop(store, connector.url, where, NOW, leads=[LEAD], members=dict.fromkeys(people, "wider"))
        event_id = await announce(bot, where, capacity=5)
        store.reset()
        answers = await asyncio.gather(
            *(bot.click(p, "event.rsvp", rsvp_data(bot, where, event_id, "going"), where=where) for p in people)
        )
        assert all("AdaptiveCard" in str(a.body) for a in answers)
        assert store.calls["batch:events"] < len(people)  # shared batches, not one write per person
        repo = EventRepo(store)
        rows = await check_consistent(repo, where.id, event_id)
        assert (rows["going"], rows["waitlist"]) == (5, 19)
        stored = {r.aad_id: r for r in await repo.rsvps(where.id, event_id)}
        going = [p for p in people if stored[p.aad].status == "going"]
        waiting = sorted((p for p in people if stored[p.aad].status == "waitlist"), key=lambda p: stored[p.aad].seq)
        # at once: 3 going drop out, the first 2 waiting give up, and one of those going clicks Going again
        moves = [(p, "no") for p in going[:3]] + [(p, "maybe") for p in waiting[:2]] + [(going[4], "going")]
        await asyncio.gather(
            *(bot.click(p, "event.rsvp", rsvp_data(bot, where, event_id, c), where=where) for p, c in moves)
        )
        rows = await check_consistent(repo, where.id, event_id)
        assert (rows["going"], rows["waitlist"], rows["maybe"], rows["no"]) == (5, 14, 2, 3)
        after = {r.aad_id: r.status for r in await repo.rsvps(where.id, event_id)}
        assert [after[p.aad] for p in waiting[2:5]] == ["going"] * 3  # the next three tickets, in order
        assert all(after[p.aad] == "waitlist" for p in waiting[5:])
        await settle(bot.services)
    await store.close()
