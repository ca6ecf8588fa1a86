"""Delivery and engagement reports end to end: what the outbox sent for a CoP, what failed and why, and what people
did with it (button presses attributed to the sent message, a redelivered press counted once; the digest's
useful / not useful), for the CoP's leads and, across CoPs, for programme admins."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from bot.core.turn import Person
from bot.domain.engagement import TABLE as ENGAGEMENT
from bot.domain.engagement import EngagementRepo
from storage.base import encode_key
from tests.features.delivery.kit import add_member, channel_reference, make_cop
from tests.kit.activities import User, team, user
from tests.kit.connector import Call
from tests.kit.harness import BotUnderTest, find_action

LEAD = user(1, "Lena Lead")
MEMBER = user(2, "Mo Member")
OTHER = user(3, "Nia New")
ADMIN = User("29:admin", "aad-admin", "Ada Admin")
TEAM = team(1, "Data and Insight")
TEAM_B = team(2, "Research Software")


async def post_digest(bot: BotUnderTest) -> tuple[dict[str, Any], str]:
    """``digest now`` in the CoP's channel; returns the posted card and the activity id Teams gave it."""
    now = bot.services.clock.now()
    store = bot.services.store
    await make_cop(store, TEAM, bot.connector.url, leads=(LEAD,), created_at=now - timedelta(days=90))
    await add_member(store, TEAM.id, MEMBER, now - timedelta(days=2), tier="core")
    posted = await bot.say_in(LEAD, TEAM, "digest now")
    assert "Posted this week's digest" in posted.everything
    [post] = [c for c in bot.connector.sent(TEAM.general) if "This week in" in c.card_text]
    rows = await store.query("outbox", "q")
    [digest_row] = [r for r in rows if str(r.get("key", "")).startswith("digest|")]
    assert post.card is not None
    return post.card, str(digest_row.get("activity_id"))


async def press_on(
    bot: BotUnderTest, sender: User, card: Mapping[str, Any], button: str, activity_id: str, *, activity: str = ""
) -> Any:
    """Press ``button`` on the card posted as ``activity_id`` in TEAM's channel, as Teams sends it: the channel
    thread of that post as the conversation, the post's id as replyToId."""
    action = find_action(dict(card), button)
    invoke = bot.acts.execute(sender, action["verb"], where=TEAM, reply_to=activity_id)
    invoke["conversation"] = bot.acts.channel_conversation(TEAM, thread=activity_id)
    invoke["value"]["action"]["data"] = dict(action["data"])
    if activity:
        invoke["id"] = activity
    return await bot.post(invoke)


async def counted(bot: BotUnderTest, cop_id: str, run: str, expected: int, action: str | None = None) -> None:
    """Presses are counted off the turn: wait (bounded) until ``expected`` people are counted for ``run``."""
    repo = EngagementRepo(bot.services.store)
    for _ in range(100):
        by_run = await repo.by_run(cop_id)
        entry = by_run.get(run)
        total = 0 if entry is None else (entry.actions.get(action, 0) if action else sum(entry.actions.values()))
        if total >= expected:
            assert total == expected
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{expected} presses were never counted for {run}")


async def test_useful_and_not_useful_on_a_digest_are_counted_once_per_person_and_shown_to_the_lead(
    bot: BotUnderTest,
) -> None:
    card, activity_id = await post_digest(bot)
    first = await press_on(bot, MEMBER, card, "Useful", activity_id, activity="press-1")
    assert "useful" in str(first.body)
    await press_on(bot, MEMBER, card, "Useful", activity_id, activity="press-1")  # Teams redelivers the press
    await press_on(bot, OTHER, card, "Not useful", activity_id)
    await press_on(bot, OTHER, card, "Useful", activity_id)  # a changed mind replaces the answer
    await press_on(bot, LEAD, card, "Not useful", activity_id)
    report = await bot.say_in(LEAD, TEAM, "delivery report")
    text = report.everything
    assert "What the bot sent: Data and Insight" in text
    assert "Weekly digest" in text
    assert "1 of 1 (1 channel)" in text
    assert "2 yes · 1 no" in text


async def test_presses_on_a_sent_card_are_attributed_to_its_broadcast_and_a_redelivery_counts_once(
    bot: BotUnderTest,
) -> None:
    card, activity_id = await post_digest(bot)
    run = f"digest|{TEAM.id}|now|"
    # the digest's answer is stored for the digest's broadcast, once however often Teams delivers the press
    for _ in range(2):
        await press_on(bot, MEMBER, card, "Useful", activity_id, activity="same-press")
    rows = await bot.services.store.query(ENGAGEMENT, encode_key(TEAM.id))
    assert len(rows) == 1  # the feedback row, once
    assert str(rows[0].get("run")).startswith(run)
    # a press on a card the outbox did not send (an ordinary reply) is not attributed to anything
    await press_on(bot, MEMBER, card, "Useful", "act-not-from-the-outbox")
    assert len(await bot.services.store.query(ENGAGEMENT, encode_key(TEAM.id))) == 1


async def test_an_rsvp_on_an_announcement_sent_by_the_outbox_counts_as_what_people_did(bot: BotUnderTest) -> None:
    now = bot.services.clock.now()
    store = bot.services.store
    await make_cop(store, TEAM, bot.connector.url, leads=(LEAD,), created_at=now - timedelta(days=90))
    outbox = bot.services.outbox
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": "Lunch and Learn"}],
        "actions": [
            {"type": "Action.Execute", "title": "Help", "verb": "help.show", "data": {"verb": "help.show"}},
        ],
    }
    from bot.core.turn import Card

    await outbox.enqueue(
        "event:e-report:announce", channel_reference(bot.connector.url, TEAM.general), Card(card), now, cop_id=TEAM.id
    )
    assert await outbox.flush(now) == 1
    activity_id = await outbox.sent_activity_id("event:e-report:announce")
    assert activity_id
    [sent] = [c for c in bot.connector.sent(TEAM.general) if c.card is not None]
    assert sent.card is not None
    for who, press in ((MEMBER, "p1"), (MEMBER, "p1"), (MEMBER, "p2"), (OTHER, "p3")):
        await press_on(bot, who, sent.card, "Help", activity_id, activity=press)
    await counted(bot, TEAM.id, "event:e-report:announce", 2, "help.show")
    report = await bot.say_in(LEAD, TEAM, "digest report")  # the other name of the same report
    assert "Event announcement" in report.everything
    assert "2 help.show" in report.everything


async def test_failures_are_reported_with_their_reason(bot: BotUnderTest) -> None:
    now = bot.services.clock.now()
    store = bot.services.store
    await make_cop(store, TEAM, bot.connector.url, leads=(LEAD,), created_at=now - timedelta(days=90))
    blocked = {"29:blocked"}

    def policy(call: Call) -> tuple[int, dict[str, str]] | None:
        members = (call.body or {}).get("members") or [{}]
        if call.path.rstrip("/") == "/v3/conversations" and members[0].get("id") in blocked:
            return 403, {}
        return None

    bot.connector.policy = policy
    reference = channel_reference(bot.connector.url, TEAM.general)
    people = [
        Person("29:ok-1", "aad-ok-1", "One"),
        Person("29:ok-2", "aad-ok-2", "Two"),
        Person("29:blocked", "aad-b", "B"),
    ]
    for person in people:
        await bot.services.outbox.enqueue(
            f"welcome|{TEAM.id}|{person.aad_id}", reference, "Welcome!", now, cop_id=TEAM.id, personal_for=person
        )
    await bot.services.outbox.flush(now)
    report = await bot.say_in(LEAD, TEAM, "delivery report")
    text = report.everything
    assert "Invitations" in text
    assert "2 of 3 (3 people)" in text
    assert "1: the bot was removed or blocked (403)" in text


async def test_only_leads_see_the_report_and_admins_see_every_cop(bot: BotUnderTest) -> None:
    _card, _ = await post_digest(bot)
    now = bot.services.clock.now()
    await make_cop(bot.services.store, TEAM_B, bot.connector.url, leads=(OTHER,), created_at=now - timedelta(days=9))
    await bot.services.outbox.enqueue(
        f"digest|{TEAM_B.id}|2026-W48",
        channel_reference(bot.connector.url, TEAM_B.general),
        "B's digest",
        now,
        cop_id=TEAM_B.id,
    )
    await bot.services.outbox.flush(now)
    member = await bot.say_in(MEMBER, TEAM, "delivery report")
    assert "only this CoP's leads" in member.everything
    assert "What the bot sent" not in member.everything
    lead_b = await bot.say_in(OTHER, TEAM_B, "delivery report")
    assert "Research Software" in lead_b.everything
    assert "Data and Insight" not in lead_b.everything  # a lead sees their own CoP only
    admin = await bot.say(ADMIN, "delivery report")
    assert "What the bot sent: every CoP" in admin.everything
    assert "Data and Insight" in admin.everything
    assert "Research Software" in admin.everything


async def test_the_csv_has_a_row_per_broadcast_and_is_safe_in_a_spreadsheet(bot: BotUnderTest) -> None:
    now = bot.services.clock.now()
    store = bot.services.store
    await make_cop(store, TEAM, bot.connector.url, leads=(LEAD,), created_at=now - timedelta(days=90))
    from bot.domain.cops import CopRepo

    await CopRepo(store).change(TEAM.id, now, lambda c: c.__class__(**{**c.__dict__, "name": "=HYPERLINK(1)"}))
    await bot.services.outbox.enqueue(
        f"digest|{TEAM.id}|2026-W49", channel_reference(bot.connector.url, TEAM.general), "hi", now, cop_id=TEAM.id
    )
    await bot.services.outbox.flush(now)
    report = await bot.say_in(LEAD, TEAM, "delivery report")
    assert report.card is not None
    [url] = [a["url"] for a in report.card.get("actions", []) if a.get("title") == "Download CSV"]
    path = url[url.index("/files/") :]
    status, body, headers = await bot.get(path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    lines = body.decode("utf-8-sig").splitlines()
    assert lines[0].startswith('"cop","kind","broadcast"')
    assert len(lines) == 2
    assert lines[1].startswith('"\'=HYPERLINK(1)","digest"')


async def test_my_data_and_forget_me_cover_what_a_person_pressed(bot: BotUnderTest) -> None:
    card, activity_id = await post_digest(bot)
    await press_on(bot, MEMBER, card, "Useful", activity_id)
    repo = EngagementRepo(bot.services.store)
    exported = await repo.export_person(MEMBER.aad)
    assert exported
    assert exported[0]["useful"] is True
    assert await repo.erase_person(MEMBER.aad) == 1
    assert await repo.export_person(MEMBER.aad) == []
