"""Delivery: a redelivery is dropped per conversation (Teams message ids are unique only within one), and a
storage outage is apologised for only to people who addressed the bot, never to channel chatter it only watches."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bench.counting import CountingStore
from bot.core import messages
from bot.routing.middleware import DEDUPE_TABLE, purge_dedupe
from storage.sqlite import SqliteStore
from tests.kit.activities import TENANT, User, team, user
from tests.kit.connector import FakeConnector
from tests.kit.faults import FailingStore
from tests.kit.harness import BotUnderTest, Posted, running_bot

ANA = user(501, "Ana Antunes")
BEN = user(502, "Ben Bhatt")
TEAM_A = team(51, "Research Software")
TEAM_B = team(52, "Assessment Design")
DOWN = messages.STORAGE_DOWN.split("(ref")[0].strip()


def answered(posted: Posted) -> bool:
    return "What I can do" in posted.everything


# -- redelivery, per conversation ------------------------------------------------------------------------------
@pytest.fixture
async def counted(tmp_path: Path, connector: FakeConnector) -> AsyncIterator[tuple[BotUnderTest, CountingStore]]:
    store = CountingStore(SqliteStore(tmp_path / "counted.sqlite3"))
    async with running_bot(store, connector=connector) as bot:
        yield bot, store
    await store.close()


async def test_the_same_message_id_in_two_conversations_is_answered_in_both(
    counted: tuple[BotUnderTest, CountingStore],
) -> None:
    bot, store = counted
    in_anas_chat = bot.acts.personal(ANA, "help")
    in_bens_chat = bot.acts.personal(BEN, "help")
    in_bens_chat["id"] = in_anas_chat["id"]  # ids are unique within a conversation only
    in_team_a = bot.acts.channel(ANA, TEAM_A, "help")
    in_team_b = bot.acts.channel(BEN, TEAM_B, "help")
    in_team_b["id"] = in_team_a["id"] = in_anas_chat["id"]

    for activity in (in_anas_chat, in_bens_chat, in_team_a, in_team_b):
        store.reset()
        posted = await bot.post(activity)
        assert answered(posted), (activity["conversation"]["id"], posted.everything)
        assert [c.conversation_id for c in posted.calls] == [activity["conversation"]["id"]]
        # the claim is still one insert and nothing else (no read was added to a turn)
        assert {k: n for k, n in store.calls.items() if k.endswith(f":{DEDUPE_TABLE}")} == {f"insert:{DEDUPE_TABLE}": 1}

    # a true redelivery (same conversation, same id) is still answered once
    for activity in (in_anas_chat, in_bens_chat, in_team_a, in_team_b):
        assert (await bot.post(activity)).calls == []


async def test_redelivery_claims_name_no_conversation_and_expire(bot: BotUnderTest) -> None:
    """A personal chat's id identifies its person, and claims have no eraser: they keep a hash of it, and go
    after two days like every claim."""
    await bot.say(ANA, "help")
    await bot.say_in(ANA, TEAM_A, "help")
    store = bot.services.store
    rows = await store.query(DEDUPE_TABLE, None)
    assert len(rows) == 2
    for row in rows:
        for conversation in (f"a:personal-{ANA.id}", ANA.id, TEAM_A.general):
            assert conversation not in row.partition_key + row.row_key
            assert conversation not in json.dumps(dict(row.data), default=str)
    now = bot.services.clock.now()
    assert await purge_dedupe(store, now + timedelta(days=1)) == 0
    assert await purge_dedupe(store, now + timedelta(days=3)) == 2
    assert await store.query(DEDUPE_TABLE, None) == []


# -- quiet during outages ---------------------------------------------------------------------------------------
@pytest.fixture
async def failing(tmp_path: Path, connector: FakeConnector) -> AsyncIterator[tuple[BotUnderTest, FailingStore]]:
    store = FailingStore(SqliteStore(tmp_path / "failing.sqlite3"))
    async with running_bot(store, connector=connector) as bot:  # type: ignore[arg-type]
        yield bot, store
    await store.close()


def group_chat(bot: BotUnderTest, sender: User, text: str, *, mention_bot: bool) -> dict[str, Any]:
    activity = bot.acts.channel(sender, TEAM_A, text, mention_bot=mention_bot)
    activity["conversation"] = {
        "id": "19:group-chat-51@thread.v2",
        "conversationType": "groupChat",
        "isGroup": True,
        "tenantId": TENANT,
    }
    activity["channelData"] = {"tenant": {"id": TENANT}}
    return activity


@pytest.mark.parametrize("only_after_the_claim", [False, True], ids=["all-storage-down", "down-after-the-claim"])
async def test_an_outage_is_apologised_for_only_to_who_addressed_the_bot(
    failing: tuple[BotUnderTest, FailingStore], only_after_the_claim: bool
) -> None:
    bot, store = failing
    store.down = True
    if only_after_the_claim:  # the redelivery claim is taken, then everything else fails
        store.spared = frozenset({DEDUPE_TABLE})

    # ordinary chatter the bot only watches: no apology anywhere
    for chatter in (
        bot.acts.channel(ANA, TEAM_A, "Does anyone have the slides from Tuesday?", mention_bot=False),
        bot.acts.channel(BEN, TEAM_A, "I think Sam has them", mention_bot=False, thread="1:root"),
        group_chat(bot, ANA, "Lunch at one?", mention_bot=False),
    ):
        failures = store.failures
        posted = await bot.post(chatter)
        assert posted.status < 500
        assert store.failures > failures  # the turn did meet the outage
        assert posted.calls == [], [c.everything for c in posted.calls]
        assert DOWN not in str(posted.body)

    # people who addressed the bot are told
    addressed = {
        "personal chat": bot.acts.personal(ANA, "me"),
        "@mention in a channel": bot.acts.channel(ANA, TEAM_A, "me"),
        "@mention in a group chat": group_chat(bot, BEN, "me", mention_bot=True),
        "Action.Submit in a channel": bot.acts.submit(BEN, bot.sealed("help.show"), where=TEAM_A),
    }
    for how, activity in addressed.items():
        posted = await bot.post(activity)
        assert posted.status < 500, how
        assert [DOWN in c.text for c in posted.calls] == [True], (how, [c.everything for c in posted.calls])
    clicked = await bot.post(bot.acts.execute(BEN, "help.show", bot.sealed("help.show"), where=TEAM_A))
    assert clicked.status == 200
    assert DOWN in clicked.body["value"]
    assert clicked.calls == []

    store.down = False  # every failed turn released its claim (or never took one), so Teams' retries are served
    assert await bot.services.store.query(DEDUPE_TABLE, None) == []
