"""The weekly programme note end to end: what it says (governance gaps, overdue lead-sponsor meetings, red for a
whole term, proposals waiting, preparations), once a week across restarts and instances, privately to the admins,
and the ``programme note`` preview for admins only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.clock import FakeClock
from bot.domain.cops import PersonRef
from bot.domain.proposals import Proposal, ProposalRepo
from bot.domain.records import Record, RecordRepo
from bot.features import programme_note
from bot.health import red_streaks
from bot.health.terms import Term
from storage.base import TableStore
from storage.sqlite import SqliteStore
from tests.features.health.kit import ADMIN, clock, make_cop
from tests.kit.activities import team, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot

ALICE, BO, EVE = user(1, "Alice Adams"), user(2, "Bo Brown"), user(5, "Eve Evans")
FINE, LONELY, LATE = team(1, "Fine CoP"), team(2, "Lonely CoP"), team(3, "Late CoP")
FIRST_CHECK = datetime(2026, 9, 21, 9, 30, tzinfo=UTC)  # a Monday, 10:30 in London; Autumn 2026 starts 28 Sep
AFTER_TERM = datetime(2026, 12, 14, 9, 30, tzinfo=UTC)  # the Monday after Autumn 2026 ended (11 Dec)


async def lead_sponsor_meeting(bot: BotUnderTest, where: str, day: date) -> None:
    held = datetime(day.year, day.month, day.day, 11, tzinfo=UTC)
    lead = PersonRef(ALICE.aad, ALICE.id, ALICE.name)
    record = Record(f"{day.toordinal():012x}", where, "lead_sponsor", day, held, "", None, (), "", lead, held)
    await RecordRepo(bot.services.store).add(record)


async def build(bot: BotUnderTest) -> None:
    store, url = bot.services.store, bot.connector.url
    created = FIRST_CHECK - timedelta(days=300)
    await make_cop(store, url, FINE, created, leads=[ALICE, BO], sponsor=EVE)
    await make_cop(store, url, LONELY, created, leads=[ALICE])
    await make_cop(store, url, LATE, created, leads=[ALICE, BO], sponsor=EVE)
    await lead_sponsor_meeting(bot, FINE.id, date(2026, 9, 7))
    await lead_sponsor_meeting(bot, LATE.id, date(2026, 7, 20))  # 9 weeks before the first check
    proposer = PersonRef("aad-0007", "29:user-7", "Sam Staff")
    await ProposalRepo(store).create(
        Proposal("0123456789ab", "Technical support", "", "Lab practice", "Technicians", {}, proposer, FIRST_CHECK)
    )


async def note_texts(bot: BotUnderTest, now: datetime) -> list[str]:
    bot.connector.clear()
    await bot.services.outbox.flush(now)
    sent = bot.connector.sent()
    assert all(bot.connector.recipient(c) in (ADMIN.id, ADMIN.aad) for c in sent)
    return [c.card_text for c in sent]


async def test_the_weekly_note_says_what_needs_the_programme_team(bot: BotUnderTest) -> None:
    await build(bot)
    clock(bot).set(FIRST_CHECK)
    assert await programme_note.run_due(bot.services, FIRST_CHECK) == 1  # one programme admin
    [text] = await note_texts(bot, FIRST_CHECK)
    assert "The week of 21 September 2026" in text
    assert "Lonely CoP: 1 lead, no sponsor" in text
    assert "Fine CoP: " not in text.split("Lead")[0]  # no governance gap for the fine CoP
    assert "Late CoP: last met 20 Jul 2026 (9 weeks ago)" in text
    assert "Lonely CoP: no lead-sponsor meeting recorded" in text
    assert "Technical support (proposed 21 Sep 2026 by Sam Staff)" in text
    assert "for a whole term" not in text  # nobody has been seen red for a whole term yet

    clock(bot).set(AFTER_TERM)
    programme_note_done = bot.services.periods_done.latest(programme_note.JOB)
    assert programme_note_done == "2026-W39"
    assert await programme_note.run_due(bot.services, AFTER_TERM) == 1
    [text] = await note_texts(bot, AFTER_TERM)
    assert "Red in a health area for a whole term" in text
    assert "Lonely CoP: " in text.split("whole term")[1]
    assert "Governance and structure" in text.split("whole term")[1]
    assert "Fine CoP: last met 7 Sep 2026 (14 weeks ago)" in text


async def test_the_note_goes_once_a_week_across_restarts_and_instances(
    bot: BotUnderTest, sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    await build(bot)
    clock(bot).set(FIRST_CHECK)
    assert await programme_note.run_due(bot.services, FIRST_CHECK) == 1
    assert await programme_note.run_due(bot.services, FIRST_CHECK + timedelta(minutes=1)) == 0
    bot.services.periods_done.forget(programme_note.JOB)  # as after a restart: only storage remembers
    assert await programme_note.run_due(bot.services, FIRST_CHECK + timedelta(hours=2)) == 0
    async with running_bot(sqlite_store, connector=connector, clock=FakeClock(FIRST_CHECK)) as other:
        assert await programme_note.run_due(other.services, FIRST_CHECK + timedelta(days=3)) == 0
        sunday = FIRST_CHECK + timedelta(days=6)
        assert await programme_note.run_due(other.services, sunday) == 0
        monday_early = FIRST_CHECK + timedelta(days=7, hours=-2)  # 08:30 in London: not yet
        assert await programme_note.run_due(other.services, monday_early) == 0
        monday = FIRST_CHECK + timedelta(days=7)
        other.services.clock.set(monday)  # type: ignore[attr-defined]
        assert await programme_note.run_due(other.services, monday) == 1
    assert len(await note_texts(bot, FIRST_CHECK + timedelta(days=7))) == 2


async def test_admins_preview_this_weeks_note(bot: BotUnderTest) -> None:
    await build(bot)
    clock(bot).set(FIRST_CHECK)
    preview = await bot.say(ADMIN, "programme note")
    assert "Lonely CoP: 1 lead, no sponsor" in preview.everything
    assert "Technical support" in preview.everything
    refused = await bot.say_in(ALICE, LONELY, "programme note")
    assert "only programme admins" in refused.everything
    assert await bot.services.outbox.pending(FIRST_CHECK) == 0  # a preview sends nothing


async def test_a_quiet_week_sends_nothing(bot: BotUnderTest) -> None:
    clock(bot).set(FIRST_CHECK)
    assert await programme_note.run_due(bot.services, FIRST_CHECK) == 0
    preview = await bot.say(ADMIN, "programme note")
    assert "Nothing needs you this week" in preview.everything


async def test_red_streaks_on_each_store(store: TableStore) -> None:
    first = datetime(2026, 9, 21, 9, tzinfo=UTC)
    ratings = [("Governance and structure", "red"), ("Purpose", "green")]
    assert await red_streaks.update(store, "19:c@thread.tacv2", ratings, first) == {"Governance and structure": first}
    later = first + timedelta(weeks=8)  # 16 Nov: the autumn term is still on
    still = [("Governance and structure", "red"), ("Purpose", "red")]
    assert await red_streaks.update(store, "19:c@thread.tacv2", still, later) == {
        "Governance and structure": first,
        "Purpose": later,
    }
    assert await red_streaks.current(store, "19:c@thread.tacv2", ["Purpose"]) == {"Purpose": later}
    terms = [Term(date(2026, 9, 28), date(2026, 12, 11))]
    london = ZoneInfo("Europe/London")
    since = await red_streaks.current(store, "19:c@thread.tacv2", ["Governance and structure", "Purpose"])
    assert red_streaks.red_whole_term(since, terms, AFTER_TERM, london) == ["Governance and structure"]
    assert red_streaks.red_whole_term(since, terms, later, london) == []  # the term has not ended yet
    recovered = [("Governance and structure", "amber"), ("Purpose", "red")]
    assert await red_streaks.update(store, "19:c@thread.tacv2", recovered, AFTER_TERM) == {"Purpose": later}
    assert await red_streaks.current(store, "19:c@thread.tacv2", ["Governance and structure"]) == {}
