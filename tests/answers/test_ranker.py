from __future__ import annotations

import time

import pytest

from bench.ranking import bench_ranking
from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry, load_programme_faq
from bot.answers.lexical import MAX_QUERY_TOKENS
from bot.answers.ranker import DEFAULT_CALIBRATION, Abstain, Answer, FaqIndex, tokenize


@pytest.fixture(scope="module")
def programme() -> list[FaqEntry]:
    return load_programme_faq()[1]


@pytest.fixture(scope="module")
def index(programme: list[FaqEntry]) -> FaqIndex:
    return FaqIndex.build(programme)


def _cop_entry(entry_id: str, question: str, answer: str, *alternatives: str) -> FaqEntry:
    return FaqEntry(
        entry_id=entry_id,
        question=question,
        answer=answer,
        alternatives=alternatives,
        scope="cop-events",
        source="lead",
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Communities of Practice", ["cop"]),
        ("CoPs", ["cop"]),
        ("community of practise", ["cop"]),
        ("lunch & learn", ["lunchlearn"]),
        ("Lunch and Learns", ["lunchlearn"]),
        ("L&L", ["lunchlearn"]),
        ("lunch-and-learn", ["lunchlearn"]),
        ("the leaders are meeting", ["lead", "meet"]),
        ("How do I sign up?", ["join"]),
        ("What is the", []),
    ],
)
def test_tokenize_normalises_domain_phrases(text: str, expected: list[str]) -> None:
    assert tokenize(text) == expected


def test_every_entry_answers_its_own_question(index: FaqIndex, programme: list[FaqEntry]) -> None:
    for entry in programme:
        result = index.answer(entry.question)
        assert isinstance(result, Answer), entry.question
        assert result.entry.entry_id == entry.entry_id


def test_search_returns_k_matches_best_first(index: FaqIndex) -> None:
    matches = index.search("how often do core members meet", k=3)
    assert len(matches) == 3
    assert matches[0].entry.entry_id == "core-meetings"
    assert matches[0].score >= matches[1].score >= matches[2].score
    assert all(0.0 <= m.confidence <= 1.0 for m in matches)
    assert index.search("how often do core members meet", k=0) == []


def test_paraphrase_with_typo_is_answered(index: FaqIndex) -> None:
    result = index.answer("who is the sponser of the digital comms comunity?")
    assert isinstance(result, Answer)
    assert result.entry.entry_id == "cop-digital-communications"


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_question_abstains(index: FaqIndex, text: str) -> None:
    result = index.answer(text)
    assert isinstance(result, Abstain)
    assert result.reason == "empty"
    assert result.message
    assert result.best is None


def test_question_of_only_stop_words_abstains(index: FaqIndex) -> None:
    result = index.answer("what is it?")
    assert isinstance(result, Abstain)
    assert result.reason == "no_terms"


def test_off_topic_question_abstains(index: FaqIndex) -> None:
    result = index.answer("what's the wifi password")
    assert isinstance(result, Abstain)
    assert result.reason in {"no_match", "low_confidence"}
    assert index.search("what's the wifi password") == [] or result.reason == "low_confidence"


def test_low_confidence_keeps_candidates(index: FaqIndex) -> None:
    result = index.answer("how do I book annual leave")
    assert isinstance(result, Abstain)
    assert result.reason == "low_confidence"
    assert result.best is not None
    assert result.best.confidence < DEFAULT_CALIBRATION.min_confidence


def test_threshold_can_be_overridden(index: FaqIndex) -> None:
    assert isinstance(index.answer("how do I book annual leave", min_confidence=0.0), Answer)


def test_long_question_is_truncated_and_fast(index: FaqIndex) -> None:
    text = "How often do core members meet? " + "please tell me more about the weather in London " * 450
    assert len(text) > 20_000
    started = time.perf_counter()
    result = index.answer(text)
    elapsed = time.perf_counter() - started
    # Diluted by the weather (60 tokens are used), it is not answered with confidence, but no other entry wins.
    assert isinstance(result, Abstain)
    assert result.reason == "low_confidence"
    assert result.matches[0].entry.entry_id == "core-meetings"
    assert elapsed < 0.5
    assert len(index._lexical.query(text).terms) <= MAX_QUERY_TOKENS


def test_empty_index_abstains() -> None:
    index = FaqIndex.build([])
    assert len(index) == 0
    assert index.search("how do I join") == []
    result = index.answer("how do I join")
    assert isinstance(result, Abstain)
    assert result.reason == "no_match"


def test_cop_entry_wins_over_programme_entry(programme: list[FaqEntry]) -> None:
    cop = [
        _cop_entry(
            "core-meetings",
            "How often do core members meet?",
            "Our core group meets on the first Tuesday of every month in room 101.",
            "When are our core meetings?",
            "How frequently does the core group meet?",
        ),
        _cop_entry(
            "venue-list",
            "Where is the list of approved venues?",
            "In the Files tab of the General channel.",
            "Which venues can we use?",
            "Approved venue list",
        ),
    ]
    index = FaqIndex.build([*cop, *programme])
    assert len(index) == len(programme) + 2
    result = index.answer("how often do core members meet")
    assert isinstance(result, Answer)
    assert result.entry.scope == "cop-events"
    assert result.entry.entry_id == "core-meetings"
    # The programme entry with the same id is still there as the runner-up.
    assert any(m.entry.scope == PROGRAMME_SCOPE and m.entry.entry_id == "core-meetings" for m in result.others)
    # Programme questions the CoP does not cover still get the programme answer.
    other = index.answer("who is the head of communities of practice?")
    assert isinstance(other, Answer)
    assert other.entry.scope == PROGRAMME_SCOPE
    # And CoP-only knowledge is found. ("... for events" is unsure since the programme FAQ's phrasings in situational
    # voices, 2d77ff4: "event organisers" and "ask my CoP" phrasings come close behind on BM25 alone.)
    venue = index.answer("which venues are we allowed to use")
    assert isinstance(venue, Answer)
    assert venue.entry.entry_id == "venue-list"


def test_ranking_speed_guard() -> None:
    """A guard against gross slowness, not a benchmark (the benchmark calls ``bench_ranking`` itself, and bounds the
    p99 at 5 ms). Its bounds are several times the slowest machine's quiet figures (AVX2 EPYC, 2026-12-08: build
    4.8 s, p99 2.4 ms), so a run sharing its cores with another (5.7 s seen) does not fail it."""
    figures = bench_ranking(n_entries=2000, n_queries=200)
    print(
        f"\nranking, 2000 entries: build {figures['build_ms']:.0f} ms, "
        f"p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms"
    )
    assert figures["p99_ms"] <= 25.0
    assert figures["build_ms"] <= 20_000.0


def test_entry_with_only_function_words_is_indexed(programme: list[FaqEntry]) -> None:
    """A CoP entry whose question has no content words (all stop words) must not break the BM25 index."""
    odd = _cop_entry("odd", "What is it?", "It is what it is.", "Is it?", "What?")
    index = FaqIndex.build([odd, *programme])
    assert len(index) == len(programme) + 1
    result = index.answer("how often do core members meet")
    assert isinstance(result, Answer)
    assert result.entry.entry_id == "core-meetings"
    assert isinstance(FaqIndex.build([odd]).answer("how do I join"), Abstain)


def test_many_alternatives_do_not_inflate_an_entry(programme: list[FaqEntry]) -> None:
    """An entry scores its best phrasing: repeating a word across many alternatives does not beat a closer match."""
    spammy = _cop_entry(
        "spam",
        "Members members members?",
        "Members.",
        "Members of the CoP",
        "CoP members",
        "Members list",
        "Members and more members",
    )
    index = FaqIndex.build([spammy, *programme])
    top = index.search("how often do core members meet", 1)
    assert top[0].entry.entry_id == "core-meetings"
