"""A FAQ index is reused without reading storage for ``COPBOT_COP_CACHE_SECONDS``; an edit on this instance counts
at once, one on another instance once that time has passed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.answers.ranker import FaqIndex
from bot.domain.faq import Draft, FaqIndexes
from storage.counting import CountingStore
from storage.sqlite import SqliteStore

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
COP = "19:revisions@thread.tacv2"
QUESTION = "Where do the meeting minutes live?"


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[CountingStore]:
    counting = CountingStore(SqliteStore(tmp_path / "faq.sqlite3"))
    yield counting
    await counting.close()


def has_entry(index: FaqIndex, question: str) -> bool:
    return any(e.question == question for e in index.entries)


async def test_a_checked_index_is_reused_until_the_time_runs_out(store: CountingStore) -> None:
    ticks = Ticks()
    indexes = FaqIndexes(store, revision_seconds=10, clock=ticks)
    first = await indexes.for_cop(COP, NOW)
    store.reset()
    assert await indexes.for_cop(COP, NOW) is first
    assert store.total == 0  # no revision reads within the time
    ticks.now += 10
    assert await indexes.for_cop(COP, NOW) is first
    assert dict(store.calls) == {"get:faq": 2}  # both revisions read again; nothing changed, nothing rebuilt


async def test_an_edit_on_this_instance_counts_at_once(store: CountingStore) -> None:
    indexes = FaqIndexes(store, revision_seconds=10, clock=Ticks())
    await indexes.for_cop(COP, NOW)
    await indexes.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    assert has_entry(await indexes.for_cop(COP, NOW), QUESTION)
    [entry] = [e for e in (await indexes.for_cop(COP, NOW)).entries if e.question == QUESTION]
    await indexes.repo.remove(COP, entry.entry_id, NOW)
    assert not has_entry(await indexes.for_cop(COP, NOW), QUESTION)


async def test_an_edit_on_another_instance_counts_once_the_time_has_passed(store: CountingStore) -> None:
    ticks = Ticks()
    here = FaqIndexes(store, revision_seconds=10, clock=ticks)
    elsewhere = FaqIndexes(store, revision_seconds=10, clock=ticks)
    await here.for_cop(COP, NOW)
    await elsewhere.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    assert not has_entry(await here.for_cop(COP, NOW), QUESTION)  # the bounded staleness this trades for reads
    ticks.now += 10
    assert has_entry(await here.for_cop(COP, NOW), QUESTION)


async def test_with_no_time_every_question_checks(store: CountingStore) -> None:
    indexes = FaqIndexes(store, clock=Ticks())
    await indexes.for_cop(COP, NOW)
    store.reset()
    await indexes.for_cop(COP, NOW)
    assert dict(store.calls) == {"get:faq": 2}
    other = FaqIndexes(store)
    await other.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    assert has_entry(await indexes.for_cop(COP, NOW), QUESTION)
