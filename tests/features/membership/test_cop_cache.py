"""The per-process CoP row cache (COPBOT_COP_CACHE_SECONDS) that spares role resolution a read per turn: hits
within the TTL, dropped at once by a write on the same instance, a change on another instance seen after the
TTL, and a racing read never putting an old row back. The tests' default settings turn it off; these turn it on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.counting import CountingStore
from bot.domain.cops import Cop, CopCache, CopRepo
from storage.sqlite import SqliteStore
from tests.features.membership.kit import install, join
from tests.kit.activities import team, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import running_bot, test_settings

ALICE = user(1, "Alice Adams")
BOB = user(2, "Bob Brown")
DATA = team(1, "Data and Insight")
TTL = 10.0
REFUSED = "only this CoP's leads"


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_cop(cop_id: str = "19:a@thread.tacv2", name: str = "A") -> Cop:
    return Cop(cop_id=cop_id, name=name, tenant_id="t", service_url="https://smba.example")


# -- the cache on its own ----------------------------------------------------------------------------------------


def test_a_row_is_kept_for_the_ttl_then_dropped() -> None:
    ticks = Ticks()
    cache = CopCache(TTL, clock=ticks)
    cop = a_cop()
    cache.put(cop.cop_id, cop, cache.generation)
    ticks.now += TTL - 0.01
    assert cache.get(cop.cop_id) is cop
    ticks.now += 0.01
    assert cache.get(cop.cop_id) is None


def test_forget_drops_the_row_and_a_read_older_than_a_write_is_not_kept() -> None:
    cache = CopCache(TTL, clock=Ticks())
    cop = a_cop()
    cache.put(cop.cop_id, cop, cache.generation)
    read_started = cache.generation
    cache.forget(cop.cop_id)  # a write happened while the read was in flight
    assert cache.get(cop.cop_id) is None
    cache.put(cop.cop_id, cop, read_started)
    assert cache.get(cop.cop_id) is None
    cache.put(cop.cop_id, cop, cache.generation)
    assert cache.get(cop.cop_id) is cop


def test_zero_ttl_keeps_nothing_and_the_size_is_bounded() -> None:
    off = CopCache(0.0)
    off.put(a_cop().cop_id, a_cop(), off.generation)
    assert off.get(a_cop().cop_id) is None
    small = CopCache(TTL, clock=Ticks(), limit=2)
    for n in range(3):
        small.put(f"19:{n}@thread.tacv2", a_cop(f"19:{n}@thread.tacv2"), small.generation)
    assert small.get("19:0@thread.tacv2") is None
    assert small.get("19:2@thread.tacv2") is not None


def test_clear_drops_everything_and_a_read_older_than_it_is_not_kept() -> None:
    cache = CopCache(TTL, clock=Ticks())
    first, second = a_cop("19:1@thread.tacv2"), a_cop("19:2@thread.tacv2")
    read_started = cache.generation
    cache.put(first.cop_id, first, read_started)
    cache.put(second.cop_id, second, read_started)
    cache.clear()
    assert cache.get(first.cop_id) is None
    assert cache.get(second.cop_id) is None
    cache.put(first.cop_id, first, read_started)
    assert cache.get(first.cop_id) is None


async def test_a_write_racing_a_read_leaves_no_stale_copy(tmp_path: Path) -> None:
    """The read finishes after the write started (and before it finished): its old row must not be kept."""
    store = SqliteStore(tmp_path / "race.sqlite3")
    try:
        cache = CopCache(TTL, clock=Ticks())
        repo = CopRepo(store, cache)
        created = await repo.create(a_cop())
        old = await CopRepo(store).get(created.cop_id)
        assert old is not None
        generation = cache.generation  # the racing read starts here...
        await repo.save(replace(old, name="renamed"), datetime(2026, 11, 23, tzinfo=UTC))
        cache.put(old.cop_id, old, generation)  # ...and lands after the write
        assert cache.get(created.cop_id) is None
        fresh = await repo.get_cached(created.cop_id)
        assert fresh is not None
        assert fresh.name == "renamed"
        assert cache.get(created.cop_id) == fresh
    finally:
        await store.close()


# -- through the app ---------------------------------------------------------------------------------------------


@pytest.fixture
async def counting(tmp_path: Path) -> AsyncIterator[CountingStore]:
    store = CountingStore(SqliteStore(tmp_path / "cache.sqlite3"))
    yield store
    await store.close()


async def test_role_resolution_reads_the_cop_once_within_the_ttl(
    counting: CountingStore, connector: FakeConnector
) -> None:
    async with running_bot(counting, connector=connector, settings=test_settings(cop_cache_seconds=TTL)) as bot:
        ticks = Ticks()
        bot.services.cop_cache.clock = ticks
        await install(bot, ALICE, DATA, BOB)
        counting.reset()
        await bot.say_in(BOB, DATA, "help")
        assert counting.calls["get:cops"] <= 1  # the install turn wrote the row (and may have read it back)
        counting.reset()
        for _ in range(3):
            assert "only this CoP's leads" in (await bot.say_in(BOB, DATA, "setup")).everything
        assert counting.calls["get:cops"] == 0
        ticks.now += TTL
        counting.reset()
        await bot.say_in(BOB, DATA, "help")
        assert counting.calls["get:cops"] == 1  # expired: read again


async def test_a_lead_change_on_this_instance_counts_at_once(counting: CountingStore, connector: FakeConnector) -> None:
    async with running_bot(counting, connector=connector, settings=test_settings(cop_cache_seconds=TTL)) as bot:
        bot.services.cop_cache.clock = Ticks()  # never expires during the test
        await install(bot, ALICE, DATA, BOB)
        assert REFUSED in (await bot.say_in(BOB, DATA, "setup")).everything  # Bob's role read and cached
        await bot.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
        assert "Set up Data and Insight" in (await bot.say_in(BOB, DATA, "setup")).everything
        # a removed lead loses lead rights on this instance at the very next turn
        removed = await bot.say_in(BOB, DATA, "leads remove @Alice Adams", mentions=(ALICE,))
        assert "Alice Adams no longer lead" in removed.everything
        assert REFUSED in (await bot.say_in(ALICE, DATA, "setup")).everything
        # an uninstall (another kind of CoP write) drops the copy too
        await bot.post(bot.acts.uninstalled_from_team(ALICE, DATA))
        cached = bot.services.cop_cache.get(DATA.id)
        assert cached is None or not cached.active


async def test_a_change_on_another_instance_is_seen_after_the_ttl(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    """The documented trade-off: instance B may act on its copy for up to the TTL after A removed a lead."""
    settings = test_settings(cop_cache_seconds=TTL)
    async with (
        running_bot(sqlite_store, connector=connector, settings=settings) as a,
        running_bot(sqlite_store, connector=connector, settings=settings) as b,
    ):
        ticks = Ticks()
        b.services.cop_cache.clock = ticks
        await install(a, ALICE, DATA, BOB)
        await a.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
        assert "Set up Data and Insight" in (await b.say_in(ALICE, DATA, "setup")).everything  # B caches the row
        await a.say_in(BOB, DATA, "leads remove @Alice Adams", mentions=(ALICE,))
        assert REFUSED in (await a.say_in(ALICE, DATA, "setup")).everything  # at once where it was written
        ticks.now += TTL - 1
        assert "Set up Data and Insight" in (await b.say_in(ALICE, DATA, "setup")).everything  # stale, bounded
        ticks.now += 1
        assert REFUSED in (await b.say_in(ALICE, DATA, "setup")).everything
        # writes never trust the copy: B saving the CoP after A changed it keeps A's change
        await a.say_in(BOB, DATA, "leads add @Alice Adams", mentions=(ALICE,))
        await b.say_in(BOB, DATA, "leads remove @Alice Adams", mentions=(ALICE,))
        stored = await CopRepo(sqlite_store).get(DATA.id)
        assert stored is not None
        assert [lead.aad_id for lead in stored.leads] == [BOB.aad]


async def test_the_cop_cache_is_on_by_default_and_the_setting_is_checked() -> None:
    from bot.core.config import Settings, SettingsError

    assert Settings.from_env({}).cop_cache_seconds == 10.0
    assert Settings.from_env({"COPBOT_COP_CACHE_SECONDS": "0"}).cop_cache_seconds == 0.0
    assert Settings.from_env({"COPBOT_COP_CACHE_SECONDS": "2.5"}).cop_cache_seconds == 2.5
    for bad in ("-1", "301", "soon", "nan"):
        with pytest.raises(SettingsError, match="COPBOT_COP_CACHE_SECONDS"):
            Settings.from_env({"COPBOT_COP_CACHE_SECONDS": bad})


# -- the list of every CoP (personal chat's role resolution, cards that list CoPs) --------------------------------


def test_the_list_is_kept_for_the_ttl_and_dropped_by_any_write() -> None:
    ticks = Ticks()
    cache = CopCache(TTL, clock=ticks)
    listed = (a_cop("19:1@thread.tacv2"), a_cop("19:2@thread.tacv2"))
    cache.put_listing(listed, cache.generation)
    ticks.now += TTL - 0.01
    assert cache.listing() == listed
    ticks.now += 0.01
    assert cache.listing() is None
    cache.put_listing(listed, cache.generation)
    read_started = cache.generation
    cache.forget("19:1@thread.tacv2")  # a write to one CoP drops the whole list
    assert cache.listing() is None
    cache.put_listing(listed, read_started)  # a list read before that write is not kept
    assert cache.listing() is None
    cache.put_listing(listed, cache.generation)
    cache.clear()
    assert cache.listing() is None
    off = CopCache(0.0)
    off.put_listing(listed, off.generation)
    assert off.listing() is None


async def test_personal_chat_lists_the_cops_once_within_the_ttl(
    counting: CountingStore, connector: FakeConnector
) -> None:
    async with running_bot(counting, connector=connector, settings=test_settings(cop_cache_seconds=TTL)) as bot:
        ticks = Ticks()
        bot.services.cop_cache.clock = ticks
        await install(bot, ALICE, DATA, BOB)
        await join(bot, BOB, DATA)
        await bot.say(BOB, "help")
        counting.reset()
        for text in ("help", "me", "join"):
            assert (await bot.say(BOB, text)).everything
        assert counting.calls["query:cops"] == 0
        me = await bot.say(BOB, "me")
        assert "Data and Insight" in me.everything
        ticks.now += TTL
        counting.reset()
        await bot.say(BOB, "help")
        assert counting.calls["query:cops"] == 1  # expired: listed again


async def test_a_cop_set_up_on_another_instance_is_found_at_once_by_its_members(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    """B's copy of the list predates a CoP installed (and joined) on A: B reads the list again as soon as it
    meets a membership the copy does not know, so the member is never told "(removed CoP)" or asked which CoP."""
    settings = test_settings(cop_cache_seconds=TTL)
    async with (
        running_bot(sqlite_store, connector=connector, settings=settings) as a,
        running_bot(sqlite_store, connector=connector, settings=settings) as b,
    ):
        b.services.cop_cache.clock = Ticks()  # never expires during the test
        assert (await b.say(BOB, "help")).everything  # B lists the CoPs: none yet
        assert b.services.cop_cache.listing() == ()
        await install(a, ALICE, DATA, BOB)
        await join(a, BOB, DATA)
        # a CoP command in personal chat: B picks Bob's one CoP, as A does
        projects = (await b.say(BOB, "projects")).everything
        assert "aren't in any CoP" not in projects
        assert "No projects are registered yet" in projects  # Data and Insight's (none yet)
        assert [c.cop_id for c in b.services.cop_cache.listing() or ()] == [DATA.id]
        me = await b.say(BOB, "me")
        assert "Data and Insight" in me.everything
        assert "removed CoP" not in me.everything
