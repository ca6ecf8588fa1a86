"""BM25 over term counts (bot/answers/bm25.py): Lucene's formula, and an extended index that scores exactly as a
new index of all its documents while sharing the smaller one's postings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.answers.bm25 import Bm25
from bot.answers.calibration import DEFAULT_CALIBRATION
from bot.answers.faq import FaqEntry
from bot.answers.lexical import LexicalIndex

K1, B = 1.2, 0.75
DOCS = [["core", "member", "join"], ["wider", "member"], ["lead", "lead", "role", "member"], []]


def lucene(term: str, doc: list[str], docs: list[list[str]]) -> float:
    """BM25 as Lucene defines it, written out: an empty document counts as one placeholder word."""
    lengths = [len(d) or 1 for d in docs]
    df = sum(term in d for d in docs)
    idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
    tf = doc.count(term)
    return idf * tf / (tf + K1 * (1 - B + B * (len(doc) or 1) / (sum(lengths) / len(lengths))))


def test_each_document_scores_lucenes_bm25_summed_over_the_terms() -> None:
    index = Bm25(DOCS, K1, B)
    scores = index.scores(["member", "lead"])
    assert scores.dtype == np.float32
    expected = [lucene("member", d, DOCS) + lucene("lead", d, DOCS) for d in DOCS]
    assert scores.tolist() == pytest.approx(expected, rel=1e-6)
    assert scores[2] > scores[0] > 0  # "lead" twice in a short document
    assert scores[3] == 0.0


def test_weak_terms_count_their_weight_and_unknown_or_empty_terms_nothing() -> None:
    index = Bm25(DOCS, K1, B)
    strong = index.scores(["join"])
    weak = index.scores([], weak=["join"], weak_weight=0.5)
    assert weak.tolist() == pytest.approx((0.5 * strong).tolist())
    assert index.scores(["nowhere", ""]).tolist() == [0.0] * len(DOCS)
    assert "member" in index
    assert "nowhere" not in index
    assert len(index) == len(DOCS)


def test_an_extended_index_shares_the_smaller_ones_postings() -> None:
    base = Bm25(DOCS, K1, B)
    larger = base.extend([["core", "lab"]])
    assert larger._parts[0] is base._parts[0]  # not copied
    assert len(larger._parts[-1].docs) == 2  # only the new document's terms
    assert len(larger) == len(DOCS) + 1
    assert "lab" in larger
    assert "lab" not in base
    assert base.scores(["core"]).tolist() == Bm25(DOCS, K1, B).scores(["core"]).tolist()  # the base is unchanged


_terms = st.sampled_from(["core", "wider", "member", "lead", "role", "join", "lab", "room", "digest", "event"])
_docs = st.lists(st.lists(_terms, max_size=6), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    first=_docs,
    second=st.lists(st.lists(_terms, max_size=6), max_size=4),
    query=st.lists(_terms, max_size=5),
    weak=st.lists(_terms, max_size=3),
    k1=st.floats(0.5, 2.0),
    b=st.floats(0.0, 1.0),
)
def test_an_extended_index_scores_exactly_as_a_new_index_of_all_the_documents(
    first: list[list[str]],
    second: list[list[str]],
    query: list[str],
    weak: list[str],
    k1: float,
    b: float,
) -> None:
    extended = Bm25(first, k1, b).extend(second).scores(query, weak, 0.3)
    fresh = Bm25(first + second, k1, b).scores(query, weak, 0.3)
    assert np.array_equal(extended, fresh)  # to the last bit: the same arithmetic in the same order


def _entry(entry_id: str, question: str, answer: str, scope: str = "programme") -> FaqEntry:
    return FaqEntry(entry_id, question, answer, scope=scope)


PROGRAMME = [
    _entry("join", "How do I join a CoP as a core member?", "Use the Join card and pick core."),
    _entry("leave", "How do I leave a community of practice?", "Open the CoP's card and choose Leave."),
    _entry("lead", "What does a CoP lead do?", "Leads run the community's events and answer questions."),
]
OWN = [_entry("lab", "How do I book the imaging lab?", "Email the lab manager.", scope="19:cop@thread.tacv2")]


def _phrasings(entries: list[FaqEntry]) -> list[tuple[str, ...]]:
    return [e.phrasings for e in entries]


@pytest.mark.parametrize(
    "question", ["How do I book the imaging lab?", "join as core member", "what do leads do", "comunity leave"]
)
def test_a_cop_lexical_index_over_the_programmes_ranks_as_one_built_from_scratch(question: str) -> None:
    programme = LexicalIndex(PROGRAMME, _phrasings(PROGRAMME), DEFAULT_CALIBRATION)
    entries = PROGRAMME + OWN
    shared = LexicalIndex(entries, _phrasings(entries), DEFAULT_CALIBRATION, programme)
    alone = LexicalIndex(entries, _phrasings(entries), DEFAULT_CALIBRATION)
    assert shared._phrasing_terms[0] is programme._phrasing_terms[0]  # the programme's analysis is not repeated
    query, query_alone = shared.query(question), alone.query(question)
    assert query == query_alone
    scores, bigrams = shared.scores(query)
    scores_alone, bigrams_alone = alone.scores(query_alone)
    assert np.array_equal(scores, scores_alone)
    assert np.array_equal(bigrams, bigrams_alone)
    for doc in range(len(entries)):
        assert shared.features(query, doc, 0.5) == alone.features(query_alone, doc, 0.5)
    assert shared.starts.tolist() == alone.starts.tolist()
    assert shared.counts.tolist() == alone.counts.tolist()


def test_a_base_that_does_not_index_the_first_entries_alike_is_not_shared() -> None:
    other = LexicalIndex(PROGRAMME[:2], [("How do I join?",), PROGRAMME[1].phrasings], DEFAULT_CALIBRATION)
    entries = PROGRAMME + OWN
    index = LexicalIndex(entries, _phrasings(entries), DEFAULT_CALIBRATION, other)
    alone = LexicalIndex(entries, _phrasings(entries), DEFAULT_CALIBRATION)
    assert index._phrasing_terms[0] is not other._phrasing_terms[0]
    query = index.query("join as a core member")
    assert np.array_equal(index.scores(query)[0], alone.scores(query)[0])
