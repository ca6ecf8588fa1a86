"""End to end with the production ranker: sentence vectors (the real model) fused with BM25.

A paraphrase that shares too few words with the FAQ for BM25 alone is answered once the vectors are on; a
question the FAQ does not answer still opens a query instead of a guess; a damaged model falls back to BM25."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.answers.encoder import LazyEncoder
from bot.answers.ranker import FloatArray
from bot.domain.queries import QueryRepo
from bot.features.faq import indexes
from storage.sqlite import SqliteStore
from tests.answers.model import encoder_for_tests
from tests.features.faq_setup import ASKER, TEAM, make_cop
from tests.kit.activities import user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot

PARAPHRASE = "are cops only for certain grades or is anyone welcome"
# a phrase only the who-can-join entry's answer has
WHO_CAN_JOIN = "CoPs deliberately cross line management structures"
UNANSWERABLE = "where do I claim travel expenses for a conference in Leeds?"


@pytest.fixture
async def semantic_bot(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    async with running_bot(sqlite_store, connector=connector, encoder=encoder_for_tests()) as running:
        yield running


async def test_paraphrase_is_answered_with_vectors(semantic_bot: BotUnderTest) -> None:
    posted = await semantic_bot.say(ASKER, f"ask {PARAPHRASE}")
    assert "Did this help?" in posted.everything
    assert "Source: Programme FAQ" in posted.everything
    assert WHO_CAN_JOIN in posted.everything
    index = await indexes(semantic_bot.services).for_cop(None, semantic_bot.services.clock.now())
    assert index.semantic


async def test_the_same_paraphrase_is_not_answered_by_bm25_alone(bot: BotUnderTest) -> None:
    posted = await bot.say(ASKER, f"ask {PARAPHRASE}")
    assert "Did this help?" not in posted.everything
    assert WHO_CAN_JOIN not in posted.everything


async def test_unanswerable_question_opens_a_query_not_a_guess(semantic_bot: BotUnderTest) -> None:
    await make_cop(semantic_bot)
    posted = await semantic_bot.say_in(ASKER, TEAM, f"ask {UNANSWERABLE}")
    assert "Did this help?" not in posted.everything
    [query] = await QueryRepo(semantic_bot.services.store).of_cop(TEAM.id)
    assert query.text == UNANSWERABLE


class CountingEncoder:
    def __init__(self) -> None:
        self.inner = encoder_for_tests()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


async def test_questions_asked_together_are_encoded_together_once_each(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    """Twelve people ask at once: each gets the answer to their own question, each question is encoded once (early,
    while storage is read), and the ones that queued behind the first were encoded in shared batches."""
    encoder = CountingEncoder()
    async with running_bot(sqlite_store, connector=connector, encoder=encoder) as bot:
        await bot.say(ASKER, "ask what is a CoP?")  # builds the index (encodes the FAQ)
        questions = [f"{PARAPHRASE} ({n})" for n in range(6)] + [f"how do I join a CoP? ({n})" for n in range(6)]
        people = [user(300 + n) for n in range(len(questions))]
        await asyncio.gather(*(bot.say(who, f"ask {q}") for who, q in zip(people, questions, strict=True)))
        for who, question in zip(people, questions, strict=True):
            [reply] = [c.everything for c in bot.connector.calls if c.conversation_id == f"a:personal-{who.id}"]
            assert f"You asked: {question}" in reply
            assert "Did this help?" in reply, question
            assert (WHO_CAN_JOIN in reply) == question.startswith(PARAPHRASE), question
        assert sorted(t for t in encoder.texts if t in questions) == sorted(questions)
        assert max(indexes(bot.services).batch_sizes) > 1


async def test_damaged_model_falls_back_to_bm25(
    sqlite_store: SqliteStore, connector: FakeConnector, tmp_path: Path
) -> None:
    broken = tmp_path / "model"
    broken.mkdir()
    (broken / "config.json").write_text("{}", encoding="utf-8")
    async with running_bot(sqlite_store, connector=connector, encoder=LazyEncoder(broken)) as bot:
        posted = await bot.say(ASKER, "ask how do I join a CoP?")
        assert "Did this help?" in posted.everything  # answered lexically, no apology, no 500
        index = await indexes(bot.services).for_cop(None, bot.services.clock.now())
        assert not index.semantic
