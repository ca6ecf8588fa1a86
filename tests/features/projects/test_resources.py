"""Shared resources end to end through Teams activities and card clicks: sharing, finding by words, removing (the
sharer or a lead only), the resources offered beside an ``ask`` answer, and a Lunch and Learn's recording and
slides."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.domain.resources import ResourceRepo
from tests.features.health.kit import NOW, add_event, join
from tests.features.projects.kit import CORE, LEAD, OTHER, OUTSIDER, TEAM, WIDER, buttons, has_button, setup
from tests.kit.activities import User
from tests.kit.harness import BotUnderTest, Posted

REPORT = {
    "title": "Monthly report template",
    "url": "https://example.org/report-template",
    "kind": "template",
    "tags": "reporting, power bi",
    "why": "Saves a day of formatting every month.",
}
ONBOARDING = {
    "title": "Onboarding guide for new analysts",
    "url": "https://example.org/onboarding",
    "kind": "guide",
    "tags": "onboarding",
    "why": "Everything a new starter asks in week one.",
}


async def share(bot: BotUnderTest, who: User, values: dict[str, Any], *, where: Any = TEAM) -> Posted:
    form = await (bot.say_in(who, TEAM, "share resource") if where is TEAM else bot.say(who, "share resource"))
    assert form.card is not None
    return await bot.press(who, form.card, "Share", values, where=where)


async def stored(bot: BotUnderTest) -> list[Any]:
    return await ResourceRepo(bot.services.store).of_cop(TEAM.id)


async def test_a_member_shares_and_everyone_finds_it(bot: BotUnderTest) -> None:
    await setup(bot)
    shared = await share(bot, WIDER, REPORT)
    assert "Monthly report template" in str(shared.body)
    await share(bot, CORE, ONBOARDING)
    [first, second] = sorted(await stored(bot), key=lambda r: r.title)
    assert (first.shared_by, first.kind, first.tags) == (WIDER.aad, "template", ("reporting", "power bi"))
    assert second.shared_by == CORE.aad
    listed = await bot.say_in(OUTSIDER, TEAM, "resources")
    assert "Monthly report template" in listed.everything
    assert "Onboarding guide" in listed.everything
    assert not has_button(listed.card, "Share a resource")  # not a member
    found = await bot.say_in(WIDER, TEAM, "resources templates for reports")
    assert "Monthly report template" in found.everything
    assert "Onboarding guide" not in found.everything
    assert "new starters" not in found.everything
    assert "Onboarding guide" in (await bot.say_in(WIDER, TEAM, "resources new starter onboarding")).everything
    none = await bot.say_in(WIDER, TEAM, "resources budget forecasting")
    assert "Nothing matches those words." in none.everything


async def test_personal_chat_finds_the_resources_of_my_cops(bot: BotUnderTest) -> None:
    await setup(bot)
    await share(bot, WIDER, REPORT)
    mine = await bot.say(CORE, "resources report")
    assert "Monthly report template" in mine.everything
    stranger = await bot.say(User("29:x", "aad-x", "Xavier"), "resources")
    assert "aren't in any CoP" in stranger.everything


async def test_the_sharer_and_the_leads_remove_others_cannot(bot: BotUnderTest) -> None:
    await setup(bot)
    await share(bot, WIDER, REPORT)
    await share(bot, CORE, ONBOARDING)
    as_wider = await bot.say_in(WIDER, TEAM, "resources report")
    refused = await bot.press(CORE, as_wider.card, "Remove", where=TEAM)  # a genuine button, the wrong person
    assert "Only whoever shared a resource, or the CoP's leads" in str(refused.body)
    assert len(await stored(bot)) == 2
    removed = await bot.press(WIDER, as_wider.card, "Remove", where=TEAM)
    assert "Removed the resource: Monthly report template" in str(removed.body)
    again = await bot.press(WIDER, as_wider.card, "Remove", where=TEAM)
    assert "already been removed" in str(again.body)
    as_lead = await bot.say_in(LEAD, TEAM, "resources")
    assert has_button(as_lead.card, "Remove")
    await bot.press(LEAD, as_lead.card, "Remove", where=TEAM)
    assert await stored(bot) == []


async def test_ask_offers_resources_that_fit_beside_the_answer(bot: BotUnderTest) -> None:
    await setup(bot)
    await share(bot, WIDER, REPORT)
    await share(bot, CORE, ONBOARDING)
    asked = await bot.say_in(WIDER, TEAM, "ask is there a template for the monthly report?")
    assert "Shared resources that may help" in asked.everything
    assert "Monthly report template" in asked.everything
    assert "Onboarding guide" not in asked.everything
    unrelated = await bot.say_in(WIDER, TEAM, "ask how do I book a room for the Christmas party?")
    assert "Shared resources that may help" not in unrelated.everything
    in_chat = await bot.say(CORE, "is there an onboarding guide for new analysts?")
    assert "Onboarding guide for new analysts" in in_chat.everything


async def test_a_lead_attaches_a_lunch_and_learns_recording_and_slides(bot: BotUnderTest) -> None:
    await setup(bot)
    store = bot.services.store
    lunch = await add_event(store, TEAM, "lunch_and_learn", NOW - timedelta(days=3), lead=LEAD)
    meeting = await add_event(store, TEAM, "core_meeting", NOW - timedelta(days=2), lead=LEAD)
    listed = await bot.say_in(LEAD, TEAM, "resources attach")
    assert "lunch\\_and\\_learn on 20 Nov" in listed.everything  # titles are shown escaped
    assert "core\\_meeting" not in listed.everything
    form = await bot.press(LEAD, listed.card, "Attach recording or slides", where=TEAM)
    bad = await bot.press(LEAD, form.card, "Attach", {"recording": "javascript:alert(1)"}, where=TEAM)
    assert "must be a web address starting with https://" in str(bad.body)
    empty = await bot.press(LEAD, form.card, "Attach", {"recording": "", "slides": ""}, where=TEAM)
    assert "Give the recording link, the slides link or both." in str(empty.body)
    assert await stored(bot) == []
    done = await bot.press(
        LEAD,
        form.card,
        "Attach",
        {"recording": "https://stream.example/r1", "slides": "https://x.example/s"},
        where=TEAM,
    )
    assert "Attached the recording and slides" in str(done.body)
    again = await bot.press(LEAD, form.card, "Attach", {"recording": "https://stream.example/r2"}, where=TEAM)
    assert "Attached the recording" in str(again.body)
    found = await stored(bot)
    assert sorted((r.kind, r.url, r.event_id) for r in found) == [
        ("recording", "https://stream.example/r2", lunch),
        ("slides", "https://x.example/s", lunch),
    ]
    assert "recording" in (await bot.say_in(WIDER, TEAM, "resources lunch and learn recording")).everything
    # the lead's own view of the event carries the button; a member's does not, and a member may not attach
    lead_view = await bot.click(
        LEAD, "event.view", bot.sealed("event.view", {"cop_id": TEAM.id, "id": lunch}), where=TEAM
    )
    assert has_button(lead_view.card, "Attach recording or slides")
    member_view = await bot.click(
        WIDER, "event.view", bot.sealed("event.view", {"cop_id": TEAM.id, "id": lunch}), where=TEAM
    )
    assert not has_button(member_view.card, "Attach recording or slides")
    assert {"Recording", "Slides"} <= buttons(member_view.card)  # the event's card opens what was attached
    assert "https://stream.example/r2" in str(member_view.card)
    refused = await bot.press(WIDER, form.card, "Attach", {"recording": "https://evil.example/"}, where=TEAM)
    assert "Sorry, only this CoP's leads" in str(refused.body)
    not_lunch = await bot.click(
        LEAD, "resource.attach_form", bot.sealed("resource.attach_form", {"cop_id": TEAM.id, "id": meeting}), where=TEAM
    )
    assert "Lunch and Learns only" in str(not_lunch.body)


async def test_help_lists_the_commands_for_whoever_may_use_them(bot: BotUnderTest) -> None:
    await setup(bot)
    outsider = (await bot.say_in(OUTSIDER, TEAM, "help")).everything
    assert "projects" in outsider
    assert "resources" in outsider
    assert "share resource" not in outsider
    assert "project new" not in outsider
    member = (await bot.say_in(WIDER, TEAM, "help")).everything
    assert "share resource" in member
    assert "project new" in member
    assert "resources attach" not in member
    assert "resources attach" in (await bot.say_in(LEAD, TEAM, "help")).everything


async def test_in_personal_chat_resources_of_several_cops_name_their_cop(bot: BotUnderTest) -> None:
    await setup(bot)
    await join(bot.services.store, OTHER, {CORE: ("wider", "central")}, NOW)
    await share(bot, CORE, REPORT)
    form = await bot.say_in(CORE, OTHER, "share resource")
    await bot.press(CORE, form.card, "Share", {**ONBOARDING, "title": "Finance onboarding"}, where=OTHER)
    listed = await bot.say(CORE, "resources")
    assert "Monthly report template" in listed.everything
    assert "Finance onboarding" in listed.everything
    assert "Data and Insight" in listed.everything
    assert "Share a resource in Finance" in listed.everything


async def test_a_share_form_used_by_one_member_cannot_be_reused_by_another(bot: BotUnderTest) -> None:
    await setup(bot)
    form = await bot.say_in(WIDER, TEAM, "share resource")
    await bot.press(WIDER, form.card, "Share", REPORT, where=TEAM)
    again = await bot.press(WIDER, form.card, "Share", REPORT, where=TEAM)  # a double click stores it once
    assert "Monthly report template" in str(again.body)
    taken = await bot.press(CORE, form.card, "Share", {**REPORT, "title": "Mine now"}, where=TEAM)
    assert "Someone already shared a resource with that form" in str(taken.body)
    [kept] = await stored(bot)
    assert (kept.title, kept.shared_by) == ("Monthly report template", WIDER.aad)
