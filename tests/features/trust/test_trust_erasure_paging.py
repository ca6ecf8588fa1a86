"""``forget me`` at size: the audit log and the outbox are read a page at a time (each page its own storage call,
so its own deadline), and an erasure that runs out of time or loses storage part-way records where it stopped,
says so, and is finished later by the minute tick or by the next ``forget me``.

The person has 1,000 rows among 10,000 audit entries and 2,000 outbox items (bench/forget_at_size.py runs the
same at 100,000 / 50,000 on Azurite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from bench.erasure_seed import Person, rows_naming, seed
from bot.features import privacy
from bot.jobs import outbox
from bot.security import audit
from storage.azure import AzureTableStore
from storage.base import Row, TableStore, Unavailable, Where
from storage.paging import PAGE_SIZE
from tests.kit.activities import User
from tests.kit.azurite import Azurite
from tests.kit.harness import BotUnderTest, running_bot

ZELDA = Person()
WHO = User(id=ZELDA.user_id, aad=ZELDA.aad_id, name=ZELDA.name)
CONTINUES = "erased most of your data; the rest will be erased within 15 minutes"
DONE = "Your data has been erased"
SCANNED = (audit.TABLE, outbox.TABLE)


class PageLog:
    """Every query the bot makes of the audit log and the outbox, to prove the scans are paged; optionally
    fails the ``fail_at``-th such query as an outage would."""

    def __init__(self, store: TableStore) -> None:
        self.limits: list[int | None] = []
        self.audit_starts = 0  # reads of the audit log from its beginning (no key cursor)
        self.fail_at = 0
        self._query = store.query

        async def query(
            table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
        ) -> list[Row]:
            if table in SCANNED:
                self.limits.append(limit)
                if table == audit.TABLE and partition_key is None and not where:
                    self.audit_starts += 1
                if self.fail_at and len(self.limits) == self.fail_at:
                    raise Unavailable("storage went away mid-scan")
            return await self._query(table, partition_key, where, limit=limit)

        store.query = query  # type: ignore[method-assign]


@pytest.fixture
def emulator() -> Any:
    with Azurite() as running:  # its own, so the bot's fixed table names meet no other test's rows
        yield running


@pytest.fixture(params=["sqlite", pytest.param("azure", marks=pytest.mark.azurite)])
async def seeded(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[tuple[BotUnderTest, PageLog]]:
    store: TableStore
    if request.param == "sqlite":
        from storage.sqlite import SqliteStore

        store = SqliteStore(tmp_path / "store.sqlite3")
    else:
        emulator = request.getfixturevalue("emulator")
        store = AzureTableStore.from_connection_string(emulator.connection_string)
    await seed(store, ZELDA, audit_rows=10_000, person_audit_rows=500, outbox_rows=2_000, person_outbox_rows=500)
    assert await rows_naming(store, ZELDA) == 1_000
    log = PageLog(store)
    try:
        async with running_bot(store) as bot:
            yield bot, log
    finally:
        await store.close()


def stop_after(pages: int) -> Callable[[], Callable[[], bool]]:
    """A turn budget that runs out after ``pages`` pages (instead of after some seconds)."""

    def budget() -> Callable[[], bool]:
        left = [pages]

        def keep_going() -> bool:
            left[0] -= 1
            return left[0] > 0

        return keep_going

    return budget


async def _erase(bot: BotUnderTest) -> str:
    confirm = await bot.say(WHO, "forget me")
    return str((await bot.press(WHO, confirm.card, "Erase my data")).body)


async def _pending(bot: BotUnderTest) -> int:
    return len(await bot.services.store.query(privacy.JOBS, privacy.JOBS_PARTITION))


async def test_an_erase_out_of_time_says_so_and_the_tick_finishes_it(
    seeded: tuple[BotUnderTest, PageLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, log = seeded
    monkeypatch.setattr(privacy, "turn_budget", stop_after(5))
    answer = await _erase(bot)
    assert CONTINUES in answer
    assert await _pending(bot) == 1
    left = await rows_naming(bot.services.store, ZELDA)
    assert 0 < left < 1_000  # some pages were done, not all
    log.limits.clear()

    assert await privacy.run_due(bot.services, bot.services.clock.now()) == 1
    assert await rows_naming(bot.services.store, ZELDA) == 0
    assert await _pending(bot) == 0  # the bookkeeping row (their ids) went with the rest
    # every read of the two big tables was one page: no single storage call (or deadline) spans the scan
    assert log.limits
    assert all(limit is not None and limit <= PAGE_SIZE for limit in log.limits)
    assert len(log.limits) >= (10_000 + 2_000) // PAGE_SIZE


async def test_an_erase_cut_by_an_outage_resumes_where_it_stopped_on_the_next_forget_me(
    seeded: tuple[BotUnderTest, PageLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    bot, log = seeded
    log.fail_at = 12  # in the middle of the audit log
    answer = await _erase(bot)
    assert "could not be erased just now" in answer
    assert "within 15 minutes" in answer
    assert await _pending(bot) == 1
    assert 0 < await rows_naming(bot.services.store, ZELDA) < 1_000

    log.fail_at, log.audit_starts = 0, 0
    monkeypatch.setattr(privacy, "turn_budget", stop_after(10_000))  # no time limit in this turn
    assert DONE in await _erase(bot)
    assert log.audit_starts == 0  # resumed after the last page done, not from the start of the log
    assert await rows_naming(bot.services.store, ZELDA) == 0
    assert await _pending(bot) == 0
