"""The survey's one-batch answer on both backends (SQLite and Azurite): the marker and the tally move together,
a duplicate fails on the marker and changes nothing, concurrent answers all count."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.survey import STATEMENT_KEYS, AlreadyAnswered, Survey, SurveyClosed, SurveyRepo, marker
from storage.base import TableStore

KEY = "test-signing-key-0123456789abcdef0123456789"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


async def open_survey(store: TableStore, cop: str) -> Survey:
    return await SurveyRepo(store).open(
        Survey(f"r-{cop}", "r", cop, "CoP", NOW, NOW + timedelta(days=14), NOW + timedelta(days=11))
    )


async def test_answers_are_atomic_unique_and_concurrent(store: TableStore) -> None:
    repo = SurveyRepo(store)
    cop = f"19:{id(store)}@thread.tacv2"
    survey = await open_survey(store, cop)
    answers = dict.fromkeys(STATEMENT_KEYS, 4)
    await asyncio.gather(*(repo.answer(KEY, survey, f"aad-{i}", answers, NOW) for i in range(8)))
    tally = await repo.tally(survey.survey_id)
    assert tally.responses == 8
    assert tally.counts["belonging"] == [0, 0, 0, 8, 0]
    with pytest.raises(AlreadyAnswered):
        await repo.answer(KEY, survey, "aad-3", dict.fromkeys(STATEMENT_KEYS, 1), NOW)
    assert (await repo.tally(survey.survey_id)).responses == 8
    assert marker(KEY, survey.survey_id, "aad-3") in await repo.markers(survey.survey_id)
    with pytest.raises(SurveyClosed):
        await repo.answer(KEY, survey, "aad-99", answers, NOW + timedelta(days=14))
    assert await repo.forget_markers(survey.survey_id) == 8
    assert await repo.markers(survey.survey_id) == set()
    assert (await repo.tally(survey.survey_id)).responses == 8
