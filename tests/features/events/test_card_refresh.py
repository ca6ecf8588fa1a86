"""Cards that show each person their own state (Universal Actions refresh): the shared event announcement lists
the latest responders for Teams to refresh (at most 60), and the refresh invoke answers each person with their own
answer and nobody else's."""

from __future__ import annotations

import json
from typing import Any

from bot.domain.events import MAX_VIEWERS
from bot.features.event_notices import settle
from cards.events import YOUR_ANSWER
from tests.features.events.kit import FORM, setup
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

ALICE = user(1, "Alice Adams")  # lead
BO = user(2, "Bo Brown")
CY = user(3, "Cy Chen")
DEE = user(4, "Dee Dunn")
TEAM = team(1, "Data and Insight")


async def announce(bot: BotUnderTest, **changes: str) -> dict[str, Any]:
    form = await bot.say_in(ALICE, TEAM, "event new")
    await bot.press(ALICE, form.card, "Create and announce", {**FORM, **changes}, where=TEAM)
    before = len(bot.connector.calls)
    await bot.services.outbox.flush(bot.services.clock.now())
    [announcement] = [c for c in bot.connector.sent(TEAM.general) if c in bot.connector.calls[before:]]
    assert announcement.card is not None
    return announcement.card


async def shared_card(bot: BotUnderTest) -> dict[str, Any]:
    """The channel card as it was last updated (what everyone in the channel receives)."""
    await settle(bot.services)
    card = bot.connector.updates()[-1].card
    assert card is not None
    return card


async def refreshed(bot: BotUnderTest, who: Any, card: dict[str, Any]) -> str:
    posted = await bot.post(bot.acts.refresh(who, card, where=TEAM))
    assert posted.status == 200
    assert posted.body["type"] == "application/vnd.microsoft.card.adaptive", posted.body
    return json.dumps(posted.body["value"])


async def test_each_viewer_is_refreshed_to_their_own_answer_and_never_another_persons(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core", CY: "core", DEE: "wider"})
    card = await announce(bot, capacity="1")
    assert card["refresh"]["userIds"] == []  # nobody has answered yet
    await bot.press(BO, card, "Going", where=TEAM)
    await bot.press(CY, card, "Going", where=TEAM)  # full: the waitlist
    shared = await shared_card(bot)
    assert shared["refresh"]["action"]["verb"] == "event.view"
    assert shared["refresh"]["userIds"] == [BO.id, CY.id]
    everyone = json.dumps(shared)
    assert "You're" not in everyone  # nobody's own answer on the card everyone receives
    assert everyone.count(BO.id) == everyone.count(CY.id) == 1  # responders' ids only where Teams requires them
    assert BO.aad not in everyone
    assert CY.aad not in everyone
    assert BO.name not in everyone
    assert CY.name not in everyone

    bo = await refreshed(bot, BO, shared)
    cy = await refreshed(bot, CY, shared)
    dee = await refreshed(bot, DEE, shared)  # not listed: the card menu's Refresh, or "Show my answer"
    assert YOUR_ANSWER["going"] in bo
    assert YOUR_ANSWER["waitlist"] not in bo
    assert CY.name not in bo
    assert CY.id not in bo
    assert YOUR_ANSWER["waitlist"] in cy
    assert YOUR_ANSWER["going"] not in cy
    assert BO.name not in cy
    assert BO.id not in cy
    assert "You haven't answered yet." in dee
    assert YOUR_ANSWER["going"] not in dee
    assert YOUR_ANSWER["waitlist"] not in dee
    # a person's own card carries no refresh list at all
    assert "userIds" not in bo
    shown = await bot.press(DEE, shared, "Show my answer", where=TEAM)
    assert "You haven't answered yet." in str(shown.card)


async def test_refresh_lists_at_most_60_people_and_the_rest_use_the_button(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE])
    card = await announce(bot)
    people = [user(100 + n, f"Person {n}") for n in range(MAX_VIEWERS + 1)]
    for person in people:
        answered = await bot.press(person, card, "Going", where=TEAM)
        assert YOUR_ANSWER["going"] in str(answered.card)
    shared = await shared_card(bot)
    listed = shared["refresh"]["userIds"]
    assert len(listed) == MAX_VIEWERS == 60
    assert listed == [p.id for p in people[1:]]  # the latest responders
    assert f"**{MAX_VIEWERS + 1}** going" in json.dumps(shared)
    # the first responder is no longer refreshed automatically: the button shows them their own answer
    first = people[0]
    shown = await bot.press(first, shared, "Show my answer", where=TEAM)
    assert YOUR_ANSWER["going"] in str(shown.card)
    # someone who says they can't go leaves the list
    await bot.press(people[-1], shared, "Can't go", where=TEAM)
    assert people[-1].id not in (await shared_card(bot))["refresh"]["userIds"]


async def test_a_refresh_of_a_cancelled_or_unknown_event_answers_without_personal_state(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core"})
    card = await announce(bot)
    await bot.press(BO, card, "Going", where=TEAM)
    opened = await bot.press(ALICE, card, "Show my answer", where=TEAM)
    confirm = await bot.press(ALICE, opened.card, "Cancel event", where=TEAM)
    await bot.press(ALICE, confirm.card, "Yes, cancel it", where=TEAM)
    shared = await shared_card(bot)
    assert "refresh" not in shared  # answers are closed: nothing to refresh for anyone
    # a stale card still refreshing: the person's own view says it is cancelled and offers no answer buttons
    stale = await refreshed(bot, BO, card)
    assert "cancelled" in stale
    assert "event.rsvp" not in stale


async def test_the_channel_join_card_refreshes_into_each_persons_own_membership(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core", CY: "wider"})
    posted = await bot.say_in(DEE, TEAM, "join")
    card = posted.card
    assert card is not None
    assert card["refresh"]["userIds"] == []  # no ids on a card everyone receives: each asks for their own
    assert card["refresh"]["action"]["verb"] == "membership.start"
    bo = await refreshed(bot, BO, card)
    cy = await refreshed(bot, CY, card)
    dee = await refreshed(bot, DEE, card)
    assert "You are already a core member" in bo
    assert "You are already a wider member" in cy
    assert "already" not in dee
    assert "You are already a wider member" not in bo
    assert BO.name not in cy
    assert CY.name not in bo
