"""Benchmark scenarios. Each names the activities it sends to CoP Bot and the same-sized message it sends to
the echo bot, plus optional setup (install a team, join members) done before timing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.kit.activities import Activities, user

Setup = Callable[[str, Activities, aiohttp.ClientSession], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str
    make: Callable[[Activities], Callable[[int], dict[str, Any]]]
    setup: Setup | None = None
    concurrency: tuple[int, ...] = (1, 20)
    total: int = 400
    storage: str = "sqlite"  # or "azurite"


def _help(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


ASK = "how do I join a CoP?"


def _ask(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), f"ask {ASK}")


async def _warm_faq(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    """The first question loads the programme FAQ into storage and builds the index; time the steady state."""
    async with http.post(url, json=acts.personal(user(999), f"ask {ASK}")) as response:
        await response.read()


def echo_message(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


SCENARIOS: tuple[Scenario, ...] = (Scenario("help", _help), Scenario("ask", _ask, setup=_warm_faq))
