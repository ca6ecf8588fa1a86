"""The survey's one-batch answer on both backends (SQLite and Azurite): the marker, the round's tally, each of the
person's CoP tallies and the comment page move together; a duplicate fails on the marker and changes nothing;
concurrent answers all count; surveys opened before rounds are still answered in their own place."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.survey import (
    LEGACY,
    STATEMENT_KEYS,
    AlreadyAnswered,
    Survey,
    SurveyClosed,
    SurveyRepo,
    marker,
)
from storage.base import TableStore

KEY = "test-signing-key-0123456789abcdef0123456789"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def open_survey(store: TableStore, round_id: str, cop: str, layout: int = 2) -> Survey:
    return await SurveyRepo(store).open(
        Survey(
            f"{round_id}-{cop[3:9]}",
            round_id,
            cop,
            "CoP",
            NOW,
            NOW + timedelta(days=14),
            NOW + timedelta(days=11),
            layout=layout,
        )
    )


async def test_answers_are_atomic_unique_and_concurrent(store: TableStore) -> None:
    repo = SurveyRepo(store)
    round_id = f"r{id(store)}"
    a = await open_survey(store, round_id, "19:aaaaaa@thread.tacv2")
    b = await open_survey(store, round_id, "19:bbbbbb@thread.tacv2")
    answers = dict.fromkeys(STATEMENT_KEYS, 4)
    # eight people: the even ones belong to both CoPs, the odd ones to A only
    await asyncio.gather(
        *(
            repo.answer(KEY, [a, b] if i % 2 == 0 else [a], f"aad-{i}", answers, NOW, {"skills": f"note {i}"})
            for i in range(8)
        )
    )
    people, per = await repo.round_tallies([a, b])
    assert people.responses == 8
    assert per[a.survey_id].responses == 8
    assert per[b.survey_id].responses == 4
    assert people.counts["belonging"] == [0, 0, 0, 8, 0]
    assert sorted(t for _, t in await repo.comments(a)) == sorted(f"note {i}" for i in range(8))
    with pytest.raises(AlreadyAnswered):
        await repo.answer(KEY, [b], "aad-3", dict.fromkeys(STATEMENT_KEYS, 1), NOW, {"team": "twice"})
    people, per = await repo.round_tallies([a, b])
    assert (people.responses, per[a.survey_id].responses, per[b.survey_id].responses) == (8, 8, 4)
    assert len(await repo.comments(a)) == 8
    assert marker(KEY, a, "aad-3") == marker(KEY, b, "aad-3")  # one marker per round, not per CoP
    assert marker(KEY, a, "aad-3") in await repo.markers(a)
    with pytest.raises(SurveyClosed):
        await repo.answer(KEY, [a], "aad-99", answers, NOW + timedelta(days=14))
    assert await repo.forget_markers(a) == 8
    assert await repo.markers(b) == set()
    assert (await repo.round_tallies([a, b]))[0].responses == 8


async def test_a_survey_opened_before_rounds_is_answered_in_its_own_place(store: TableStore) -> None:
    repo = SurveyRepo(store)
    old = await open_survey(store, f"r{id(store)}old", "19:cccccc@thread.tacv2", layout=LEGACY)
    answers = dict.fromkeys(STATEMENT_KEYS, 5)
    await repo.answer(KEY, [old], "aad-1", answers, NOW)
    with pytest.raises(AlreadyAnswered):
        await repo.answer(KEY, [old], "aad-1", answers, NOW)
    assert (await repo.tally(old.survey_id)).responses == 1
    people, per = await repo.round_tallies([old])
    assert people.responses == per[old.survey_id].responses == 1
    # the marker is the one the bot wrote before rounds, so a marker stored then still refuses a second answer
    assert await repo.markers(old) == {marker(KEY, old, "aad-1")}


async def test_a_round_remembers_thousands_of_combinations_of_cops(store: TableStore) -> None:
    """Which CoPs people share is kept as a set of combinations; with many CoPs it outgrows one property."""
    repo = SurveyRepo(store)
    round_id = f"r{id(store)}cells"
    surveys = [await open_survey(store, round_id, f"19:{i:06d}@thread.tacv2") for i in range(30)]
    ids = [s.survey_id for s in surveys]
    cells = [frozenset({ids[a], ids[b], ids[c]}) for a in range(30) for b in range(a + 1, 30) for c in range(b + 1, 30)]
    cells = cells[:2000]  # about 110,000 characters of JSON
    await repo.add_cells(surveys[0], cells)
    await repo.answer(KEY, [surveys[0], surveys[1]], "aad-1", dict.fromkeys(STATEMENT_KEYS, 4), NOW)
    _, per, found = await repo.round_state(surveys)
    assert set(found) == {*cells, frozenset({ids[0], ids[1]})}
    assert per[ids[0]].responses == per[ids[1]].responses == 1
