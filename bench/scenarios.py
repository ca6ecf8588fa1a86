"""Benchmark scenarios. Each names the activities it sends to CoP Bot and the same-sized message it sends to
the echo bot, plus optional setup (install a team, join members) done before timing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp

from bench import health_seed
from storage.base import TableStore
from tests.kit.activities import Activities, user

Setup = Callable[[str, Activities, aiohttp.ClientSession], Awaitable[None]]
# writes a scenario's data straight into the bot's store: (store, connector url, the bot's now)
Seed = Callable[[TableStore, str, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    make: Callable[[Activities], Callable[[int], dict[str, Any]]]
    setup: Setup | None = None
    concurrency: tuple[int, ...] = (1, 20)
    total: int = 400
    storage: str = "sqlite"  # or "azurite"
    seed: Seed | None = None


def _help(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


def echo_message(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


def _health(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """A lead asks for the scorecard in their CoP's channel (25 CoPs x 200 members x a term of activity)."""
    return lambda i: acts.channel(
        health_seed.lead_of(i % health_seed.COPS), health_seed.cop_team(i % health_seed.COPS), "health"
    )


def _programme(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """A programme admin asks for all 25 CoPs side by side."""
    return lambda _: acts.personal(health_seed.ADMIN, "programme")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("help", _help),
    Scenario("health", _health, storage="azurite", seed=health_seed.seed, concurrency=(1, 5), total=200),
    Scenario("programme", _programme, storage="azurite", seed=health_seed.seed, concurrency=(1, 2), total=40),
)
