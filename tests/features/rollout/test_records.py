"""``record event``, ``record meeting`` and ``actions`` end to end: what leads record of the past turns the
scorecard green, past-only dates, who may record, forged and other CoPs' buttons, action reminders on the due day
and closing them from the button, the lead-sponsor reminder once at five weeks, and ``my data`` / ``forget me``."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.records import TABLE, RecordRepo
from bot.features import records as records_feature
from bot.features.health import compute
from storage.base import encode_key
from tests.features.health.kit import ADMIN, NOW, clock, join, make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

ALICE, BO = user(1, "Alice Adams"), user(2, "Bo Brown")
EVE = user(5, "Eve Evans")  # the sponsor
CORA = user(11, "Cora Core")  # a core member
OLLY = user(99, "Olly Outsider")
TEAM = team(1, "Data and Insight")
OTHER = team(2, "Finance")


async def setup_cops(bot: BotUnderTest, *, created: datetime = NOW - timedelta(days=200)) -> None:
    store = bot.services.store
    await make_cop(store, bot.connector.url, TEAM, created, leads=(ALICE, BO), sponsor=EVE)
    await make_cop(store, bot.connector.url, OTHER, created, leads=(OLLY,))
    await join(store, TEAM, {CORA: ("core", "central")}, created)


async def figure(bot: BotUnderTest, label: str) -> tuple[str, str]:
    from bot.domain.cops import CopRepo

    cop = await CopRepo(bot.services.store).get(TEAM.id)
    assert cop is not None
    sc, _, _ = await compute(bot.services, cop)
    [ind] = [i for a in sc.areas for i in a.indicators if i.label == label]
    return ind.figure, ind.rating


async def record_rows(bot: BotUnderTest, cop_id: str = TEAM.id) -> list[Any]:
    return await bot.services.store.query(TABLE, encode_key(cop_id))


async def test_recorded_core_and_lead_sponsor_meetings_turn_the_scorecard_green(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    assert await figure(bot, "Core meeting this term") == ("not yet", "red")  # 75% of the autumn term gone
    assert (await figure(bot, "Lead-sponsor meeting"))[1] == "red"
    assert await figure(bot, "Lunch and Learns this term") == ("0", "red")

    form = await bot.say_in(ALICE, TEAM, "record event")
    assert form.card is not None
    assert "Record a past activity" in form.everything
    done = await bot.press(
        ALICE, form.card, "Record",
        {"kind": "core_meeting", "date": "2026-10-20", "title": "Autumn core meeting", "attendance": "14",
         "notes": "Planned the spring term."},
        where=TEAM,
    )  # fmt: skip
    assert "Recorded" in done.everything
    assert "14" in done.everything
    ll = await bot.say_in(ALICE, TEAM, "record event")
    await bot.press(ALICE, ll.card, "Record", {"kind": "lunch_and_learn", "date": "2026-11-10"}, where=TEAM)
    # nothing was announced in the channel: the only messages are the replies to Alice
    assert all("Recorded" in c.everything or "Record a past" in c.everything for c in bot.connector.sent())

    three_weeks_ago = (NOW - timedelta(weeks=3)).date().isoformat()
    meeting = await bot.say_in(BO, TEAM, "record meeting")
    assert meeting.card is not None
    logged = await bot.press(
        BO, meeting.card, "Log meeting",
        {"kind": "lead_sponsor", "date": three_weeks_ago, "attendees": f"{ALICE.aad},{BO.aad},{EVE.aad}",
         "notes": "Budget for the spring conference.", "action1": "Book the conference room", "owner1": CORA.aad,
         "due1": "2026-11-30"},
        where=TEAM,
    )  # fmt: skip
    assert "Book the conference room" in logged.everything
    assert "Cora Core" in logged.everything

    assert await figure(bot, "Core meeting this term") == ("held 20 Oct", "green")
    assert await figure(bot, "Lead-sponsor meeting") == ("3 weeks ago", "green")
    assert await figure(bot, "Lunch and Learns this term") == ("1", "green")
    # the governance check sees them too, and the programme view and its CSV count them like events
    check = await bot.say_in(ALICE, TEAM, "governance")
    assert "Everything is in order" in check.everything
    programme = await bot.say(ADMIN, "programme")
    assert "3 events, 1 Lunch and Learns" in programme.everything
    [url] = [a["url"] for a in (programme.card or {}).get("actions", []) if a["title"] == "Download CSV"]
    status, body, _ = await bot.get(url.split("127.0.0.1:3978", 1)[1])
    assert status == 200
    [row] = [r for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig"))) if r["CoP"] == TEAM.name]
    assert (row["Events this term"], row["Lunch and Learns this term"]) == ("3", "1")


async def test_past_records_are_checked_and_refused_clearly(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    form = (await bot.say_in(ALICE, TEAM, "record event")).card
    cases = {
        "2026-11-24": "in the future",
        "2030-01-01": "in the future",
        "1999-05-01": "before 2010",
        "14/10/2026": "a date such as",
        "": "Date is required",
    }
    for day, reason in cases.items():
        refused = await bot.press(ALICE, form, "Record", {"kind": "workshop", "date": day}, where=TEAM)
        assert reason in refused.everything, (day, refused.everything)
        assert "Nothing was recorded" in refused.everything
    too_long = await bot.press(ALICE, form, "Record", {"kind": "social", "date": "2026-11-01", "notes": "x" * 2001},
                               where=TEAM)  # fmt: skip
    assert "too long" in too_long.everything
    bad_count = await bot.press(ALICE, form, "Record", {"kind": "social", "date": "2026-11-01", "attendance": "-3"},
                                where=TEAM)  # fmt: skip
    assert "between 0 and" in bad_count.everything
    bad_kind = await bot.press(ALICE, form, "Record", {"kind": "party", "date": "2026-11-01"}, where=TEAM)
    assert "from the list" in bad_kind.everything
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    outsider = {"kind": "core_meeting", "date": "2026-11-01", "attendees": OLLY.aad}
    stranger = await bot.press(ALICE, meeting, "Log meeting", outsider, where=TEAM)
    assert "choose people from the list" in stranger.everything
    ownerless = {"kind": "core_meeting", "date": "2026-11-01", "action1": "Do it"}
    no_owner = await bot.press(ALICE, meeting, "Log meeting", ownerless, where=TEAM)
    assert "needs an owner" in no_owner.everything
    today = await bot.press(ALICE, form, "Record", {"kind": "social", "date": "2026-11-23"}, where=TEAM)
    assert "Recorded" in today.everything  # today is not the future
    assert len(await record_rows(bot)) == 1


async def test_only_the_cops_leads_and_admins_record_and_buttons_must_be_genuine(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    for who in (CORA, EVE, OLLY):
        refused = await bot.say_in(who, TEAM, "record event")
        assert "only this CoP's leads and programme admins" in refused.everything, refused.everything
    form = (await bot.say_in(ALICE, TEAM, "record event")).card
    inputs = {"kind": "social", "date": "2026-11-01"}
    assert "only this CoP's leads" in (await bot.press(CORA, form, "Record", inputs, where=TEAM)).everything
    # OLLY leads the other CoP: TEAM's genuine button pressed in OTHER's team is refused
    assert "another CoP" in (await bot.press(OLLY, form, "Record", inputs, where=OTHER)).everything
    # in a personal chat the sealed cop_id decides, and Olly does not lead TEAM
    assert "only this CoP's leads" in (await bot.press(OLLY, form, "Record", inputs)).everything
    forged = await bot.click(ALICE, "record.save", {"cop_id": TEAM.id, **inputs}, where=TEAM)
    assert "didn't come from me" in forged.everything
    stale = bot.sealed("record.save", {"cop_id": TEAM.id})
    clock(bot).advance(timedelta(days=121))
    expired = await bot.click(ALICE, "record.save", {**stale, **inputs}, where=TEAM)
    assert "expired" in expired.everything
    assert await record_rows(bot) == []
    # a programme admin may record for any CoP, from a personal chat with the sealed card
    clock(bot).set(NOW)
    admin_form = bot.sealed("record.save", {"cop_id": TEAM.id})
    done = await bot.click(ADMIN, "record.save", {**admin_form, **inputs})
    assert "Recorded" in done.everything
    assert len(await record_rows(bot)) == 1


async def test_an_action_owner_is_reminded_on_the_due_day_and_closes_it_from_the_button(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    await bot.press(
        ALICE, meeting, "Log meeting",
        {"kind": "core_meeting", "date": "2026-11-20", "attendees": CORA.aad, "action1": "Write the newsletter",
         "owner1": CORA.aad, "due1": "2026-11-25", "action2": "Old thing", "owner2": BO.aad, "due2": "2026-11-21"},
        where=TEAM,
    )  # fmt: skip
    listed = await bot.say_in(ALICE, TEAM, "actions")
    assert "Write the newsletter" in listed.everything
    assert "Old thing" in listed.everything
    assert "overdue" in listed.everything  # the one due on the 21st
    services = bot.services
    # 24 Nov: nothing is due that was logged in time (the 21 Nov one was already late when logged: no reminder);
    # the four messages are the lead-sponsor reminders of two CoPs that never recorded one
    day_before = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    assert await records_feature.run_due(services, day_before) == 4
    due_day = datetime(2026, 11, 25, 8, 30, tzinfo=UTC)
    assert await records_feature.run_due(services, due_day) == 0  # before 09:00
    due_day = due_day.replace(hour=9, minute=5)
    assert await records_feature.run_due(services, due_day) == 1
    assert await records_feature.run_due(services, due_day + timedelta(minutes=1)) == 0
    assert await services.outbox.flush(due_day) == 5
    [sent] = [c for c in bot.connector.sent() if "action is due" in c.card_text]
    assert bot.connector.recipient(sent) == CORA.id
    assert "Write the newsletter" in sent.card_text
    # a later day does not remind again
    services.periods_done.forget(records_feature.JOB)
    assert await records_feature.run_due(services, due_day + timedelta(days=1)) == 0
    # the owner (not a lead) closes it from the reminder; someone else may not
    assert sent.card is not None
    assert "owner or one of the CoP's leads" in (await bot.press(OLLY, sent.card, "Mark done")).everything
    closed = await bot.press(CORA, sent.card, "Mark done")
    assert "Marked done" in closed.everything
    listed = await bot.say_in(ALICE, TEAM, "actions")
    assert "Write the newsletter" not in listed.everything
    assert "Old thing" in listed.everything
    # a lead closes the other from the list, which refreshes in place
    refreshed = await bot.press(ALICE, listed.card, "Mark done", where=TEAM)
    assert "No open actions" in refreshed.everything
    assert await RecordRepo(services.store).actions_of(TEAM.id) == []


async def test_the_lead_sponsor_reminder_fires_once_when_five_weeks_have_passed(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    services = bot.services
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    await bot.press(ALICE, meeting, "Log meeting", {"kind": "lead_sponsor", "date": "2026-11-02"}, where=TEAM)
    four_weeks = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    bot.connector.clear()
    # four weeks after TEAM's meeting: only OTHER, which never recorded one in its 200 days, reminds its one lead
    assert await records_feature.run_due(services, four_weeks) == 1
    five_weeks = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    assert await records_feature.run_due(services, five_weeks) == 3  # TEAM's 2 leads and its sponsor, once
    for day in range(1, 8):
        services.periods_done.forget(records_feature.JOB)
        assert await records_feature.run_due(services, five_weeks + timedelta(days=day)) == 0
    await services.outbox.flush(five_weeks)
    texts = {bot.connector.recipient(c): c.card_text for c in bot.connector.sent()}
    assert {ALICE.id, BO.id, EVE.id} <= set(texts)
    assert "Mon 2 Nov 2026" in texts[EVE.id]
    assert "every 6 weeks" in texts[EVE.id]
    # the next meeting resets the clock: five weeks after it, one more reminder each
    clock(bot).set(datetime(2026, 12, 10, 10, 0, tzinfo=UTC))
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    await bot.press(ALICE, meeting, "Log meeting", {"kind": "lead_sponsor", "date": "2026-12-09"}, where=TEAM)
    services.periods_done.forget(records_feature.JOB)
    assert await records_feature.run_due(services, datetime(2027, 1, 13, 10, 0, tzinfo=UTC)) == 3


async def test_my_data_and_forget_me_cover_attendees_and_action_owners(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    await bot.press(
        ALICE, meeting, "Log meeting",
        {"kind": "core_meeting", "date": "2026-11-20", "attendees": f"{CORA.aad},{BO.aad}", "notes": "Good turnout",
         "action1": "Send the slides", "owner1": CORA.aad, "due1": "2026-11-27"},
        where=TEAM,
    )  # fmt: skip
    [source] = [s for s in bot.services.privacy.sources if s.name == "records"]
    exported = await source.export(bot.services, CORA.aad)
    assert exported["records"][0]["you"] == ["attended"]
    assert exported["actions"][0]["action"] == "Send the slides"
    confirm = await bot.say(CORA, "forget me")
    done = await bot.press(CORA, confirm.card, "Erase my data")
    assert "Your data has been erased" in str(done.body)
    rows = json.dumps([r.data for r in await record_rows(bot)], default=str)
    assert CORA.aad not in rows
    assert CORA.id not in rows
    assert "Cora Core" not in rows
    assert BO.aad in rows
    assert "Good turnout" in rows
    [action] = await RecordRepo(bot.services.store).actions_of(TEAM.id)
    assert action.owner.name == "former member"
    assert await source.export(bot.services, CORA.aad) == {"records": [], "actions": []}


async def test_a_lead_removes_a_record_made_by_mistake(bot: BotUnderTest) -> None:
    await setup_cops(bot)
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    inputs = {
        "kind": "core_meeting",
        "date": "2026-10-20",
        "action1": "Tidy up",
        "owner1": BO.aad,
        "due1": "2026-12-01",
    }
    await bot.press(ALICE, meeting, "Log meeting", inputs, where=TEAM)
    assert await figure(bot, "Core meeting this term") == ("held 20 Oct", "green")
    listed = await bot.say_in(BO, TEAM, "records")
    assert "Tue 20 Oct 2026" in listed.everything
    assert "Alice Adams" in listed.everything
    assert "only this CoP's leads" in (await bot.press(CORA, listed.card, "Remove", where=TEAM)).everything
    removed = await bot.press(BO, listed.card, "Remove", where=TEAM)
    assert "Removed the core members' meeting of 2026-10-20" in removed.everything
    assert "Nothing recorded yet" in removed.everything
    assert await record_rows(bot) == []  # its action went with it
    again = await bot.press(BO, listed.card, "Remove", where=TEAM)
    assert "removed already" in again.everything
    assert (await figure(bot, "Core meeting this term"))[1] == "red"


async def test_no_reminder_when_the_next_lead_sponsor_meeting_is_booked_and_none_on_the_monthly_tick(
    bot: BotUnderTest,
) -> None:
    from bot.features import governance
    from tests.features.health.kit import add_event

    await setup_cops(bot)
    services = bot.services
    meeting = (await bot.say_in(ALICE, TEAM, "record meeting")).card
    await bot.press(ALICE, meeting, "Log meeting", {"kind": "lead_sponsor", "date": "2026-10-01"}, where=TEAM)
    await add_event(services.store, TEAM, "lead_sponsor", datetime(2026, 12, 1, 12, tzinfo=UTC), lead=ALICE)
    # seven weeks since the last one, but the next is booked: no reminder for TEAM (OTHER's lead gets one)
    bot.connector.clear()
    assert await records_feature.run_due(services, NOW) == 1
    await services.outbox.flush(NOW)
    assert {bot.connector.recipient(c) for c in bot.connector.sent()} == {OLLY.id}
    # the monthly governance reminder leaves the lead-sponsor meeting to the daily check
    bot.connector.clear()
    assert await governance.run_due(services, NOW) > 0  # TEAM has no core meeting this term
    await services.outbox.flush(NOW)
    texts = [c.card_text for c in bot.connector.sent()]
    assert any("core-member meeting" in t for t in texts)
    assert not any("No lead-sponsor meeting" in t for t in texts)
    assert "No lead-sponsor meeting in the last 6 weeks" not in "".join(texts)
