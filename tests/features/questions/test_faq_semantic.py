"""End to end with the production ranker: sentence vectors (the real model) fused with BM25.

A paraphrase is answered with the vectors on; a question BM25 alone ranks by one shared word ("leave", the
leave-a-CoP entry) is not guessed, by the vectors or by BM25's own threshold; a question the FAQ does not answer
still opens a query instead of a guess; a question naming a CoP gets the general entry unless it is about the CoP
itself; a damaged model falls back to BM25."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from bot.answers.encoder import LazyEncoder
from bot.answers.ranker import DEFAULT_CALIBRATION, FloatArray
from bot.domain.queries import QueryRepo
from bot.features.faq import indexes
from cards.faq import RELATED_INTRO
from storage.sqlite import SqliteStore
from tests.answers.model import cached_encoder_for_tests, encoder_for_tests
from tests.features.questions.kit import ASKER, TEAM, TEAM_B, make_cop
from tests.kit.activities import user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot

PARAPHRASE = "are there lunchtime talks I can go to"
# a phrase only the lunch-and-learn entry's answer has
LUNCH_AND_LEARN = "around 200 Lunch and Learns since 2017"
# BM25 alone answers this with "How do I leave a CoP?"
LEXICAL_TRAP = "how do I leave a Teams call without ending it for the others"
HOW_TO_LEAVE = "You can rejoin any time with"  # from the how-to-leave entry's answer
CORE_VS_WIDER = "What is the difference between core and wider membership?"
# Both under the confidence threshold (0.67) with a fitting entry first; the wordings that did this before and are
# answered now are in docs/faq-answers.md.
UNSURE = "wider or core hours?"  # the core-vs-wider entry fits, not surely (0.51)
# a CoP's own business (the time it takes), not surely (0.54): its leads follow it up, so the asker picks the CoP
UNSURE_COP_BUSINESS = "time"
TIME_COMMITMENT = "How much time does being in a CoP take?"
UNANSWERABLE = "where do I claim travel expenses for a conference in Leeds?"


@pytest.fixture
async def semantic_bot(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    async with running_bot(sqlite_store, connector=connector, encoder=cached_encoder_for_tests()) as running:
        yield running


async def test_paraphrase_is_answered_with_vectors(semantic_bot: BotUnderTest) -> None:
    posted = await semantic_bot.say(ASKER, f"ask {PARAPHRASE}")
    assert "Did this help?" in posted.everything
    assert "Source: Programme FAQ" in posted.everything
    assert LUNCH_AND_LEARN in posted.everything
    index = await indexes(semantic_bot.services).for_cop(None, semantic_bot.services.clock.now())
    assert index.semantic


async def test_bm25_alone_ranks_by_a_shared_word_but_its_threshold_holds_it_back(bot: BotUnderTest) -> None:
    index = await indexes(bot.services).for_cop(None, bot.services.clock.now())
    assert not index.semantic
    [best] = index.search(LEXICAL_TRAP, 1)
    assert best.entry.entry_id == "how-to-leave"  # "leave" is the only content word the FAQ knows
    assert best.confidence < DEFAULT_CALIBRATION.min_confidence
    posted = await bot.say(ASKER, f"ask {LEXICAL_TRAP}")
    assert "Did this help?" not in posted.everything
    assert HOW_TO_LEAVE not in posted.everything


async def test_the_vectors_do_not_guess_on_a_shared_word(semantic_bot: BotUnderTest) -> None:
    posted = await semantic_bot.say(ASKER, f"ask {LEXICAL_TRAP}")
    assert "Did this help?" not in posted.everything
    assert HOW_TO_LEAVE not in posted.everything


async def test_unanswerable_question_opens_a_query_not_a_guess(semantic_bot: BotUnderTest) -> None:
    await make_cop(semantic_bot)
    posted = await semantic_bot.say_in(ASKER, TEAM, f"ask {UNANSWERABLE}")
    assert "Did this help?" not in posted.everything
    [query] = await QueryRepo(semantic_bot.services.store).of_cop(TEAM.id)
    assert query.text == UNANSWERABLE


async def test_an_unsure_question_is_passed_on_with_the_entries_that_might_help(semantic_bot: BotUnderTest) -> None:
    await make_cop(semantic_bot)
    question = UNSURE  # an entry fits, not surely
    posted = await semantic_bot.say_in(ASKER, TEAM, f"ask {question}")
    assert "Did this help?" not in posted.everything
    card = posted.card
    assert card is not None
    assert "I've passed it to the leads of **Data & Insight**" in json.dumps(card)
    assert RELATED_INTRO in json.dumps(card)
    offered = [a for a in card["actions"] if a["type"] == "Action.ShowCard"]
    assert offered[0]["title"] == CORE_VS_WIDER
    assert "Source: Programme FAQ" in json.dumps(offered[0]["card"])
    [query] = await QueryRepo(semantic_bot.services.store).of_cop(TEAM.id)
    assert query.text == question


async def test_asking_which_cop_also_offers_the_entries_that_might_help(semantic_bot: BotUnderTest) -> None:
    await make_cop(semantic_bot, TEAM)
    await make_cop(semantic_bot, TEAM_B)  # the asker is in both, so in personal chat the bot asks which CoP
    question = UNSURE_COP_BUSINESS
    posted = await semantic_bot.say(ASKER, question)
    card = posted.card
    assert card is not None
    assert "Which CoP should I ask?" in json.dumps(card)
    assert RELATED_INTRO in json.dumps(card)
    offered = [a["title"] for a in card["actions"] if a["type"] == "Action.ShowCard"]
    assert offered[0] == TIME_COMMITMENT
    picked = await semantic_bot.press(ASKER, card, "Ask this CoP", {"target_cop": TEAM_B.id})
    assert "Passed to the leads" in json.dumps(picked.body)
    [query] = await QueryRepo(semantic_bot.services.store).of_cop(TEAM_B.id)
    assert query.text == question


async def test_an_unsure_membership_question_with_no_cop_in_view_goes_to_the_programme_team(
    semantic_bot: BotUnderTest,
) -> None:
    await make_cop(semantic_bot, TEAM)
    await make_cop(semantic_bot, TEAM_B)  # the asker is in both: no one CoP is in view
    posted = await semantic_bot.say(ASKER, UNSURE)
    assert "Which CoP should I ask?" not in posted.everything
    assert "the CoP programme team" in posted.everything
    assert [q.text for q in await QueryRepo(semantic_bot.services.store).of_cop("programme")] == [UNSURE]


async def test_nothing_is_offered_when_nothing_comes_close(semantic_bot: BotUnderTest) -> None:
    await make_cop(semantic_bot)
    posted = await semantic_bot.say_in(ASKER, TEAM, f"ask {UNANSWERABLE}")
    assert RELATED_INTRO not in posted.everything
    assert "Action.ShowCard" not in posted.everything


class CountingEncoder:
    def __init__(self) -> None:
        self.inner = cached_encoder_for_tests()
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
        # six different texts of each
        greetings = ("", "hi, ", "hello, ", "hey, ", "quick one: ", "sorry, ")
        questions = [f"{g}{PARAPHRASE}" for g in greetings] + [f"{g}how do I join a CoP?" for g in greetings]
        people = [user(300 + n) for n in range(len(questions))]
        await asyncio.gather(*(bot.say(who, f"ask {q}") for who, q in zip(people, questions, strict=True)))
        for who, question in zip(people, questions, strict=True):
            [reply] = [c.everything for c in bot.connector.calls if c.conversation_id == f"a:personal-{who.id}"]
            assert f"You asked: {question}" in reply
            assert "Did this help?" in reply, question
            assert (LUNCH_AND_LEARN in reply) == question.endswith(PARAPHRASE), question
        assert sorted(t for t in encoder.texts if t in questions) == sorted(questions)
        assert max(indexes(bot.services).batch_sizes) > 1


async def test_a_question_naming_a_cop_is_answered_by_the_general_entry_encoded_off_the_loop(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    encoder = CountingEncoder()
    async with running_bot(sqlite_store, connector=connector, encoder=encoder) as bot:
        posted = await bot.say(ASKER, "ask what do the leads of the Digital Communications CoP do?")
        assert "2 to 4 Leads" in posted.everything  # leads-role, not "Is there a CoP for digital communications?"
        assert "Did this help?" in posted.everything
        assert "what do the leads of the CoP do?" in encoder.texts  # the second ranking's text, via the worker thread
        # who they are is not the FAQ's: the CoP is not installed here, and the reply says so
        posted = await bot.say(ASKER, "ask who are the leads of the Digital Communications CoP?")
        assert "**Digital Communications** is not on CoP Bot yet" in posted.everything
        posted = await bot.say(ASKER, "ask what is the Events Management CoP?")
        assert "Collette Lux" in posted.everything  # about the CoP itself: its directory entry


async def test_stopping_the_app_stops_the_encoder_thread(sqlite_store: SqliteStore, connector: FakeConnector) -> None:
    async with running_bot(sqlite_store, connector=connector, encoder=encoder_for_tests()) as bot:
        await bot.say(ASKER, "ask how do I join a CoP?")
        workers = [t for t in threading.enumerate() if t.name.startswith("faq-encoder")]
        assert workers
    for _ in range(100):
        if not any(t.is_alive() for t in workers):
            break
        await asyncio.sleep(0.02)
    assert not any(t.is_alive() for t in workers)


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
