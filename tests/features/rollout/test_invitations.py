"""Inviting the people already in a CoP's team, end to end: the offer on install, ``invite`` and the setup card's
button, one card per person whoever clicks and however often, the report with why people were not reached, and
a run that a restart interrupted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from bot.domain.invitations import INVITEES, Invitations
from bot.features import invitations
from storage.base import Where
from tests.features.membership.kit import answer, join
from tests.features.rollout.kit import install_with_roster
from tests.kit.activities import team, user
from tests.kit.connector import Call, FakeConnector, Member
from tests.kit.harness import BotUnderTest, find_action, running_bot, test_settings

LEAD = user(1, "Lena Lead")
CO_LEAD = user(2, "Carl Colead")
PEOPLE = [user(10 + i, f"Person {i}") for i in range(6)]
DATA = team(1, "Data and Insight")


def invitation_cards(bot: BotUnderTest) -> dict[str, int]:
    """Personal invitation cards delivered, per recipient."""
    counts: dict[str, int] = {}
    for call in bot.connector.sent():
        if "its leads invite you to join it" in call.everything:
            who = bot.connector.recipient(call)
            counts[who] = counts.get(who, 0) + 1
    return counts


def offer_of(calls: list[Call]) -> dict[str, Any]:
    for call in calls:
        if call.card is not None and "Invite the team to" in call.card_text:
            return call.card
    raise AssertionError("no offer card")


async def finish(bot: BotUnderTest, later: timedelta = timedelta(minutes=1)) -> None:
    """Let the run queue, deliver what is due, and let the minute tick report."""
    await invitations.settle(bot.services)
    services = bot.services
    await services.outbox.flush(services.clock.now())
    await invitations.run_due(services, services.clock.now() + later)
    await services.outbox.flush(services.clock.now() + later)


async def test_install_offers_the_invitations_and_confirming_sends_one_card_each(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, CO_LEAD, *PEOPLE)
    offer = offer_of(bot.connector.calls)
    text = "\n".join(str(f) for f in offer["body"])
    assert "'value': '8'" in text  # people in the team: the lead, the co-lead and six others
    bot.connector.clear()
    clicked = await bot.press(LEAD, offer, "Invite 8 people", where=DATA)
    assert "Inviting 8 people" in answer(clicked)
    await invitations.settle(bot.services)
    during = await bot.say_in(LEAD, DATA, "invite")  # no second offer while this run's cards are going out
    assert "still going out" in during.everything
    await finish(bot)
    cards = invitation_cards(bot)
    assert cards == {p.id: 1 for p in (LEAD, CO_LEAD, *PEOPLE)}
    report = [c for c in bot.connector.sent(DATA.id) if "Invitations to Data and Insight done" in c.everything]
    assert len(report) == 1
    assert "Invitations sent" in report[0].everything
    # nobody was made a member by being invited; the card only offers
    assert not await bot.services.store.query("roster", None, limit=5)
    # invited people are not offered again
    again = await bot.say_in(LEAD, DATA, "invite")
    assert "Everyone in the team is a member already or has been invited" in again.everything


async def test_two_leads_confirming_at_once_start_one_run(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, CO_LEAD, *PEOPLE)
    added = await bot.say_in(LEAD, DATA, f"leads add @{CO_LEAD.name}", mentions=(CO_LEAD,))
    assert "now a lead" in added.everything
    offer = offer_of(bot.connector.calls)
    bot.connector.clear()
    first, second = await asyncio.gather(
        bot.press(LEAD, offer, "Invite 8 people", where=DATA), bot.press(CO_LEAD, offer, "Invite 8 people", where=DATA)
    )
    answers = sorted([answer(first), answer(second)])
    assert sum("Inviting 8 people" in a for a in answers) == 1
    assert sum("already under way" in a for a in answers) == 1
    await finish(bot)
    assert set(invitation_cards(bot).values()) == {1}
    assert len(invitation_cards(bot)) == 8


async def test_members_are_counted_and_not_invited(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, *PEOPLE)
    await join(bot, PEOPLE[0], DATA, "core")
    await join(bot, PEOPLE[1], DATA, "wider")
    offer = await bot.say_in(LEAD, DATA, "invite")
    assert "Invite 5 people" in offer.everything
    facts = {f["title"]: f["value"] for f in offer_of(offer.calls)["body"][1]["facts"]}
    assert facts["Already CoP members"] == "2"
    bot.connector.clear()
    await bot.press(LEAD, offer_of(offer.calls), "Invite 5 people", where=DATA)
    await finish(bot)
    assert set(invitation_cards(bot)) == {LEAD.id, *(p.id for p in PEOPLE[2:])}


async def test_the_report_says_who_could_not_be_reached_and_why(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, *PEOPLE[:4])
    blocked, gone, throttled = PEOPLE[0], PEOPLE[1], PEOPLE[2]

    def policy(call: Call) -> tuple[int, dict[str, str]] | None:
        if call.method == "POST" and call.path.rstrip("/") == "/v3/conversations":
            member = ((call.body or {}).get("members") or [{}])[0].get("id")
            if member == blocked.id:
                return 403, {}
            if member == gone.id:
                return 404, {}
            if member == throttled.id:
                return 429, {"Retry-After": "30"}
        return None

    bot.connector.policy = policy
    offer = offer_of(bot.connector.calls)
    await bot.press(LEAD, offer, "Invite 5 people", where=DATA)
    await finish(bot)  # the throttled card is still waiting: no report yet
    assert not [c for c in bot.connector.sent(DATA.id) if "done" in c.everything]
    for minutes in (10, 30, 61):  # Teams keeps throttling it past the run's deadline
        await bot.services.outbox.flush(bot.services.clock.now() + timedelta(minutes=minutes))
    await invitations.run_due(bot.services, bot.services.clock.now() + timedelta(minutes=62))
    await bot.services.outbox.flush(bot.services.clock.now() + timedelta(minutes=62))
    report = next(c for c in bot.connector.sent(DATA.id) if "Invitations to Data and Insight done" in c.everything)
    facts = {f["title"]: f["value"] for f in report.card["body"][1]["facts"]}  # type: ignore[index]
    assert facts["Invitations sent"] == "2"
    assert facts["Blocked me or can't be messaged (403)"] == "1"
    assert facts["No longer in Teams (404)"] == "1"
    assert facts["Throttled by Teams past the deadline (still queued)"] == "1"


async def test_only_leads_invite(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, *PEOPLE[:2])
    refused = await bot.say_in(PEOPLE[0], DATA, "invite")
    assert "only this CoP's leads" in refused.everything.lower() or "only" in refused.everything.lower()
    assert "Invite the team" not in refused.everything
    offer = offer_of(bot.connector.calls)
    pressed = await bot.press(PEOPLE[0], offer, "Invite 3 people", where=DATA)
    assert "only" in answer(pressed).lower()
    await finish(bot)
    assert invitation_cards(bot) == {}


async def test_the_setup_card_offers_the_invitations(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, *PEOPLE[:2])
    setup = await bot.say_in(LEAD, DATA, "setup")
    assert setup.card is not None
    find_action(setup.card, "invitations.offer")
    offered = await bot.press(LEAD, setup.card, "invitations.offer", where=DATA)
    assert "Invite 3 people" in answer(offered)


async def test_a_restart_in_the_middle_of_a_run_resumes_it_and_nobody_gets_two_cards(
    sqlite_store: Any, connector: Any
) -> None:
    async with running_bot(sqlite_store, connector=connector) as first:
        await install_with_roster(first, LEAD, DATA, *PEOPLE)
        offer = offer_of(first.connector.calls)
        real = first.services.outbox.enqueue
        calls = 0

        async def dies_after_three(*args: Any, **kwargs: Any) -> bool:
            nonlocal calls
            calls += 1
            if calls > 3:
                raise ConnectionResetError("the process is going away")
            return await real(*args, **kwargs)

        first.services.outbox.enqueue = dies_after_three  # type: ignore[method-assign]
        await first.press(LEAD, offer, "Invite 7 people", where=DATA)
        await invitations.settle(first.services)
        first.services.outbox.enqueue = real  # type: ignore[method-assign]
        await first.services.outbox.flush(first.services.clock.now())
        assert len(invitation_cards(first)) == 3
    # a new instance on the same store: the tick after the lease has run out carries on
    async with running_bot(sqlite_store, connector=connector) as second:
        second.services.clock.advance(timedelta(minutes=6))  # type: ignore[attr-defined]
        now = second.services.clock.now()
        # the interrupted page is queued again whole: the three cards already queued keep their outbox keys
        assert await invitations.run_due(second.services, now) == 7
        await second.services.outbox.flush(now)
        await invitations.run_due(second.services, now + timedelta(minutes=1))
        await second.services.outbox.flush(now + timedelta(minutes=1))
        cards = invitation_cards(second)
        assert cards == {p.id: 1 for p in (LEAD, *PEOPLE)}
        assert len([c for c in connector.sent(DATA.id) if "Invitations to Data and Insight done" in c.everything]) == 1


async def test_my_data_and_forget_me_cover_invitation_rows(bot: BotUnderTest) -> None:
    await install_with_roster(bot, LEAD, DATA, *PEOPLE[:2])
    await bot.press(LEAD, offer_of(bot.connector.calls), "Invite 3 people", where=DATA)
    await finish(bot)
    source = next(s for s in bot.services.privacy.sources if s.name == "invitations")
    exported = await source.export(bot.services, PEOPLE[0].aad)
    assert exported == [{"cop_id": DATA.id, "state": "queued"}]
    assert {"cop_id": DATA.id, "confirmed_an_invitation_run": str(bot.services.clock.now())} in await source.export(
        bot.services, LEAD.aad
    )
    await source.erase(bot.services, PEOPLE[0].aad)
    assert not await bot.services.store.query(INVITEES, None, [Where("person", "eq", PEOPLE[0].aad)])
    assert await bot.services.store.query(INVITEES, None, [Where("person", "eq", PEOPLE[1].aad)])
    assert await Invitations(bot.services.store).export_person(PEOPLE[0].aad) == []


@pytest.mark.parametrize("sdk", ["agents", "botbuilder"])
async def test_a_big_team_is_read_page_by_page_on_both_seams(
    sqlite_store: Any, connector: FakeConnector, sdk: str
) -> None:
    everyone = [Member(f"29:many-{i}", f"aad-many-{i:05d}", f"Many {i}") for i in range(1203)]
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(sdk=sdk)) as bot:
        connector.teams[DATA.id] = {"id": DATA.id, "name": DATA.name, "aadGroupId": DATA.aad_group_id}
        connector.rosters[DATA.id] = [Member(LEAD.id, LEAD.aad, LEAD.name), *everyone]
        await bot.post(bot.acts.installed_in_team(LEAD, DATA))
        pages = [c for c in connector.calls if c.path.endswith("/pagedmembers")]
        assert len(pages) >= 3  # 1,204 people at 500 a page
        offer = offer_of(connector.calls)
        facts = {f["title"]: f["value"] for f in offer["body"][1]["facts"]}
        assert facts["People in the team"] == "1,204"
        assert facts["Not invited yet"] == "1,204"
