"""Count storage round trips per activity of a scenario, in-process, with a counting store."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.counting import CountingStore
from bench.processes import SIGNING_KEY
from bench.scenarios import Scenario
from bot.core.clock import SystemClock
from bot.core.config import Settings
from bot.features.event_notices import settle
from storage.sqlite import SqliteStore
from tests.kit.harness import running_bot, test_settings

SAMPLES = 20


def _settings() -> Settings:
    """The tests' settings with production's caching (the tests turn the CoP cache off)."""
    return test_settings(signing_key=SIGNING_KEY, cop_cache_seconds=Settings().cop_cache_seconds)


@dataclass(frozen=True)
class RoundTrips:
    per_turn: float  # average store calls per activity, redelivery claim included
    last_turn: dict[str, int]  # the calls of the last activity, by operation and table
    background: float  # average calls per activity made after the answer (e.g. the shared card's refresh)


async def round_trips(scenario: Scenario) -> RoundTrips:
    """Count the store calls of ``SAMPLES`` activities of ``scenario`` on a warm in-process bot, on the real clock
    like the bot processes the bench times (so that both find the seeded snapshots current)."""
    with tempfile.TemporaryDirectory() as tmp:
        store = CountingStore(SqliteStore(Path(tmp) / "rt.sqlite3"))
        async with (
            running_bot(store, settings=_settings(), clock=SystemClock()) as bot,
            aiohttp.ClientSession() as http,
        ):
            if scenario.seed is not None:
                await scenario.seed(store, bot.acts)
            if scenario.setup is not None:
                await scenario.setup(bot.url, bot.acts, http)
            make = scenario.make(bot.acts)
            await bot.post(make(-1))  # warm caches the way a running bot has them
            store.reset()
            last: dict[str, int] = {}
            for i in range(SAMPLES):
                before = dict(store.calls)
                await bot.post(make(i))
                last = {k: v - before.get(k, 0) for k, v in store.calls.items() if v - before.get(k, 0)}
            await settle(bot.services)
            counted = RoundTrips(store.total / SAMPLES, last, sum(store.background.values()) / SAMPLES)
        await store.close()
    return counted
