"""Calendar files, governance counts, personal data and the pure parts of events (validation, time zones)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from icalendar import Calendar

from bot.core.clock import FakeClock
from bot.domain.events import (
    Draft,
    EventRepo,
    Invalid,
    feedback_average,
    last_core_meeting,
    last_lead_sponsor_meeting,
    lunch_and_learns_between,
    summarise,
    validate,
)
from bot.features.event_notices import calendar_url
from tests.features.events.kit import FORM, setup
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

ALICE = user(1, "Alice Adams")
BO = user(2, "Bo Brown")
CY = user(3, "Cy Chen")
TEAM = team(1, "Data and Insight")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def path_of(url: str) -> str:
    return urlsplit(url).path


async def new_event(bot: BotUnderTest, **changes: str) -> dict[str, Any]:
    form = await bot.say_in(ALICE, TEAM, "event new")
    await bot.press(ALICE, form.card, "Create and announce", {**FORM, **changes}, where=TEAM)
    await bot.services.outbox.flush(bot.services.clock.now())
    card = [c for c in bot.connector.sent(TEAM.general) if "Can't go" in c.card_text][-1].card
    assert card is not None
    return card


def parse(body: bytes) -> tuple[Calendar, Any]:
    calendar = Calendar.from_ical(body)
    [item] = [c for c in calendar.walk() if c.name == "VEVENT"]
    return calendar, item


async def test_add_to_calendar_gives_an_ics_with_time_zone_uid_and_sequence(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core"})
    # 30 March 2027 is in British Summer Time: 12:30 in London is 11:30 UTC
    card = await new_event(bot, date="2027-03-30", title="Spring lunch; with, commas")
    link = _open_url(card, "Add to calendar")
    status, body, headers = await bot.get(path_of(link))
    assert status == 200
    assert headers["Content-Type"].startswith("text/calendar")
    assert "attachment" in headers["Content-Disposition"]
    calendar, item = parse(body)
    assert str(calendar["METHOD"]) == "PUBLISH"
    [event] = await EventRepo(bot.services.store).of_cop(TEAM.id)
    assert str(item["UID"]) == f"{event.event_id}@copbot"
    assert int(item["SEQUENCE"]) == 0
    assert str(item["SUMMARY"]) == "Spring lunch; with, commas"
    start = item.decoded("DTSTART")
    assert str(start.tzinfo) == "Europe/London"
    assert start.astimezone(UTC) == datetime(2027, 3, 30, 11, 30, tzinfo=UTC)
    assert b"TZID=Europe/London" in body
    assert b"BEGIN:VTIMEZONE" in body
    assert b"TZOFFSETTO:+0100" in body

    # edit: same UID, SEQUENCE + 1; cancel: METHOD:CANCEL, STATUS:CANCELLED, SEQUENCE + 1 again
    shown = await bot.say_in(ALICE, TEAM, "events")
    opened = await bot.press(ALICE, shown.card, "Open", where=TEAM)
    form = await bot.press(ALICE, opened.card, "Edit", where=TEAM)
    await bot.press(
        ALICE, form.card, "Save changes", {**FORM, "date": "2027-03-30", "start": "14:00", "end": "15:00"}, where=TEAM
    )
    _, body, _ = await bot.get(path_of(link))
    _, item = parse(body)
    assert str(item["UID"]) == f"{event.event_id}@copbot"
    assert int(item["SEQUENCE"]) == 1
    assert item.decoded("DTSTART").astimezone(UTC) == datetime(2027, 3, 30, 13, 0, tzinfo=UTC)
    confirm = await bot.press(ALICE, opened.card, "Cancel event", where=TEAM)
    await bot.press(ALICE, confirm.card, "Yes, cancel it", where=TEAM)
    _, body, _ = await bot.get(path_of(link))
    calendar, item = parse(body)
    assert str(calendar["METHOD"]) == "CANCEL"
    assert str(item["STATUS"]) == "CANCELLED"
    assert int(item["SEQUENCE"]) == 2


def _open_url(card: dict[str, Any], title: str) -> str:
    for action in card.get("actions", []):
        if action.get("type") == "Action.OpenUrl" and action.get("title") == title:
            return str(action["url"])
    raise AssertionError(f"no {title!r} link")


async def test_bad_calendar_links_are_404_or_403_never_500(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE])
    card = await new_event(bot)
    link = path_of(_open_url(card, "Add to calendar"))
    token = link.rsplit("/", 1)[1]
    body, mac = token.split(".")
    for bad in (
        "/files/not-a-token",
        f"/files/{body}.{'A' * len(mac)}",  # forged signature
        f"/files/{body[:-2]}xx.{mac}",  # tampered parameters
        "/files/" + "a" * 5000,
    ):
        status, _, _ = await bot.get(bad)
        assert status == 404, bad
    # a genuine link for an event id that does not exist
    [event] = await EventRepo(bot.services.store).of_cop(TEAM.id)
    missing = bot.services.links.link(bot.services, "event.ics", {"c": TEAM.id, "e": "0" * 12}, timedelta(days=1))
    assert (await bot.get(path_of(missing)))[0] == 404
    garbage = bot.services.links.link(bot.services, "event.ics", {"c": ["x"], "e": {"y": 1}}, timedelta(days=1))
    assert (await bot.get(path_of(garbage)))[0] == 404
    other_cop = bot.services.links.link(
        bot.services, "event.ics", {"c": team(9).id, "e": event.event_id}, timedelta(days=1)
    )
    assert (await bot.get(path_of(other_cop)))[0] == 404
    # expired: links live until 30 days after the event
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.set(event.end + timedelta(days=31))
    status, body_bytes, _ = await bot.get(link)
    assert status == 403
    assert b"expired" in body_bytes
    fresh = path_of(calendar_url(bot.services, event))
    assert (await bot.get(fresh))[0] == 200


async def test_governance_counts(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], sponsor=CY, members={BO: "core"})
    repo = EventRepo(bot.services.store)

    def draft(kind: str, days: int) -> Draft:
        start = NOW + timedelta(days=days)
        return Draft("x" * 5, kind, start, start + timedelta(hours=1), "Europe/London", place="Room")  # type: ignore[arg-type]

    for kind, days in (
        ("lunch_and_learn", -40),
        ("lunch_and_learn", -10),
        ("lunch_and_learn", 5),
        ("core_meeting", -20),
        ("core_meeting", -3),
        ("lead_sponsor", -30),
        ("workshop", -1),
    ):
        await repo.create(TEAM.id, draft(kind, days), ALICE.aad, ALICE.name, NOW - timedelta(days=60))
    cancelled = await repo.create(TEAM.id, draft("core_meeting", -1), ALICE.aad, ALICE.name, NOW)
    await repo.cancel(TEAM.id, cancelled.event_id, NOW)
    term = (NOW - timedelta(days=30), NOW + timedelta(days=30))
    assert await lunch_and_learns_between(bot.services.store, TEAM.id, *term) == 2
    assert await last_core_meeting(bot.services.store, TEAM.id, NOW) == NOW - timedelta(days=3)
    assert await last_lead_sponsor_meeting(bot.services.store, TEAM.id, NOW) == NOW - timedelta(days=30)
    assert await last_lead_sponsor_meeting(bot.services.store, team(7).id, NOW) is None
    assert (await feedback_average(bot.services.store, TEAM.id)).average is None
    assert summarise([5, 4, 4, 9, 0]).histogram == (0, 0, 0, 2, 1)


async def test_my_data_and_forget_me(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core", CY: "core"})
    card = await new_event(bot, capacity="1")
    await bot.press(BO, card, "Going", where=TEAM)
    await bot.press(CY, card, "Going", where=TEAM)  # waitlisted
    [event] = await EventRepo(bot.services.store).of_cop(TEAM.id)
    repo = EventRepo(bot.services.store)
    await repo.record_feedback(TEAM.id, event.event_id, BO.aad, BO.name, 5, "Loved it, Bo", NOW)
    [source] = [s for s in bot.services.privacy.sources if s.name == "events"]
    exported = await source.export(bot.services, BO.aad)
    assert exported["rsvps"] == [
        {"cop_id": TEAM.id, "event_id": event.event_id, "at": NOW.isoformat(), "answer": "going"}
    ]
    assert exported["feedback"][0]["rating"] == 5
    assert (await source.export(bot.services, ALICE.aad))["events_created"][0]["title"] == FORM["title"]

    await source.erase(bot.services, BO.aad)
    assert await source.export(bot.services, BO.aad) == {"rsvps": [], "feedback": [], "events_created": []}
    after = await repo.get(TEAM.id, event.event_id)
    assert after is not None
    assert (after.going, after.waitlist) == (1, 0)  # Bo's place went to Cy
    assert [r.aad_id for r in await repo.rsvps(TEAM.id, event.event_id, ("going",))] == [CY.aad]
    [kept] = await repo.feedback(TEAM.id, event.event_id)
    assert (kept.rating, kept.aad_id, kept.name, kept.comment) == (5, "", "", "")
    assert (await feedback_average(bot.services.store, TEAM.id, event.event_id)).average == 5
    await source.erase(bot.services, ALICE.aad)
    assert (await repo.get(TEAM.id, event.event_id)).created_by_name == ""  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "party"}, "kind"),
        ({"audience": "everyone"}, "audience"),
        ({"start": "25:00"}, "start"),
        ({"end": ""}, "end"),
        ({"date": "2026-11-30", "start": "12:30", "end": "12:30"}, "end"),
        ({"date": "2026-11-30", "start": "09:00", "end": "08:00"}, "end"),
        ({"link": "https:// spaced.example/x"}, "link"),
        ({"link": "ftp://example.org/x"}, "link"),
        ({"link": "https://" + "a" * 500}, "link"),
        ({"place": "p" * 201}, "place"),
        ({"capacity": "2.5"}, "capacity"),
        ({"capacity": "ten"}, "capacity"),
        ({"capacity": "-3"}, "capacity"),
        ({"description": "d" * 2001}, "description"),
        ({"tz": "../../etc/passwd"}, "tz"),
    ],
)
def test_validation_refuses(change: dict[str, str], field: str) -> None:
    result = validate({**FORM, **change}, NOW)
    assert isinstance(result, Invalid)
    assert result.field == field


def test_validation_accepts_and_converts_to_utc() -> None:
    result = validate({**FORM, "tz": "America/New_York", "capacity": "40"}, NOW)
    assert isinstance(result, Draft)
    assert result.start == datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    assert result.capacity == 40
    ambiguous = validate({**FORM, "date": "2027-10-31", "start": "01:30", "end": "02:30"}, NOW)
    assert isinstance(ambiguous, Draft)  # the repeated hour in autumn: the first 01:30 (BST) is taken
    assert ambiguous.start == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)


async def test_meeting_starts_for_governance(bot: BotUnderTest) -> None:
    from bot.domain.events import meeting_starts

    await setup(bot, TEAM, leads=[ALICE], sponsor=CY)
    repo = EventRepo(bot.services.store)
    made = {}
    for kind, days in (("lead_sponsor", -50), ("lead_sponsor", -5), ("core_meeting", 10), ("social", 1)):
        start = NOW + timedelta(days=days)
        draft = Draft("Meeting", kind, start, start + timedelta(hours=1), "Europe/London", place="Room")  # type: ignore[arg-type]
        made[(kind, days)] = await repo.create(TEAM.id, draft, ALICE.aad, ALICE.name, NOW - timedelta(days=60))
    await repo.cancel(TEAM.id, made[("lead_sponsor", -5)].event_id, NOW - timedelta(days=6))
    lead_sponsor, core = await meeting_starts(
        bot.services.store, TEAM.id, NOW - timedelta(days=60), NOW + timedelta(days=30)
    )
    assert lead_sponsor == (NOW - timedelta(days=50),)
    assert core == (NOW + timedelta(days=10),)
