"""The FAQ and query repositories on both backends (SQLite and Azurite): keys built from Teams ids, the RowKey
range and property filters, cross-partition privacy queries, batches and conditional writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.answers.faq import PROGRAMME_SCOPE, load_programme_faq
from bot.core.turn import Person
from bot.domain.faq import Draft, FaqRepo
from bot.domain.faq_indexes import FaqIndexes
from bot.domain.queries import FORMER_MEMBER, QueryClosed, QueryRepo
from storage.base import TableStore

NOW = datetime(2026, 11, 23, 10, tzinfo=UTC)
COP = "19:team-1@thread.tacv2"
OTHER = "19:team-2@thread.tacv2"
ASKER = Person("29:user-1", "aad-0001", "Alice Adams")
LEAD = Person("29:user-10", "aad-0010", "Lee Lead")
REFERENCE = {"conversation": {"id": "19:team-1@thread.tacv2;messageid=1:root", "conversationType": "channel"}}


async def test_query_lifecycle(store: TableStore) -> None:
    repo = QueryRepo(store)
    first = await repo.open(COP, ASKER, "Where is the #data/warehouse?", NOW, place_kind="channel",
                            reference=REFERENCE, thread_root_id="1:root/with?odd#chars", origin="channel")  # fmt: skip
    second = await repo.open(COP, ASKER, "Second?", NOW + timedelta(hours=1), place_kind="personal", reference={})
    await repo.open(OTHER, ASKER, "Elsewhere?", NOW, place_kind="personal", reference={})
    # a second post in the same thread returns the watched query instead of a duplicate
    again = await repo.open(
        COP, LEAD, "dup", NOW, place_kind="channel", reference={}, thread_root_id="1:root/with?odd#chars"
    )
    assert again.query_id == first.query_id
    assert [q.query_id for q in await repo.of_cop(COP)] == [first.query_id, second.query_id]
    assert (await repo.by_thread(COP, "1:root/with?odd#chars")) == first
    assert await repo.by_thread(OTHER, "1:root/with?odd#chars") is None
    assert await repo.get(OTHER, first.query_id) is None
    assert first.answer_reference()["conversation"]["id"] == "19:team-1@thread.tacv2;messageid=1:root/with?odd#chars"

    responded = await repo.record_first_response(first, LEAD, NOW + timedelta(minutes=5))
    assert responded.first_response_at == NOW + timedelta(minutes=5)
    closed = await repo.close(first, LEAD, NOW + timedelta(hours=2), "In the BI workspace")  # stale etag: retried
    assert closed.status == "answered"
    assert closed.first_response_at == NOW + timedelta(minutes=5)
    with pytest.raises(QueryClosed):
        await repo.close(first, LEAD, NOW + timedelta(hours=3))
    assert [q.query_id for q in await repo.of_cop(COP, open_only=True)] == [second.query_id]
    assert len(await repo.of_cop(COP, since=NOW + timedelta(minutes=30))) == 1

    assert len(await repo.involving(ASKER.aad_id)) == 3
    assert len(await repo.involving(LEAD.aad_id)) == 1
    assert await repo.erase_person(ASKER.aad_id, ASKER.name) == 3
    assert await repo.involving(ASKER.aad_id) == []
    assert {q.asker_name for q in await repo.of_cop(COP)} == {FORMER_MEMBER}


async def test_an_existing_query_id_is_this_question_or_a_collision(
    store: TableStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two questions opened in the same millisecond can draw the same id, and the store's own retry can re-send an
    insert whose first answer was lost: the first draws another id, the second returns the row that landed."""
    ids = iter(
        [
            "1795000000000aaaaaaaaaaaa",
            "1795000000000aaaaaaaaaaaa",
            "1795000000000aaaaaaaaaaaa",
            "1795000000000bbbbbbbbbbbb",
        ]
    )
    monkeypatch.setattr("bot.domain.queries._new_id", lambda now: next(ids))
    repo = QueryRepo(store)
    cop = "19:collisions@thread.tacv2"  # Azurite is shared by the session: a partition of its own
    first = await repo.open(cop, ASKER, "Who leads the Data CoP?", NOW, place_kind="personal", reference={})
    resent = await repo.open(cop, ASKER, "Who leads the Data CoP?", NOW, place_kind="personal", reference={})
    assert resent.query_id == first.query_id == "1795000000000aaaaaaaaaaaa"
    other = await repo.open(cop, LEAD, "Is there a lunch and learn?", NOW, place_kind="personal", reference={})
    assert other.query_id == "1795000000000bbbbbbbbbbbb"
    assert [(q.asker_aad, q.text) for q in await repo.of_cop(cop)] == [
        (ASKER.aad_id, "Who leads the Data CoP?"),
        (LEAD.aad_id, "Is there a lunch and learn?"),
    ]


async def test_faq_repo(store: TableStore) -> None:
    repo = FaqRepo(store)
    version, entries = load_programme_faq()
    assert await repo.ensure_programme(NOW) == version
    assert len(await repo.entries(PROGRAMME_SCOPE)) == len(entries)
    before = await repo.revision(COP)
    added = await repo.add(COP, [Draft(f"Question {i}?", f"Answer {i}.", ("alt",)) for i in range(120)], "csv", NOW)
    assert [e.entry_id for e in added[:2]] == ["f1", "f2"]
    assert added[-1].entry_id == "f120"
    assert await repo.revision(COP) != before
    stored = await repo.entries(COP)
    assert [e.entry_id for e in stored][:3] == ["f1", "f2", "f3"]
    assert stored[9].entry_id == "f10"  # numeric order, not string order
    removed = await repo.remove(COP, "f2", NOW)
    assert removed is not None
    assert removed.question == "Question 1?"
    assert await repo.remove(COP, "f2", NOW) is None
    assert await repo.count(COP) == 119
    assert await repo.entries(OTHER) == []


async def test_index_cache_follows_changes_made_elsewhere(store: TableStore) -> None:
    mine, theirs = FaqIndexes(store), FaqIndexes(store)  # two app instances on one store
    first = await mine.for_cop(COP, NOW)
    assert await mine.for_cop(COP, NOW) is first
    await theirs.for_cop(COP, NOW)
    await FaqRepo(store).add(COP, [Draft("Where do the minutes live?", "In the Files tab.")], "lead", NOW)
    rebuilt = await mine.for_cop(COP, NOW)
    assert rebuilt is not first
    assert len(rebuilt) == len(first) + 1
