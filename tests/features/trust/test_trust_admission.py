"""Admission: one instance works on at most COPBOT_MAX_CONCURRENT_TURNS activities at once; the others wait, body
unread, and are answered in their turn: nothing is refused or lost under a burst."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from bot.routing.router import Turn
from storage.sqlite import SqliteStore
from tests.kit.activities import user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings

BURST = 20


class InFlight:
    """A router middleware that counts the turns being worked on, and holds each a moment so that they overlap."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0

    async def __call__(self, turn: Turn, call_next: Callable[[], Awaitable[None]]) -> None:
        self.now += 1
        self.most = max(self.most, self.now)
        try:
            await asyncio.sleep(0.02)
            await call_next()
        finally:
            self.now -= 1


async def burst(bot: BotUnderTest) -> tuple[InFlight, list[int]]:
    counter = InFlight()
    bot.services.router.use(counter)
    posted = await asyncio.gather(*(bot.say(user(500 + n), "help") for n in range(BURST)))
    return counter, [p.status for p in posted]


@pytest.mark.parametrize("limit", [1, 3])
async def test_a_burst_is_worked_on_within_the_limit_and_every_activity_answered(
    sqlite_store: SqliteStore, connector: FakeConnector, limit: int
) -> None:
    settings = test_settings(max_concurrent_turns=limit)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:
        counter, statuses = await burst(bot)
        assert counter.most == limit
        assert all(200 <= status < 300 for status in statuses), statuses
        helped = {call.conversation_id for call in connector.sent()}
        assert len(helped) == BURST  # one answer in each of the twenty chats


async def test_without_a_tight_limit_the_same_burst_overlaps(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    """The control: the counter above sees the overlap a limit prevents."""
    settings = test_settings(max_concurrent_turns=100)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:
        counter, statuses = await burst(bot)
        assert counter.most > 3
        assert all(200 <= status < 300 for status in statuses), statuses
