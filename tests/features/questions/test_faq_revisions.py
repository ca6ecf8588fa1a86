"""A FAQ index is reused without reading storage for ``COPBOT_COP_CACHE_SECONDS``; an edit on this instance counts
at once, one on another instance once that time has passed. A CoP without entries of its own shares the
programme's index, and CoPs' own indexes are kept within a memory budget by their measured size, least recently used
first out. A burst of questions builds an index once."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.counting import CountingStore
from bot.answers import ranker
from bot.answers.ranker import Answer, FaqIndex
from bot.domain.faq import Draft
from bot.domain.faq_indexes import FaqIndexes, index_bytes
from storage.sqlite import SqliteStore
from tests.answers.model import HistogramEncoder

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


async def test_a_cop_without_entries_of_its_own_shares_the_programme_index(store: CountingStore) -> None:
    indexes = FaqIndexes(store, clock=Ticks())
    programme = await indexes.for_cop(None, NOW)
    assert await indexes.for_cop(COP, NOW) is programme
    assert await indexes.for_cop("19:another@thread.tacv2", NOW) is programme
    await indexes.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    own = await indexes.for_cop(COP, NOW)
    assert own is not programme
    assert has_entry(own, QUESTION)
    assert not has_entry(await indexes.for_cop(None, NOW), QUESTION)
    assert await indexes.for_cop("19:another@thread.tacv2", NOW) is programme


async def test_a_cops_own_index_shares_the_programme_index_vectors(store: CountingStore) -> None:
    indexes = FaqIndexes(store, HistogramEncoder(), clock=Ticks())
    await indexes.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    own = await indexes.for_cop(COP, NOW)
    programme = await indexes.for_cop(None, NOW)
    assert own is not programme
    assert own.semantic
    assert own._vectors is not None
    assert programme._vectors is not None
    assert own._vectors.phrasings[0] is programme._vectors.phrasings[0]  # ~5 MB not copied per CoP
    assert own.search(QUESTION, 1)[0].entry.question == QUESTION
    assert not has_entry(programme, QUESTION)


async def test_cop_indexes_are_kept_within_the_memory_budget_least_recently_used_first_out(
    store: CountingStore,
) -> None:
    indexes = FaqIndexes(store, HistogramEncoder(), clock=Ticks())
    cops = [f"19:cop-{n}@thread.tacv2" for n in range(5)]
    for cop in cops:
        await indexes.repo.add(cop, [Draft(f"Where are the {cop} minutes?", "In the Files tab.")], "lead", NOW)
    first = await indexes.for_cop(cops[0], NOW)
    one = indexes.held_bytes
    assert one > 0
    indexes.budget_bytes = int(2.5 * one)  # room for two CoPs' indexes
    built = {cops[0]: first} | {cop: await indexes.for_cop(cop, NOW) for cop in cops[1:]}
    assert indexes.held_bytes <= indexes.budget_bytes
    assert indexes.evictions == 3
    assert await indexes.for_cop(cops[-1], NOW) is built[cops[-1]]  # recently used: kept
    assert await indexes.for_cop(cops[-2], NOW) is built[cops[-2]]
    rebuilt = await indexes.for_cop(cops[0], NOW)  # least recently used: let go, so built again, and as good
    assert rebuilt is not built[cops[0]]
    assert has_entry(rebuilt, f"Where are the {cops[0]} minutes?")
    answer = await indexes.answer(rebuilt, f"Where are the {cops[0]} minutes?")
    assert isinstance(answer, Answer)
    assert answer.entry.scope == cops[0]
    assert indexes.held_bytes <= indexes.budget_bytes
    programme = await indexes.for_cop(None, NOW)
    assert await indexes.for_cop("19:no-entries@thread.tacv2", NOW) is programme  # shares it: costs nothing
    assert indexes.held_bytes <= indexes.budget_bytes


async def test_an_index_bigger_than_the_budget_is_used_then_let_go(store: CountingStore) -> None:
    indexes = FaqIndexes(store, HistogramEncoder(), clock=Ticks(), budget_mb=0)
    for cop in ("19:a@thread.tacv2", "19:b@thread.tacv2"):
        await indexes.repo.add(cop, [Draft(f"Where are the {cop} minutes?", "In the Files tab.")], "lead", NOW)
    a = await indexes.for_cop("19:a@thread.tacv2", NOW)
    assert has_entry(a, "Where are the 19:a@thread.tacv2 minutes?")
    await indexes.for_cop("19:b@thread.tacv2", NOW)
    assert await indexes.for_cop("19:a@thread.tacv2", NOW) is not a  # let go for b's, so built again


async def test_a_cop_index_counts_only_what_it_does_not_share_with_the_programme_index(store: CountingStore) -> None:
    indexes = FaqIndexes(store, HistogramEncoder(), clock=Ticks())
    await indexes.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    own = await indexes.for_cop(COP, NOW)
    programme = await indexes.for_cop(None, NOW)
    whole = index_bytes(programme)
    assert programme._vectors is not None
    assert whole > programme._vectors.phrasings[0].nbytes  # the vectors' data counts, not only the array's header
    alone = index_bytes(own, programme)
    assert 0 < alone < whole / 2  # the programme's vectors, typo lookups and entries are not counted again
    assert indexes.held_bytes == alone
    assert index_bytes(own) > whole  # without the programme's index to discount, everything it reaches counts


async def test_a_burst_of_questions_on_a_cold_index_builds_it_once(
    store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[int] = []
    build = FaqIndex.build

    def counted(*args: object, **kwargs: object) -> FaqIndex:
        builds.append(1)
        return build(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ranker.FaqIndex, "build", staticmethod(counted))
    indexes = FaqIndexes(store, clock=Ticks())
    await indexes.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    read = indexes.repo.revision
    jitter = random.Random(5)

    async def slow_revision(scope: str) -> str:
        # storage answers in 0-40 ms, so questions come back from their reads before, during and just after a
        # build (CI once saw a third build: a read that ended while a build ran resumed its question after the
        # build had ended but before the index was cached, so the index is now cached inside the build)
        await asyncio.sleep(jitter.random() * 0.04)
        return await read(scope)  # last, so some reads finish (on the store's thread) while a build runs

    monkeypatch.setattr(indexes.repo, "revision", slow_revision)
    cops = [COP, None, "19:no-entries@thread.tacv2"]
    got = await asyncio.gather(*(indexes.for_cop(cops[n % 3], NOW) for n in range(60)))
    assert len(builds) == 2  # the CoP's own index and the programme's, which the CoP without entries shares
    assert len({id(index) for index in got}) == 2
    assert all(has_entry(index, QUESTION) for index in got[0::3])


async def test_a_cancelled_question_leaves_the_build_to_the_others_and_a_failed_build_is_tried_again(
    store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    indexes = FaqIndexes(store, clock=Ticks())
    await indexes.ensure_programme(NOW)
    first = asyncio.ensure_future(indexes.for_cop(None, NOW))
    second = asyncio.ensure_future(indexes.for_cop(None, NOW))
    await asyncio.sleep(0)
    first.cancel()
    assert has_entry(await second, "What is a Community of Practice?")
    assert first.cancelled()

    def broken(*args: object, **kwargs: object) -> FaqIndex:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ranker.FaqIndex, "build", staticmethod(broken))
    await indexes.repo.add(COP, [Draft(QUESTION, "In the Files tab.")], "lead", NOW)
    results = await asyncio.gather(*(indexes.for_cop(COP, NOW) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    monkeypatch.undo()
    assert has_entry(await indexes.for_cop(COP, NOW), QUESTION)


async def test_closing_cancels_a_build_under_way(store: CountingStore, monkeypatch: pytest.MonkeyPatch) -> None:
    indexes = FaqIndexes(store, clock=Ticks())
    await indexes.ensure_programme(NOW)
    started, never = asyncio.Event(), asyncio.Event()

    async def slow_entries(scope: str) -> list[object]:
        started.set()
        await never.wait()  # storage that does not answer
        return []

    monkeypatch.setattr(indexes.repo, "entries", slow_entries)
    question = asyncio.ensure_future(indexes.for_cop(None, NOW))
    await started.wait()
    await indexes.close()
    with pytest.raises(asyncio.CancelledError):
        await question
    with pytest.raises(RuntimeError):  # the encoder's thread is gone
        await indexes.off_loop(len, "x")
