"""Hostile input found in review: what used to end in a 500 or a generic apology gets a 4xx or a clear reply,
logged in one line without a traceback."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from bot import messages
from bot.app import MAX_JSON_DEPTH
from bot.sealing import SEAL
from storage.sqlite import SqliteStore
from tests.features.trust_setup import make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

ALICE = user(51, "Alice Adams")
TEAM = team(5, "Research Software")
NOT_MINE = "That button didn't come from me, so I ignored it. Type **help** to start again."
NOTHING_TO_ACT_ON = "That button didn't carry anything I can act on. Type **help** to start again."


def _logged(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the bot and the web server logged (not the test client's access lines)."""
    return [r for r in caplog.records if r.name.startswith(("bot", "aiohttp.server", "aiohttp.web"))]


def _quiet_refusal(caplog: pytest.LogCaptureFixture, words: str) -> None:
    """Exactly one line about the refusal, nothing at ERROR and no traceback anywhere."""
    records = _logged(caplog)
    assert [r for r in records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert len([r for r in records if words in r.getMessage()]) == 1, [r.getMessage() for r in records]


def _with_non_ascii_mac(token: str) -> str:
    body, mac = token.split(".")
    return f"{body}.é{mac[1:]}"


async def test_a_download_link_with_a_non_ascii_mac_is_refused_like_a_forged_one(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    services = bot.services
    url = services.links.link(services, "members.csv", {"cop": TEAM.id}, timedelta(hours=1))
    token = url.rsplit("/", 1)[1]
    caplog.set_level(logging.INFO)
    for tampered in (_with_non_ascii_mac(token), token.replace(".", ".\U0001f600"), f"{token[:-2]}%ED%A0%80"):
        caplog.clear()
        status, body, _ = await bot.get(f"/files/{tampered}")
        assert status == 404, tampered
        assert b"not valid" in body
        _quiet_refusal(caplog, "download link")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 5_000, 100_000])
async def test_a_deeply_nested_body_is_refused_before_authentication(
    bot: BotUnderTest, caplog: pytest.LogCaptureFixture, depth: int
) -> None:
    caplog.set_level(logging.INFO)
    status, text = await bot.post_raw(b'{"type":"message","value":' + b"[" * depth + b"]" * depth + b"}")
    assert status == 400
    assert "nested deeper than 64 levels" in text
    _quiet_refusal(caplog, "nested deeper")


async def test_nesting_up_to_the_limit_and_brackets_in_strings_are_not_refused(bot: BotUnderTest) -> None:
    nested: object = "leaf"
    for _ in range(MAX_JSON_DEPTH - 3):  # the activity and its value add levels of their own
        nested = [nested]
    fine = bot.acts.personal(ALICE, "help", value={"verb": "x", "deep": nested, "text": "[[[[" * 100})
    posted = await bot.post(fine)
    assert posted.status == 201
    status, text = await bot.post_raw(b'{"type":"message","text":"' + b"{[" * 5_000 + b'"}')
    assert status == 400
    assert "nested" not in text  # refused for what it is (no parties), not for brackets inside a string


async def test_a_card_action_whose_seal_is_not_ascii_gets_the_clear_reply(
    bot: BotUnderTest, sqlite_store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    await make_cop(sqlite_store, TEAM, bot.connector.url, bot.services.clock.now(), leads=(ALICE,))
    genuine = bot.sealed("help.show")
    caplog.set_level(logging.INFO)
    for seal in (_with_non_ascii_mac(genuine[SEAL]), genuine[SEAL] + "\udc80", "ünïcödé.mäc"):
        caplog.clear()
        clicked = await bot.click(ALICE, "help.show", {**genuine, SEAL: seal})
        assert clicked.status == 200
        assert clicked.body["value"] == NOT_MINE
        _quiet_refusal(caplog, "refused card action")
        caplog.clear()
        submitted = await bot.submit(ALICE, {**genuine, SEAL: seal}, where=TEAM)
        assert submitted.status == 201
        assert NOT_MINE in submitted.everything
        _quiet_refusal(caplog, "refused card action")


async def test_an_empty_submit_in_a_personal_chat_gets_a_short_reply(bot: BotUnderTest) -> None:
    assert messages.EMPTY_SUBMIT == NOTHING_TO_ACT_ON
    posted = await bot.submit(ALICE, {})
    assert posted.status == 201
    assert posted.texts == [NOTHING_TO_ACT_ON + "\n"]


async def test_an_empty_submit_in_a_channel_is_answered_without_an_at_mention(
    bot: BotUnderTest, sqlite_store: SqliteStore
) -> None:
    await make_cop(sqlite_store, TEAM, bot.connector.url, bot.services.clock.now(), leads=(ALICE,))
    for value in ({}, {"note": "typed into a card with no verb"}):
        posted = await bot.submit(ALICE, value, where=TEAM)
        assert posted.status == 201
        assert posted.texts == [NOTHING_TO_ACT_ON + "\n"], value
        assert posted.calls[0].conversation_id == TEAM.general


async def test_a_submit_that_carries_text_is_read_as_a_command_in_a_channel(
    bot: BotUnderTest, sqlite_store: SqliteStore
) -> None:
    await make_cop(sqlite_store, TEAM, bot.connector.url, bot.services.clock.now(), leads=(ALICE,))
    activity = bot.acts.submit(ALICE, {"from": "messageBack"}, where=TEAM)
    activity["text"] = "help"  # a messageBack button: text and value, no @mention
    posted = await bot.post(activity)
    assert "What I can do" in posted.everything
