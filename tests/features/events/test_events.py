"""Events end to end: create → announce → RSVP → update in place → waitlist promotion → edit / cancel →
reminders → feedback, through /api/messages and the fake connector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.clock import FakeClock
from bot.domain.events import EventRepo, feedback_average
from bot.features.event_notices import settle
from bot.features.events import run_due
from tests.features.events.kit import FORM, messages_to, personal_messages, setup
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest, find_action

ALICE = user(1, "Alice Adams")  # lead
BO = user(2, "Bo Brown")
CY = user(3, "Cy Chen")
DEE = user(4, "Dee Dunn")
EVE = user(5, "Eve Evans")  # sponsor
TEAM = team(1, "Data and Insight")
START = datetime(2026, 11, 30, 12, 30, tzinfo=UTC)  # 12:30 in London (GMT in November)


def clock(bot: BotUnderTest) -> FakeClock:
    c = bot.services.clock
    assert isinstance(c, FakeClock)
    return c


async def create_event(bot: BotUnderTest, **changes: str) -> dict[str, Any]:
    """A lead creates an event through the form; returns the channel announcement card after delivery."""
    form = await bot.say_in(ALICE, TEAM, "event new")
    created = await bot.press(ALICE, form.card, "Create and announce", {**FORM, **changes}, where=TEAM)
    assert created.body["type"] == "application/vnd.microsoft.card.adaptive", created.body
    assert "Event created" in str(created.card)
    before = len(bot.connector.calls)
    await bot.services.outbox.flush(bot.services.clock.now())
    [announcement] = [c for c in bot.connector.sent(TEAM.general) if c in bot.connector.calls[before:]]
    assert announcement.card is not None
    return announcement.card


def counts_of(card: dict[str, Any] | None) -> str:
    return str(card)


async def only_event(bot: BotUnderTest) -> Any:
    [event] = await EventRepo(bot.services.store).of_cop(TEAM.id)
    return event


async def test_create_announce_rsvp_update_in_place_waitlist_edit_remind_feedback(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], sponsor=EVE, members={BO: "core", CY: "wider", DEE: "wider"})
    card = await create_event(bot, capacity="2")
    text = str(card)
    assert "Lunch and learn: dashboards" in text
    assert "Mon 30 Nov 2026, 12:30\N{EN DASH}13:30 GMT (Europe/London)" in text
    assert "2 of 2 places left" in text
    for title in ("Going", "Maybe", "Can't go", "Add to calendar", "Join online"):
        assert title in text
    announcement_id = await bot.services.outbox.sent_activity_id(f"event:{(await only_event(bot)).event_id}:announce")
    assert announcement_id

    # RSVP: the clicker sees their own answer at once; the shared card is updated in place for everyone
    going = await bot.press(BO, card, "Going", where=TEAM)
    assert going.status == 200
    assert "You're going." in str(going.card)
    assert "**1** going" in str(going.card)
    await settle(bot.services)
    update = bot.connector.updates()[-1]
    assert update.activity_id == announcement_id
    assert update.conversation_id == TEAM.general
    assert "**1** going" in update.card_text
    assert "You're going" not in update.card_text  # the shared card has nobody's own answer
    assert update.card is not None
    assert BO.id in update.card["refresh"]["userIds"]

    # capacity 2: the third "going" joins the waitlist
    await bot.press(CY, card, "Going", where=TEAM)
    waiting = await bot.press(DEE, card, "Going", where=TEAM)
    assert "on the waitlist" in str(waiting.card)
    assert "**1** on the waitlist" in str(waiting.card)
    assert "0 of 2 places left" in str(waiting.card)

    # double click: nothing changes, nothing is written twice
    again = await bot.press(CY, card, "Going", where=TEAM)
    assert "You're going." in str(again.card)
    assert "**2** going" in str(again.card)

    # Bo drops out: Dee is promoted and told
    bot.connector.clear()
    dropped = await bot.press(BO, card, "Can't go", where=TEAM)
    assert "You said you can't go." in str(dropped.card)
    assert "**2** going" in str(dropped.card)
    assert "**1** can't go" in str(dropped.card)
    assert "on the waitlist" not in str(dropped.card)
    await bot.services.outbox.flush(bot.services.clock.now())
    [told] = messages_to(bot.connector, DEE)
    assert "A place opened up" in told.card_text
    await settle(bot.services)
    assert "**2** going" in bot.connector.updates()[-1].card_text
    event = await only_event(bot)
    assert (event.going, event.waitlist, event.maybe, event.no) == (2, 0, 0, 1)

    # events: my answer; a lead opens the event and edits it
    listed = await bot.say_in(DEE, TEAM, "events")
    assert "Lunch and learn: dashboards" in listed.everything
    assert "You're going." in listed.everything
    shown = await bot.say(ALICE, "events")
    opened = await bot.press(ALICE, shown.card, "Open")
    assert "Edit" in str(opened.card)
    assert "Cancel event" in str(opened.card)
    form = await bot.press(ALICE, opened.card, "Edit")
    assert form.card is not None
    values = {i["id"]: i.get("value", "") for i in _inputs(form.card)}
    assert values["title"] == "Lunch and learn: dashboards"
    assert values["start"] == "12:30"
    bot.connector.clear()
    saved = await bot.press(
        ALICE, form.card, "Save changes", {**FORM, "start": "13:00", "end": "14:00", "capacity": "2"}
    )
    assert "Event updated" in str(saved.card)
    assert "2 people going" in str(saved.card)
    await bot.services.outbox.flush(bot.services.clock.now())
    told_change = {who for who, call in personal_messages(bot.connector) if "has changed" in call.card_text}
    assert told_change == {CY.id, DEE.id}
    await settle(bot.services)
    assert "13:00\N{EN DASH}14:00" in bot.connector.updates()[-1].card_text
    event = await only_event(bot)
    assert event.sequence == 1

    # reminders: 24 h and 1 h before, to those going, never twice (the scheduler's minute tick finds run_due)
    from bot.jobs.scheduler import due_work

    assert dict(due_work(bot.services).items())["events"] is run_due
    start = START + timedelta(minutes=30)
    clock(bot).set(start - timedelta(hours=23))
    assert await run_due(bot.services, clock(bot).now()) == 2
    assert await run_due(bot.services, clock(bot).now()) == 0
    clock(bot).set(start - timedelta(minutes=50))
    assert await run_due(bot.services, clock(bot).now()) == 2
    assert await run_due(bot.services, clock(bot).now()) == 0
    bot.connector.clear()
    await bot.services.outbox.flush(clock(bot).now())
    reminded = personal_messages(bot.connector)
    assert sorted(who for who, _ in reminded) == sorted([CY.id, DEE.id, CY.id, DEE.id])
    assert any("starts tomorrow" in c.card_text for _, c in reminded)
    assert any("starts in an hour" in c.card_text for _, c in reminded)
    assert BO.id not in {who for who, _ in reminded}

    # answers close at the start
    clock(bot).set(start)
    late = await bot.press(BO, card, "Going", where=TEAM)
    assert late.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "answers are closed" in str(late.card)
    assert (await only_event(bot)).going == 2

    # feedback after the end
    clock(bot).set(start + timedelta(hours=2))
    assert await run_due(bot.services, clock(bot).now()) == 2
    assert await run_due(bot.services, clock(bot).now()) == 0
    bot.connector.clear()
    await bot.services.outbox.flush(clock(bot).now())
    [feedback_card] = messages_to(bot.connector, DEE)
    assert "How was" in feedback_card.card_text
    missing = await bot.press(DEE, feedback_card.card, "Send feedback", {"comment": "Useful"})
    assert "Choose a rating" in str(missing.card)
    thanks = await bot.press(DEE, feedback_card.card, "Send feedback", {"rating": "4", "comment": "Useful"})
    assert "You rated" in str(thanks.card)
    [cy_card] = messages_to(bot.connector, CY)
    await bot.press(CY, cy_card.card, "Send feedback", {"rating": "5"})
    stranger = await bot.press(BO, cy_card.card, "Send feedback", {"rating": "1"})
    assert "Only people who were going" in stranger.body["value"]
    ratings = await feedback_average(bot.services.store, TEAM.id, event.event_id)
    assert (ratings.count, ratings.average) == (2, 4.5)
    assert (await feedback_average(bot.services.store, TEAM.id)).average == 4.5


def _inputs(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in card["body"] if str(b.get("type", "")).startswith("Input.")]


async def test_cancel_updates_the_announcement_and_tells_those_going(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core", CY: "wider"})
    card = await create_event(bot, title="Core members' meeting", kind="core_meeting", audience="core")
    await bot.press(BO, card, "Going", where=TEAM)
    refused = await bot.press(CY, card, "Going", where=TEAM)  # wider member: core-only event
    assert "core members only" in refused.body["value"]
    event = await only_event(bot)
    assert (event.going, event.maybe, event.no) == (1, 0, 0)

    shown = await bot.say_in(ALICE, TEAM, "events")
    opened = await bot.press(ALICE, shown.card, "Open", where=TEAM)
    confirm = await bot.press(ALICE, opened.card, "Cancel event", where=TEAM)
    assert "Cancel this event?" in str(confirm.card)
    bot.connector.clear()
    done = await bot.press(ALICE, confirm.card, "Yes, cancel it", where=TEAM)
    assert "Event cancelled" in str(done.card)
    await bot.services.outbox.flush(bot.services.clock.now())
    [told] = messages_to(bot.connector, BO)
    assert "has been cancelled" in told.card_text
    await settle(bot.services)
    assert "This event has been cancelled." in bot.connector.updates()[-1].card_text
    assert "Going" not in [a.get("title") for a in (bot.connector.updates()[-1].card or {}).get("actions", [])]

    # RSVP to a cancelled event: a clear answer, nothing changes
    late = await bot.press(BO, card, "Can't go", where=TEAM)
    assert "cancelled" in str(late.card)
    assert (await only_event(bot)).going == 1
    twice = await bot.press(ALICE, confirm.card, "Yes, cancel it", where=TEAM)
    assert "already cancelled" in twice.body["value"]
    # cancelled events don't remind or ask for feedback
    assert await run_due(bot.services, START - timedelta(hours=1)) == 0


async def test_leads_and_sponsor_meeting_is_announced_privately(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE, CY], sponsor=EVE, members={BO: "core"})
    form = await bot.say(ALICE, "event new")  # personal chat: Alice leads one CoP
    created = await bot.press(
        ALICE, form.card, "Create and announce", {**FORM, "kind": "lead_sponsor", "audience": "leads", "link": ""}
    )
    assert "privately" in str(created.card)
    bot.connector.clear()
    await bot.services.outbox.flush(bot.services.clock.now())
    assert bot.connector.sent(TEAM.general) == []
    assert {who for who, _ in personal_messages(bot.connector)} == {ALICE.id, CY.id, EVE.id}
    [to_eve] = messages_to(bot.connector, EVE)
    answered = await bot.press(EVE, to_eve.card, "Going")
    assert "You're going." in str(answered.card)
    member = await bot.press(BO, to_eve.card, "Going")  # a forwarded card: Bo is not a lead or the sponsor
    assert "leads and sponsor only" in member.body["value"]
    listed = await bot.say(BO, "events")
    assert "Lead" not in listed.everything.replace("Leads:", "")


async def test_non_lead_cannot_create_or_edit(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core"})
    refused = await bot.say_in(BO, TEAM, "event new")
    assert "only this CoP's leads" in refused.everything
    form = await bot.say_in(ALICE, TEAM, "event new")
    forged = await bot.press(BO, form.card, "Create and announce", FORM, where=TEAM)
    assert "only this CoP's leads" in forged.body["value"]
    assert await EventRepo(bot.services.store).of_cop(TEAM.id) == []
    card = await create_event(bot)
    event = await only_event(bot)
    edit = await bot.click(
        BO, "event.edit", bot.sealed("event.edit", {"cop_id": TEAM.id, "id": event.event_id}), where=TEAM
    )
    assert "only this CoP's leads" in edit.body["value"]
    assert find_action(card, "Going")


async def test_form_validation_shows_the_reason_and_keeps_the_values(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE])
    form = await bot.say_in(ALICE, TEAM, "event new")
    cases = {
        "The end time must be after the start time.": {"end": "12:00"},
        "in the past": {"date": "2026-11-20"},
        "web address starting with https://": {"link": "javascript:alert(1)"},
        "Capacity must be a whole number from 1 to 10000": {"capacity": "0"},
        "at least 3 characters": {"title": "x"},
        "I don't know the time zone": {"tz": "Mars/Olympus"},
        "clocks go forward": {"date": "2027-03-28", "start": "01:30", "end": "03:00"},
        "Say where it happens": {"link": "", "place": ""},
        "more than a year away": {"date": "2028-01-01"},
        "Pick the date": {"date": "next tuesday"},
        "too long": {"title": "t" * 121},
    }
    for reason, change in cases.items():
        answered = await bot.press(ALICE, form.card, "Create and announce", {**FORM, **change}, where=TEAM)
        text = str(answered.card)
        assert reason in text, (reason, text[:300])
        assert "New event" in text  # the form again, with the user's values
        for key, value in change.items():
            if value and key not in ("capacity",):
                assert value[:60] in text, key
    assert await EventRepo(bot.services.store).of_cop(TEAM.id) == []
    big = await bot.press(ALICE, form.card, "Create and announce", {**FORM, "capacity": "10001"}, where=TEAM)
    assert "from 1 to 10000" in str(big.card)


async def test_double_click_on_create_makes_one_event(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE])
    form = await bot.say_in(ALICE, TEAM, "event new")
    first = await bot.press(ALICE, form.card, "Create and announce", FORM, where=TEAM)
    second = await bot.press(ALICE, form.card, "Create and announce", FORM, where=TEAM)
    assert "Event created" in str(first.card)
    assert "pressed twice" in str(second.card)
    assert len(await EventRepo(bot.services.store).of_cop(TEAM.id)) == 1
    await bot.services.outbox.flush(bot.services.clock.now())
    assert len([c for c in bot.connector.sent(TEAM.general) if "Can't go" in c.card_text]) == 1


async def test_bad_rsvps_change_nothing(bot: BotUnderTest) -> None:
    other = team(2, "Research")
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core"})
    await setup(bot, other, leads=[CY], members={BO: "wider"})
    card = await create_event(bot)
    event = await only_event(bot)
    # unknown event (a genuine seal on an id that does not exist)
    unknown = await bot.click(
        BO,
        "event.rsvp",
        {**bot.sealed("event.rsvp", {"cop_id": TEAM.id, "id": "0" * 12}), "choice": "going"},
        where=TEAM,
    )
    assert "can't find that event" in unknown.body["value"]
    # a genuine lead's button of this CoP's event, clicked in another CoP's team (RSVP buttons are portable: a shared
    # card answers in its own CoP, tests/features/questions/test_compose_search.py)
    elsewhere = await bot.click(
        ALICE, "event.edit", bot.sealed("event.edit", {"cop_id": TEAM.id, "id": event.event_id}), where=other
    )
    assert "belongs to another CoP" in elsewhere.body["value"]
    # another CoP's id swapped into the data: the seal refuses it
    action = find_action(card, "Going")
    forged = await bot.click(BO, "event.rsvp", {**action["data"], "cop_id": other.id}, where=other)
    assert "altered" in forged.body["value"]
    # an event id of this CoP moved into the other CoP's partition does not exist there
    moved = await bot.click(
        BO,
        "event.rsvp",
        {**bot.sealed("event.rsvp", {"cop_id": other.id, "id": event.event_id}), "choice": "going"},
        where=other,
    )
    assert "can't find that event" in moved.body["value"]
    # unsigned, and a made-up answer
    unsigned = await bot.click(
        BO, "event.rsvp", {"cop_id": TEAM.id, "id": event.event_id, "choice": "going"}, where=TEAM
    )
    assert "didn't come from me" in unsigned.body["value"]
    weird = await bot.click(BO, "event.rsvp", {**action["data"], "choice": "definitely"}, where=TEAM)
    assert "isn't one I know" in weird.body["value"]
    after = await only_event(bot)
    assert (after.going, after.maybe, after.no, after.waitlist) == (0, 0, 0, 0)
    assert await EventRepo(bot.services.store).rsvps(TEAM.id, event.event_id) == []


async def test_events_in_personal_chat_lists_all_my_cops(bot: BotUnderTest) -> None:
    other = team(2, "Research")
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core"})
    await setup(bot, other, leads=[CY], members={BO: "wider"})
    await create_event(bot, title="Dashboards lunch")
    form = await bot.say_in(CY, other, "event new")
    await bot.press(
        CY,
        form.card,
        "Create and announce",
        {**FORM, "title": "Research social", "kind": "social", "date": "2026-11-25"},
        where=other,
    )
    listed = await bot.say(BO, "events")
    text = listed.everything
    assert "Research social" in text
    assert "Dashboards lunch" in text
    assert text.index("Research social") < text.index("Dashboards lunch")  # soonest first
    assert "Data and Insight" in text
    assert "Research" in text
    assert "You haven't answered yet." in text
    nobody = await bot.say(DEE, "events")
    assert "No upcoming events" in nobody.everything


async def test_lead_of_two_cops_chooses_which(bot: BotUnderTest) -> None:
    other = team(2, "Research")
    await setup(bot, TEAM, leads=[ALICE])
    await setup(bot, other, leads=[ALICE])
    asked = await bot.say(ALICE, "event new")
    assert "Which CoP" in asked.everything
    form = await bot.press(ALICE, asked.card, "Research")
    assert "New event" in str(form.card)
    assert "Research" in str(form.card)
    created = await bot.press(ALICE, form.card, "Create and announce", FORM)
    assert "Event created" in str(created.card)
    assert len(await EventRepo(bot.services.store).of_cop(other.id)) == 1


async def test_events_in_a_team_that_is_not_a_cop(bot: BotUnderTest) -> None:
    posted = await bot.say_in(BO, team(8, "Just a team"), "events")
    assert "isn't set up as a CoP" in posted.everything
    lead = await bot.say_in(ALICE, team(8, "Just a team"), "event new")
    assert "only this CoP's leads" in lead.everything  # nobody leads a team that is not a CoP


async def test_a_redelivered_rsvp_answers_both_times_and_counts_once(bot: BotUnderTest) -> None:
    """RSVP is registered idempotent, so it takes no redelivery claim: Teams delivering the same click twice
    runs it twice, and the second run changes nothing (and promotes nobody twice)."""
    from bot.routing.middleware import DEDUPE_TABLE, _dedupe_keys
    from storage.base import NotFound

    await setup(bot, TEAM, leads=[ALICE], members={BO: "core", CY: "wider"})
    card = await create_event(bot, capacity="1")

    def click(person: Any, title: str) -> dict[str, Any]:
        action = find_action(card, title)
        activity = bot.acts.execute(person, action["verb"], where=TEAM)
        activity["value"]["action"]["data"] = action["data"]
        return activity

    going = click(BO, "Going")
    first, second = await bot.post(going), await bot.post(going)
    for posted in (first, second):
        assert posted.status == 200
        assert "You're going." in str(posted.card)
        assert "**1** going" in str(posted.card)
    with pytest.raises(NotFound):  # no claim was written for it
        await bot.services.store.get(DEDUPE_TABLE, *_dedupe_keys(going["conversation"]["id"], going["id"]))
    waiting = await bot.press(CY, card, "Going", where=TEAM)
    assert "on the waitlist" in str(waiting.card)

    # Bo's "Can't go" delivered twice: Cy is promoted once and told once
    bot.connector.clear()
    cant = click(BO, "Can't go")
    first, second = await bot.post(cant), await bot.post(cant)
    for posted in (first, second):
        assert posted.status == 200
        assert "You said you can't go." in str(posted.card)
        assert "**1** going" in str(posted.card)
        assert "on the waitlist" not in str(posted.card)
    await bot.services.outbox.flush(bot.services.clock.now())
    [told] = messages_to(bot.connector, CY)
    assert "A place opened up" in told.card_text
    event = await only_event(bot)
    assert (event.going, event.waitlist, event.maybe, event.no) == (1, 0, 0, 1)
    stored = {r.aad_id: r.status for r in await EventRepo(bot.services.store).rsvps(TEAM.id, event.event_id)}
    assert stored == {BO.aad: "no", CY.aad: "going"}
    await settle(bot.services)
