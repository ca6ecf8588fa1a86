"""A Bot Connector that never answers stalls only its own conversations (default seam).

Eight conversations whose service URL accepts connections and never answers, while 50 ``help`` turns run in
healthy conversations: the healthy turns' p99 stays within 1.2x of the same run without the hung ones, and the
hung turns end with a logged timeout, never an unhandled error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from storage.sqlite import SqliteStore
from tests.kit.activities import Activities, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings

pytestmark = pytest.mark.slow  # timing against a hung connector: make test, not make check

HEALTHY_TURNS = 50
HUNG_TURNS = 8
TIMEOUT_S = 3.0


@pytest.fixture
async def hung_connector() -> AsyncIterator[str]:
    """A service URL that accepts the connection and the request, and never answers."""
    release = asyncio.Event()
    seen: list[str] = []

    async def never(request: web.Request) -> web.Response:
        seen.append(request.path)
        await release.wait()
        return web.Response(status=503)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", never)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/")
    release.set()
    await server.close()


async def _healthy_run(bot: BotUnderTest, first_user: int) -> list[float]:
    """50 help turns, ten at a time, each in its own healthy chat; their latencies in seconds."""
    latencies: list[float] = []
    gate = asyncio.Semaphore(10)

    async def one(n: int) -> None:
        async with gate:
            started = time.perf_counter()
            posted = await bot.post(bot.acts.personal(user(n), "help"))
            latencies.append(time.perf_counter() - started)
            assert posted.status == 201
            assert "What I can do" in posted.calls[0].card_text

    await asyncio.gather(*(one(first_user + i) for i in range(HEALTHY_TURNS)))
    return latencies


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def test_hung_conversations_do_not_slow_healthy_ones(
    sqlite_store: SqliteStore, connector: FakeConnector, hung_connector: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = test_settings(connector_timeout=TIMEOUT_S)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:
        await _healthy_run(bot, 1000)  # warm-up: connections, caches, the first card builds
        # the best of three runs each way, so one scheduling hiccup of a busy test machine does not decide it
        without = min([_p99(await _healthy_run(bot, 2000 + 100 * i)) for i in range(3)])
        hung_acts = Activities(hung_connector)
        with caplog.at_level(logging.WARNING):
            started = time.perf_counter()
            hung = [
                asyncio.ensure_future(bot.post(hung_acts.personal(user(3000 + i), "help"))) for i in range(HUNG_TURNS)
            ]
            await asyncio.sleep(0.05)  # the hung turns are now waiting on their connector
            assert not any(task.done() for task in hung)
            with_hung = min([_p99(await _healthy_run(bot, 4000 + 100 * i)) for i in range(3)])
            assert not any(task.done() for task in hung), "the healthy runs outlasted the connector timeout"
            results = await asyncio.gather(*hung)
            hung_elapsed = time.perf_counter() - started
    assert with_hung <= max(1.2 * without, without + 0.02), (with_hung, without)
    assert all(posted.status in (200, 201) for posted in results), [p.status for p in results]
    assert hung_elapsed < TIMEOUT_S * 3  # each hung turn gave up after its timeout, and its apology at once
    messages = [r.getMessage() for r in caplog.records]
    assert sum("did not answer in time" in m for m in messages) >= HUNG_TURNS
    assert not [r for r in caplog.records if r.name == "aiohttp.server"], "an unhandled error reached aiohttp"
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR], "a timeout is not an error"


async def test_a_button_whose_reply_cannot_reach_teams_is_answered_with_a_clear_message(
    sqlite_store: SqliteStore, connector: FakeConnector, hung_connector: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A card action's handler that posts a message through a connector that never answers: the invoke is still
    answered (200, "couldn't reach Teams"), within the timeout, with a warning and no traceback, and its
    redelivery claim is released so that Teams' retry is processed."""
    from bot.core import messages
    from bot.routing.middleware import DEDUPE_TABLE
    from bot.routing.router import Turn

    settings = test_settings(connector_timeout=1.0)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:

        @bot.services.router.action("test.post")
        async def post_a_message(turn: Turn) -> None:
            await turn.respond.reply("posted beside the card")

        acts = Activities(hung_connector)
        with caplog.at_level(logging.WARNING):
            started = time.perf_counter()
            clicked = await bot.post(acts.execute(user(1), "test.post", bot.sealed("test.post")))
            elapsed = time.perf_counter() - started
    assert clicked.status == 200
    assert clicked.body["value"] == messages.CONNECTOR_DOWN
    assert elapsed < 3.0
    assert any("the Bot Connector failed status=0" in r.getMessage() for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert await sqlite_store.query(DEDUPE_TABLE, None) == []


async def test_the_botbuilder_seams_replies_give_up_after_the_connector_timeout(
    sqlite_store: SqliteStore, connector: FakeConnector, hung_connector: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The archived SDK makes a connector client per turn with msrest's defaults (a long timeout, retries): the
    seam gives it the same per-call timeout as every other connector call."""
    settings = test_settings(sdk="botbuilder", connector_timeout=1.0)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:
        started = time.perf_counter()
        with caplog.at_level(logging.WARNING):
            posted = await asyncio.wait_for(bot.post(Activities(hung_connector).personal(user(5000), "help")), 30)
        elapsed = time.perf_counter() - started
    assert posted.status in (200, 201)
    assert elapsed < 6.0, elapsed  # one timed-out reply (1 s) and at most one timed-out apology, no retries
    assert not [r for r in caplog.records if r.name == "aiohttp.server"], "an unhandled error reached aiohttp"
