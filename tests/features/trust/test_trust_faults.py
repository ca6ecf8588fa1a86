"""Fault injection: storage goes away while users talk to the bot, then comes back.

Every affected turn gets the "can't reach my storage" reply (never a 500, never a hang past Teams' limits), a
failed turn leaves no redelivery claim (so Teams' retry of it is processed), and once storage is back the bot
works again. Two ways to lose storage: a network cut/black hole in front of Azurite (data kept), and stopping
the Azurite process itself (in-memory data lost: the bot must recreate its tables and carry on).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from bot.core import messages
from storage.azure import AzureTableStore
from tests.kit.activities import User, user
from tests.kit.azurite import ACCOUNT, KEY, Azurite
from tests.kit.connector import FakeConnector
from tests.kit.faults import FlakyProxy
from tests.kit.harness import BotUnderTest, Posted, running_bot

pytestmark = pytest.mark.azurite

DOWN = messages.STORAGE_DOWN.split("(ref")[0].strip()
USERS = [user(200 + i, f"User {i}") for i in range(12)]


def connection_string(port: int) -> str:
    endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
    return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};TableEndpoint={endpoint};"


def outcome(posted: Posted, person: User | None = None) -> str:
    """ "ok" (the help card) or "down" (the storage apology); anything else fails. With concurrent requests,
    ``person`` picks this request's replies out of the connector calls recorded meanwhile."""
    assert posted.status in (200, 201), (posted.status, posted.body)
    calls = [c for c in posted.calls if person is None or c.conversation_id == f"a:personal-{person.id}"]
    text = "\n".join(c.everything for c in calls) + (str(posted.body) if posted.body else "")
    if DOWN in text:
        return "down"
    if "What I can do" in text:
        return "ok"
    raise AssertionError(f"unexpected answer: {text[:300]}")


@pytest.fixture
async def proxied(azurite: Azurite, connector: FakeConnector) -> AsyncIterator[tuple[BotUnderTest, FlakyProxy]]:
    proxy = FlakyProxy(azurite.port)
    await proxy.start()
    store = AzureTableStore.from_connection_string(connection_string(proxy.port))
    try:
        async with running_bot(store, connector=connector) as bot:
            yield bot, proxy
    finally:
        await store.close()
        await proxy.close()


async def test_network_cut_then_black_hole_then_recovery(proxied: tuple[BotUnderTest, FlakyProxy]) -> None:
    bot, proxy = proxied
    answers = await asyncio.gather(*(bot.say(u, "help") for u in USERS))
    assert {outcome(p, u) for p, u in zip(answers, USERS, strict=True)} == {"ok"}

    await proxy.set_mode("refuse")
    refused = [bot.acts.personal(u, "help") for u in USERS]
    started = time.perf_counter()
    answers = await asyncio.gather(*(bot.post(a) for a in refused))
    assert {outcome(p, u) for p, u in zip(answers, USERS, strict=True)} == {"down"}
    assert time.perf_counter() - started < 4.5
    status, _, _ = await bot.get("/readyz")
    assert status == 503

    await proxy.set_mode("hang")
    started = time.perf_counter()
    invokes = await asyncio.gather(
        *(bot.post(bot.acts.execute(u, "help.show", bot.sealed("help.show"))) for u in USERS[:4])
    )
    assert time.perf_counter() - started < 5.0  # Teams' invoke limit
    for posted in invokes:
        assert posted.status == 200
        assert DOWN in posted.body["value"]

    await proxy.set_mode("pass")
    # Teams retries the turns that failed: none of them left a claim behind, so each is processed now
    retried = await asyncio.gather(*(bot.post(a) for a in refused))
    assert {outcome(p, u) for p, u in zip(retried, USERS, strict=True)} == {"ok"}
    before = len(bot.connector.calls)
    await asyncio.gather(*(bot.post(a) for a in refused))
    assert len(bot.connector.calls) == before  # and now they are claimed: a third delivery is ignored
    status, _, _ = await bot.get("/readyz")
    assert status == 200


async def test_azurite_stopped_and_restarted_while_users_talk(connector: FakeConnector) -> None:
    emulator = Azurite()
    await asyncio.to_thread(emulator.start)
    store = AzureTableStore.from_connection_string(emulator.connection_string)
    phases: dict[str, list[str]] = {"before": [], "during": [], "after": []}
    phase = "before"
    progress = asyncio.Condition()

    async def wait_for(predicate: str, count: int) -> None:
        async def reached() -> None:
            async with progress:
                await progress.wait_for(lambda: len(phases[predicate]) >= count)

        await asyncio.wait_for(reached(), 60)  # a generous bound: a talker that dies must fail the test

    async def talk(bot: BotUnderTest, person: User, stop: asyncio.Event) -> None:
        while not stop.is_set():
            current = phase
            posted = await bot.say(person, "help")
            try:
                result = outcome(posted, person)
            except AssertionError as error:
                result = f"unexpected: {str(error)[:200]}"
            async with progress:
                phases[current].append(result)
                progress.notify_all()

    try:
        async with running_bot(store, connector=connector) as bot:
            stop = asyncio.Event()
            talkers = [asyncio.ensure_future(talk(bot, u, stop)) for u in USERS[:8]]
            await wait_for("before", 16)
            phase = "during"
            await asyncio.to_thread(emulator.stop)
            await wait_for("during", 16)
            await asyncio.to_thread(emulator.start)
            phase = "after"
            await wait_for("after", 24)
            stop.set()
            await asyncio.gather(*talkers)
            assert phases["before"][:16] == ["ok"] * 16
            assert "down" in phases["during"]
            assert {r for p in phases.values() for r in p} <= {"ok", "down"}, phases
            # the few turns already in flight when the emulator came back may still see the outage
            assert phases["after"][-16:] == ["ok"] * 16
            status, _, _ = await bot.get("/readyz")
            assert status == 200
    finally:
        await store.close()
        await asyncio.to_thread(emulator.stop)
