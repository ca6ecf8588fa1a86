"""Scheduled work: leases, the weekly digest schedule (DST), exactly once across instances and restarts,
catch-up after downtime, governance reminders, retention, job errors and the scheduler's life cycle.

Jobs are driven directly with a fake clock; nothing waits for a real timer."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import FakeClock
from bot.domain.events import Draft, EventRepo
from bot.features import digest, governance
from bot.jobs.leases import Leases, run_once
from bot.jobs.outbox import PARTITION, TABLE
from bot.jobs.scheduler import Scheduler, due_work, weekly_occurrence
from bot.routing.middleware import DEDUPE_TABLE
from bot.services import Services
from storage.base import TableStore
from tests.features.delivery.kit import add_member, make_cop
from tests.kit.activities import Team, team, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings

LONDON = ZoneInfo("Europe/London")
LEAD = user(1, "Lena Lead")
LEAD2 = user(2, "Leo Lead")
SPONSOR = user(3, "Sam Sponsor")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc, arg-type]


def set_clock(bot: BotUnderTest, when: datetime) -> datetime:
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.set(when)
    return when


async def digest_items(store: TableStore) -> dict[str, datetime]:
    """Queued digests: outbox key -> when queued."""
    rows = await store.query(TABLE, PARTITION)
    return {str(r["key"]): r["created"] for r in rows if str(r["key"]).startswith("digest|")}  # type: ignore[misc]


def digests_sent(connector: FakeConnector, teams: list[Team]) -> Counter[str]:
    wanted = {t.general for t in teams}
    return Counter(c.conversation_id for c in connector.sent() if c.conversation_id in wanted)


# -- leases -------------------------------------------------------------------------------------------------
async def test_lease_is_taken_once_per_period_and_taken_over_when_expired(store: TableStore) -> None:
    mine, theirs = Leases(store, "a"), Leases(store, "b")
    t0 = utc(2026, 11, 23, 9, 0)
    ttl = timedelta(minutes=5)
    job, key = "testjob", f"cop-{id(store)}"
    first = await mine.claim(job, key, "2026-W48", t0, ttl)
    assert first is not None
    assert await theirs.claim(job, key, "2026-W48", t0 + timedelta(minutes=1), ttl) is None  # held
    assert await mine.finish(first, t0 + timedelta(minutes=1))
    assert await theirs.claim(job, key, "2026-W48", t0 + timedelta(hours=1), ttl) is None  # done
    assert await theirs.is_done(job, key, "2026-W48")
    assert await theirs.claim(job, key, "2026-W47", t0 + timedelta(hours=1), ttl) is None  # never go back
    t1 = t0 + timedelta(days=7)
    crashed = await theirs.claim(job, key, "2026-W49", t1, ttl)
    assert crashed is not None
    assert await mine.claim(job, key, "2026-W49", t1 + timedelta(minutes=4), ttl) is None  # still held
    resumed = await mine.claim(job, key, "2026-W49", t1 + timedelta(minutes=6), ttl)
    assert resumed is not None
    assert resumed.attempts == 2
    assert not await theirs.finish(crashed, t1 + timedelta(minutes=7))  # the dead holder cannot finish it


async def test_concurrent_claims_have_exactly_one_winner(store: TableStore) -> None:
    now = utc(2026, 11, 23, 9, 0)
    key = f"race-{id(store)}"
    contenders = [Leases(store, f"owner-{i}") for i in range(8)]
    results = await asyncio.gather(
        *(c.claim("testjob", key, "2026-W48", now, timedelta(minutes=5)) for c in contenders)
    )
    assert sum(r is not None for r in results) == 1


async def test_failed_run_releases_the_lease_and_is_retried_then_given_up(sqlite_store: TableStore) -> None:
    leases = Leases(sqlite_store)
    now = utc(2026, 11, 23, 9, 0)
    calls: list[int] = []

    async def boom() -> None:
        calls.append(1)
        raise RuntimeError("nope")

    for minute in range(4):
        outcome = await run_once(leases, "testjob", "k", "P1", now + timedelta(minutes=minute), boom, max_attempts=3)
        assert outcome == ("failed" if minute < 3 else "skipped")
    assert len(calls) == 3
    assert await leases.is_done("testjob", "k", "P1")  # given up: not retried forever


# -- the weekly schedule ----------------------------------------------------------------------------------
def test_weekly_occurrence_is_local_wall_time_across_dst() -> None:
    # autumn: BST ends on Sunday 25 October 2026
    before, week = weekly_occurrence(utc(2026, 10, 19, 12, 0), LONDON, 0, "09:00")
    assert before == utc(2026, 10, 19, 8, 0)
    assert week == "2026-W43"
    after, week = weekly_occurrence(utc(2026, 10, 26, 12, 0), LONDON, 0, "09:00")
    assert after == utc(2026, 10, 26, 9, 0)
    assert week == "2026-W44"
    # spring: BST starts on Sunday 29 March 2026
    assert weekly_occurrence(utc(2026, 3, 23, 12, 0), LONDON, 0, "09:00")[0] == utc(2026, 3, 23, 9, 0)
    assert weekly_occurrence(utc(2026, 3, 30, 12, 0), LONDON, 0, "09:00")[0] == utc(2026, 3, 30, 8, 0)
    # a wall time the clock skips (01:30 on the spring change) happens an hour later, once
    skipped, week = weekly_occurrence(utc(2026, 3, 29, 12, 0), LONDON, 6, "01:30")
    assert skipped == utc(2026, 3, 29, 1, 30)
    assert week == "2026-W13"
    # just before the time: last week's occurrence
    assert weekly_occurrence(utc(2026, 11, 23, 8, 59), LONDON, 0, "09:00")[1] == "2026-W47"


@pytest.mark.parametrize(
    ("first_monday", "second_monday", "first_utc_hour", "second_utc_hour"),
    [
        (utc(2026, 10, 19), utc(2026, 10, 26), 8, 9),  # BST -> GMT
        (utc(2026, 3, 23), utc(2026, 3, 30), 9, 8),  # GMT -> BST
    ],
)
async def test_digest_at_nine_local_stays_nine_local_across_dst(
    bot: BotUnderTest, first_monday: datetime, second_monday: datetime, first_utc_hour: int, second_utc_hour: int
) -> None:
    store, services = bot.services.store, bot.services
    where = team(11)
    await make_cop(store, where, bot.connector.url, leads=(LEAD,), created_at=first_monday - timedelta(days=1))
    for monday, hour, member in ((first_monday, first_utc_hour, 20), (second_monday, second_utc_hour, 21)):
        await add_member(store, where.id, user(member), monday - timedelta(days=2))
        just_before = set_clock(bot, monday.replace(hour=hour) - timedelta(minutes=1))
        assert await digest.run_due(services, just_before) == 0
        on_time = set_clock(bot, monday.replace(hour=hour))
        assert await digest.run_due(services, on_time) == 1
        assert await digest.run_due(services, on_time + timedelta(minutes=1)) == 0
        assert await services.outbox.flush(on_time) == 1
    queued = await digest_items(store)
    assert sorted(v.astimezone(LONDON).strftime("%a %H:%M") for v in queued.values()) == ["Mon 09:00", "Mon 09:00"]
    assert digests_sent(bot.connector, [where]) == Counter({where.general: 2})


async def test_missed_weeks_are_caught_up_once_not_replayed(bot: BotUnderTest) -> None:
    store, services = bot.services.store, bot.services
    where = team(12)
    await make_cop(store, where, bot.connector.url, leads=(LEAD,), created_at=utc(2026, 10, 28))
    await add_member(store, where.id, user(30), utc(2026, 10, 29))
    # before the first Monday after the CoP was created: nothing (no digest for the week before it existed)
    assert await digest.run_due(services, set_clock(bot, utc(2026, 11, 2, 8, 0))) == 0
    # the bot was down for three weeks and comes back on a Wednesday
    await add_member(store, where.id, user(31), utc(2026, 11, 24))
    back = set_clock(bot, utc(2026, 11, 25, 12, 0))
    assert await digest.run_due(services, back) == 1
    for minute in range(1, 4):
        assert await digest.run_due(services, back + timedelta(minutes=minute)) == 0
    assert list(await digest_items(store)) == [f"digest|{where.id}|2026-W48"]


async def test_a_cop_with_nothing_to_say_gets_no_post(bot: BotUnderTest) -> None:
    where = team(13)
    await make_cop(bot.services.store, where, bot.connector.url, leads=(LEAD,), created_at=utc(2026, 1, 1))
    now = bot.services.clock.now()
    assert await digest.run_due(bot.services, now) == 0
    assert await digest.run_due(bot.services, now + timedelta(minutes=1)) == 0
    assert await digest_items(bot.services.store) == {}


# -- exactly once across instances and restarts --------------------------------------------------------
async def _cops_with_news(
    store: TableStore, connector: FakeConnector, first: int, count: int, now: datetime
) -> list[Team]:
    teams = [team(n) for n in range(first, first + count)]
    for i, where in enumerate(teams):
        await make_cop(
            store, where, connector.url, leads=(LEAD, LEAD2), sponsor=SPONSOR, created_at=now - timedelta(days=60)
        )
        await add_member(store, where.id, user(100 + first + i), now - timedelta(days=1))
    return teams


async def _two_instances_one_digest_each(
    store_a: TableStore, store_b: TableStore, connector: FakeConnector, first_team: int, monday: datetime
) -> None:
    clock_a, clock_b = FakeClock(monday), FakeClock(monday)
    async with (
        running_bot(store_a, connector=connector, clock=clock_a) as a,
        running_bot(store_b, connector=connector, clock=clock_b) as b,
    ):
        teams = await _cops_with_news(store_a, connector, first_team, 5, monday)
        schedulers = (Scheduler(a.services), Scheduler(b.services))
        for week in range(2):
            start = monday + timedelta(days=7 * week, hours=9, minutes=2)
            if week:
                for i, where in enumerate(teams):
                    await add_member(store_a, where.id, user(300 + first_team + i), start - timedelta(days=1))
            for minute in range(3):
                now = start + timedelta(minutes=minute)
                await asyncio.gather(*(s.tick(now) for s in schedulers))
                await asyncio.gather(a.services.outbox.flush(now), b.services.outbox.flush(now))
            assert digests_sent(connector, teams) == Counter({t.general: week + 1 for t in teams})


async def test_two_instances_on_one_sqlite_store_post_one_digest_per_cop_per_week(
    sqlite_store: TableStore, connector: FakeConnector
) -> None:
    await _two_instances_one_digest_each(sqlite_store, sqlite_store, connector, 40, utc(2026, 11, 30))


@pytest.fixture
async def azure_pair(azurite: Any) -> AsyncIterator[tuple[TableStore, TableStore]]:
    from storage.azure import AzureTableStore

    first = AzureTableStore.from_connection_string(azurite.connection_string)
    second = AzureTableStore.from_connection_string(azurite.connection_string)
    yield first, second
    await first.close()
    await second.close()


@pytest.mark.azurite
async def test_two_instances_on_azurite_post_one_digest_per_cop_per_week(
    azure_pair: tuple[TableStore, TableStore], connector: FakeConnector
) -> None:
    # a date no other Azurite test uses: the session's emulator is shared
    await _two_instances_one_digest_each(*azure_pair, connector, 60, utc(2031, 3, 3))


async def test_killed_mid_run_resumes_without_duplicates_or_loss(
    sqlite_store: TableStore, connector: FakeConnector
) -> None:
    monday = utc(2026, 12, 7, 9, 5)
    clock = FakeClock(monday)
    async with running_bot(sqlite_store, connector=connector, clock=clock) as first:
        teams = await _cops_with_news(sqlite_store, connector, 80, 4, monday)
        outbox = first.services.outbox
        real_enqueue = outbox.enqueue
        calls = {"n": 0}

        async def enqueue_then_die(*args: Any, **kwargs: Any) -> bool:
            queued = await real_enqueue(*args, **kwargs)
            calls["n"] += 1
            if calls["n"] == 2:
                raise asyncio.CancelledError  # the process dies after queuing the second CoP's digest
            return queued

        outbox.enqueue = enqueue_then_die  # type: ignore[method-assign]
        with pytest.raises(asyncio.CancelledError):
            await Scheduler(first.services).tick(monday)
        assert len(await digest_items(sqlite_store)) == 2
        # it had time to deliver what it queued before dying? no: nothing was flushed
        assert digests_sent(connector, teams) == Counter()

    # a fresh process on the same store
    async with running_bot(sqlite_store, connector=connector, clock=clock) as second:
        scheduler = Scheduler(second.services)
        assert "digest" not in await scheduler.tick(monday)  # the dead run's lease is still held
        later = monday + timedelta(minutes=6)
        clock.set(later)
        result = await scheduler.tick(later)
        assert result["digest"] == 2  # the two it had not reached; the second CoP's was already queued
        await second.services.outbox.flush(later)  # governance reminders for these meeting-less CoPs go too
        assert digests_sent(connector, teams) == Counter({t.general: 1 for t in teams})
        for minute in range(1, 5):
            await scheduler.tick(later + timedelta(minutes=minute))
            await second.services.outbox.flush(later + timedelta(minutes=minute))
    assert digests_sent(connector, teams) == Counter({t.general: 1 for t in teams})


# -- governance reminders --------------------------------------------------------------------------------
async def test_governance_reminds_leads_and_sponsor_once_a_month(bot: BotUnderTest) -> None:
    store, services = bot.services.store, bot.services
    lonely = team(90, "Lonely CoP")
    fine = team(91, "Fine CoP")
    crowded = team(92, "Crowded CoP")
    await make_cop(store, lonely, bot.connector.url, leads=(LEAD,))
    await make_cop(store, fine, bot.connector.url, leads=(LEAD, LEAD2), sponsor=SPONSOR)
    await make_cop(store, crowded, bot.connector.url, leads=tuple(user(n) for n in range(40, 45)), sponsor=SPONSOR)
    # the fine CoP met its sponsor three weeks ago and its core members this term; the others never met
    events = EventRepo(store)
    for kind, start in (("lead_sponsor", utc(2026, 11, 2, 12, 0)), ("core_meeting", utc(2026, 10, 14, 12, 0))):
        draft = Draft(f"{kind} meeting", kind, start, start + timedelta(hours=1), "Europe/London", place="Room 1")  # type: ignore[arg-type]
        await events.create(fine.id, draft, LEAD.aad, LEAD.name, utc(2026, 10, 1, 9, 0))
    saturday = set_clock(bot, utc(2026, 11, 21, 11, 0))
    assert await governance.run_due(services, saturday) == 0  # weekends are left alone
    monday = set_clock(bot, utc(2026, 11, 23, 10, 0))
    assert await governance.run_due(services, monday) == 1 + 6  # lonely: its lead; crowded: 5 leads + sponsor
    assert await governance.run_due(services, monday + timedelta(hours=2)) == 0  # once per month
    assert await services.outbox.flush(monday) == 7
    texts = [c.card_text for c in bot.connector.sent()]
    assert sum("Lonely CoP" in t and "1 lead" in t and "no sponsor" in t for t in texts) == 1
    assert sum("Crowded CoP" in t and "5 leads" in t for t in texts) == 6
    assert sum("Crowded CoP" in t and "sponsor" in t.lower() and "core" in t.lower() for t in texts) == 6
    assert not any("Fine CoP" in t for t in texts)
    assert len(bot.connector.created()) == 7  # each privately
    december = set_clock(bot, utc(2026, 12, 1, 9, 30))
    assert await governance.run_due(services, december) == 7


def test_meeting_checks_when_meetings_are_known() -> None:
    from bot.domain.cops import Cop, PersonRef

    settings = test_settings()
    cop = Cop(
        cop_id="c",
        name="C",
        tenant_id="t",
        service_url="s",
        leads=(PersonRef("a", "1", "A"), PersonRef("b", "2", "B")),
        sponsor=PersonRef("s", "3", "S"),
    )
    now = utc(2026, 11, 23, 10, 0)  # in the autumn term 2026
    in_term = utc(2026, 10, 5, 12, 0)
    recent = governance.Meetings(known=True, lead_sponsor=(now - timedelta(weeks=5),), core=(in_term,))
    kw: dict[str, Any] = {"terms": settings.terms, "max_weeks": 6, "tz": LONDON}
    assert governance.concerns(cop, recent, now, **kw) == []
    overdue = governance.Meetings(known=True, lead_sponsor=(now - timedelta(weeks=7),), core=(in_term,))
    [text] = governance.concerns(cop, overdue, now, **kw)
    assert "last 6 weeks" in text
    assert "October" in text
    never = governance.Meetings(known=True, core=(now + timedelta(days=3),))  # a core meeting planned counts
    [text] = governance.concerns(cop, never, now, **kw)
    assert "No lead-sponsor meeting is recorded" in text
    no_core = governance.Meetings(known=True, lead_sponsor=(now - timedelta(weeks=1),), core=(utc(2026, 6, 1),))
    [text] = governance.concerns(cop, no_core, now, **kw)
    assert "this term" in text
    summer = utc(2026, 8, 10, 10, 0)  # between terms: no term check
    between = governance.Meetings(known=True, lead_sponsor=(summer - timedelta(weeks=1),))
    assert governance.concerns(cop, between, summer, **kw) == []
    unknown = governance.Meetings(known=False)
    assert governance.concerns(cop, unknown, now, **kw) == []  # no source: never guess


# -- retention, errors, life cycle ---------------------------------------------------------------------
async def test_retention_purges_old_redelivery_claims_and_sent_items_once_a_day(bot: BotUnderTest) -> None:
    store, services = bot.services.store, bot.services
    now = bot.services.clock.now()
    await store.insert(DEDUPE_TABLE, "aa", "old", {"at": now - timedelta(days=3)})
    await store.insert(DEDUPE_TABLE, "aa", "new", {"at": now - timedelta(hours=3)})
    reference = {"conversation": {"id": team(1).general}, "serviceUrl": bot.connector.url}
    await services.outbox.enqueue("ancient", reference, "x", now - timedelta(days=40))
    await services.outbox.flush(now - timedelta(days=40))
    scheduler = Scheduler(services)
    removed = await scheduler.retention(now)
    assert removed["dedupe"] == 1
    assert removed["outbox"] == 1
    assert [r.row_key for r in await store.query(DEDUPE_TABLE, None)] == ["new"]
    assert await scheduler.retention(now + timedelta(hours=1)) == {}  # once a day


async def test_a_failing_due_work_function_is_logged_with_context_and_does_not_stop_others(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    ran: list[str] = []

    async def boom(services: Services, now: datetime) -> int:
        raise RuntimeError("broken reminder")

    async def fine(services: Services, now: datetime) -> int:
        ran.append("fine")
        return 1

    registry = due_work(bot.services)
    registry.add("boom", boom)
    registry.add("fine", fine)
    with caplog.at_level(logging.ERROR, logger="bot.jobs.leases"):
        result = await Scheduler(bot.services).tick(utc(2026, 11, 23, 10, 7))
    assert ran == ["fine"]
    assert result["fine"] == 1
    assert "boom" not in result
    failures = [r for r in caplog.records if "job failed" in r.getMessage()]
    assert failures
    assert "key=boom" in failures[0].getMessage()
    assert "ref=" in failures[0].getMessage()
    with pytest.raises(ValueError, match="twice"):
        registry.add("fine", fine)


async def test_scheduler_starts_and_stops_with_the_app_and_its_sender_delivers(
    sqlite_store: TableStore, connector: FakeConnector
) -> None:
    settings = test_settings(scheduler_enabled=True)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as app:
        scheduler = app.services.scheduler
        assert isinstance(scheduler, Scheduler)
        assert scheduler._aps is not None
        assert scheduler._aps.running
        assert {job.id for job in scheduler._aps.get_jobs()} == {"tick", "retention"}
        reference = {
            "conversation": {"id": "19:live@thread.tacv2", "conversationType": "channel"},
            "serviceUrl": connector.url,
            "channelId": "msteams",
            "bot": {"id": "28:bot"},
        }
        await app.services.outbox.enqueue("live", reference, "from the sender loop", app.services.clock.now())
        await connector.wait_for(lambda calls: any(c.text == "from the sender loop" for c in calls), 10)
    assert app.services.scheduler is None
    assert scheduler._aps is None


async def test_scheduler_stays_off_when_disabled(bot: BotUnderTest) -> None:
    assert bot.services.scheduler is None
