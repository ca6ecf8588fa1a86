"""Benchmark scenarios. Each names the activities it sends to CoP Bot and the same-sized message it sends to
the echo bot, plus optional setup (install a team, join members) done before timing."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from bench.processes import SIGNING_KEY
from bot.sealing import seal_card
from bot.signing import Signer
from bot.turn import Card
from tests.kit.activities import Activities, team, user

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


JOIN_TEAM = team(900, "Bench Community")


async def _install_join_team(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    async with http.post(url, json=acts.installed_in_team(user(900), JOIN_TEAM)) as response:
        await response.read()
        if response.status >= 300:
            raise RuntimeError(f"installing the bench team failed: {response.status}")


def _join(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """Each activity is a join card submit (Action.Execute) by a different person: card → stored → confirmation."""
    signer = Signer(SIGNING_KEY)
    people = itertools.count(20000)

    def make(_: int) -> dict[str, Any]:
        data = {"verb": "membership.join", "cop_id": JOIN_TEAM.id, "tier": "wider", "mode": "replace"}
        sealed = seal_card(Card({"actions": [{"type": "Action.Execute", "data": data}]}), signer, datetime.now(UTC))
        assert isinstance(sealed, Card)
        value = {**sealed.content["actions"][0]["data"], "org_area": "central", "interests": "bench, data"}
        activity = acts.execute(user(next(people)), "membership.join", where=JOIN_TEAM)
        activity["value"]["action"]["data"] = value
        return activity

    return make


ASK = "how do I join a CoP?"


def _ask(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), f"ask {ASK}")


async def _warm_faq(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    """The first question loads the programme FAQ into storage and builds the index; time the steady state."""
    async with http.post(url, json=acts.personal(user(999), f"ask {ASK}")) as response:
        await response.read()


MIXED_TEAMS = tuple(team(910 + n, f"Mixed Community {n}") for n in range(5))


async def _install_mixed(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    for n, where in enumerate(MIXED_TEAMS):
        async with http.post(url, json=acts.installed_in_team(user(910 + n), where)) as response:
            await response.read()
            if response.status >= 300:
                raise RuntimeError(f"installing {where.name} failed: {response.status}")
    await _warm_faq(url, acts, http)


def _mixed(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """200 simulated users across 5 CoPs: a quarter each join (a sealed join submit, every fourth as core), ask
    a new question in their CoP's channel, ask for help, and look at their memberships."""
    signer = Signer(SIGNING_KEY)
    joiners = itertools.count(30000)

    def make(i: int) -> dict[str, Any]:
        where = MIXED_TEAMS[(i // 4) % len(MIXED_TEAMS)]
        person = user(40000 + i % 200)
        step = i % 4
        if step == 0:
            tier = "core" if i % 16 == 0 else "wider"
            data = {"verb": "membership.join", "cop_id": where.id, "tier": tier, "mode": "replace"}
            sealed = seal_card(Card({"actions": [{"type": "Action.Execute", "data": data}]}), signer, datetime.now(UTC))
            assert isinstance(sealed, Card)
            activity = acts.execute(user(next(joiners)), "membership.join", where=where)
            activity["value"]["action"]["data"] = {**sealed.content["actions"][0]["data"], "org_area": "central"}
            return activity
        if step == 1:
            return acts.channel(person, where, f"ask is room {i} in the east wing bookable on saturdays?")
        if step == 2:
            return acts.personal(person, "help")
        return acts.personal(person, "me")

    return make


def echo_message(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("help", _help),
    Scenario("ask", _ask, setup=_warm_faq),
    Scenario("join", _join, setup=_install_join_team),
    # DESIGN §6 / issue 10: 200 concurrent users on Azurite; ~3,000 activities ≈ a minute at Azurite's pace
    Scenario("mixed_load", _mixed, setup=_install_mixed, concurrency=(200,), total=3000, storage="azurite"),
)
