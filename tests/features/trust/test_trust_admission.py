"""Admission: one instance works on at most COPBOT_MAX_CONCURRENT_TURNS messages at once; the others wait and are
answered in their turn: nothing is refused or lost under a burst. A card's invoke does not wait (Teams gives it a
few seconds), even when every slot is held by a slow turn."""

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


class HoldsSlowTurns:
    """A router middleware that holds a message saying "slow" until released."""

    def __init__(self) -> None:
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, turn: Turn, call_next: Callable[[], Awaitable[None]]) -> None:
        if turn.request.text.strip() == "slow":
            self.holding.set()
            await self.release.wait()
        await call_next()


async def test_a_cards_invoke_is_answered_while_every_slot_is_held(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    settings = test_settings(max_concurrent_turns=1)
    async with running_bot(sqlite_store, connector=connector, settings=settings) as bot:
        hold = HoldsSlowTurns()
        bot.services.router.use(hold)
        slow = asyncio.create_task(bot.say(user(600), "slow"))
        await asyncio.wait_for(hold.holding.wait(), 5)
        waiting = asyncio.create_task(bot.say(user(601), "help"))  # a message: waits for the slot
        clicked = await asyncio.wait_for(bot.post(bot.acts.execute(user(602), "no.such.verb")), 5)
        assert clicked.status == 200
        assert "didn't come from me" in str(clicked.body)  # answered: an unsealed button is refused at once
        await asyncio.sleep(0.05)
        assert not waiting.done()
        hold.release.set()
        assert (await slow).status < 300
        assert (await waiting).status < 300
