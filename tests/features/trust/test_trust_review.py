"""Hostile input found in review: what used to end in a 500 or a generic apology gets a 4xx or a clear reply,
logged in one line without a traceback."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import MAX_JSON_DEPTH
from bot.core import messages
from bot.core.clock import FakeClock
from bot.features import health as health_feature
from bot.health import history
from bot.health.chart import trend_png
from bot.health.snapshot import TrendPoint
from bot.security.sealing import SEAL
from storage.sqlite import SqliteStore
from tests.features.trust.kit import make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest, running_bot

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
    for seal in (_with_non_ascii_mac(genuine[SEAL]), "ünïcödé.mäc"):
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
    # a seal holding a lone surrogate is not text at all: the whole body is refused before authentication
    lone = {**genuine, SEAL: genuine[SEAL] + "\udc80"}
    assert (await bot.click(ALICE, "help.show", lone)).status == 400
    assert (await bot.submit(ALICE, lone, where=TEAM)).status == 400


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


class CountingChart:
    """Stands in for the drawing: counts the pictures drawn and notes the thread each was drawn on."""

    def __init__(self) -> None:
        self.threads: list[int] = []

    def __call__(self, points: Sequence[TrendPoint]) -> bytes:
        self.threads.append(threading.get_ident())
        return trend_png(points)


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> CountingChart:
    counting = CountingChart()
    monkeypatch.setattr(health_feature, "trend_png", counting)
    return counting


async def _chart_link(bot: BotUnderTest, where: str = TEAM.id, days: int = 5) -> str:
    """A CoP with a few days of trend points and the path of its chart link, as the health card would carry."""
    services = bot.services
    today = services.clock.now().date()
    for back in range(days, 0, -1):
        day = (today - timedelta(days=back)).isoformat()
        await history.record_point(services.store, where, TrendPoint(day, 10 + back, 4, float(back)))
    url = services.links.link(services, health_feature.CHART_KIND, {"cop": where}, health_feature.CHART_TTL)
    return url.removeprefix(services.settings.public_url)


async def test_the_trend_chart_is_drawn_off_the_event_loop(bot: BotUnderTest, draws: CountingChart) -> None:
    path = await _chart_link(bot)
    status, body, headers = await bot.get(path)
    assert status == 200
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    assert headers["Content-Type"] == "image/png"
    assert len(draws.threads) == 1
    assert draws.threads[0] != threading.get_ident()  # the tests, the app and its event loop share this thread


async def test_the_trend_chart_is_drawn_once_a_day_per_cop(bot: BotUnderTest, draws: CountingChart) -> None:
    path = await _chart_link(bot)
    first = await bot.get(path)
    assert first[0] == 200
    bot_clock = bot.services.clock
    assert isinstance(bot_clock, FakeClock)
    bot_clock.advance(timedelta(hours=3))
    again = await bot.get(path)
    assert again[:2] == first[:2]
    assert len(draws.threads) == 1  # the same day: the picture drawn before
    together = await asyncio.gather(*(bot.get(path) for _ in range(5)))
    assert [r[0] for r in together] == [200] * 5
    assert len(draws.threads) == 1
    other = await _chart_link(bot, team(6).id, days=3)
    assert (await bot.get(other))[0] == 200
    assert len(draws.threads) == 2  # another CoP has a picture of its own
    # a point written later the same day (the first scorecard of the day) is drawn in
    today = bot_clock.now().date().isoformat()
    await history.record_point(bot.services.store, TEAM.id, TrendPoint(today, 20, 5, 1.0))
    updated = await bot.get(path)
    assert updated[0] == 200
    assert updated[1] != first[1]
    assert len(draws.threads) == 3


async def test_a_new_day_in_the_display_time_zone_draws_the_chart_again(
    sqlite_store: SqliteStore, draws: CountingChart
) -> None:
    # 22:30 UTC on 1 July is 23:30 in London (BST); 45 minutes later it is 2 July there, still 1 July in UTC
    clock = FakeClock(datetime(2026, 7, 1, 22, 30, tzinfo=UTC))
    async with running_bot(sqlite_store, clock=clock) as bot:
        path = await _chart_link(bot)
        assert (await bot.get(path))[0] == 200
        clock.advance(timedelta(minutes=20))
        assert (await bot.get(path))[0] == 200
        assert len(draws.threads) == 1
        clock.advance(timedelta(minutes=25))
        assert (await bot.get(path))[0] == 200
        assert len(draws.threads) == 2


async def test_a_burst_on_one_chart_link_is_rate_limited(
    bot: BotUnderTest, draws: CountingChart, caplog: pytest.LogCaptureFixture
) -> None:
    path = await _chart_link(bot)
    other = await _chart_link(bot, team(7).id)
    burst = health_feature.CHART_RATE.burst
    caplog.set_level(logging.INFO)
    answers = [await bot.get(path) for _ in range(burst + 5)]
    assert [status for status, _, _ in answers] == [200] * burst + [429] * 5
    _, body, headers = answers[-1]
    assert b"too many requests" in body
    assert int(headers["Retry-After"]) >= 1
    assert len([r for r in caplog.records if "rate limited" in r.getMessage()]) == 1  # one line per run of refusals
    assert (await bot.get(other))[0] == 200  # another link has its own bucket
    bot_clock = bot.services.clock
    assert isinstance(bot_clock, FakeClock)
    bot_clock.advance(timedelta(seconds=int(headers["Retry-After"])))
    assert (await bot.get(path))[0] == 200
    assert (await bot.get(path))[0] == 429
    assert len(draws.threads) == 2
