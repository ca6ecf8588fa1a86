"""The labelled staff questions as index examples (bot/answers/examples.py): what joins which index, and that an
out-of-scope example does not silence a CoP's own entry about the same thing."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence

import pytest

from bot.answers.examples import Examples, labelled_questions, load_examples
from bot.answers.faq import FaqEntry, load_programme_faq
from bot.answers.ranker import DEFAULT_CALIBRATION, Answer, FaqIndex, FloatArray, SemanticFeatures, index_texts
from tests.answers.model import HistogramEncoder, cached_encoder_for_tests
from tools.answers.splits import CALIBRATION_FILE, SPLITS


class RecordingEncoder(HistogramEncoder):
    """:class:`HistogramEncoder` that records what it encodes."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.texts.extend(texts)
        return super().encode(texts)


COP_ENTRIES = [
    FaqEntry(
        "next-meeting",
        "When is our next meeting?",
        "We meet on the first Tuesday of each month in Room 4.02.",
        ("Where do we meet?", "What time are meetings?"),
        scope="cop-1",
    ),
    FaqEntry(
        "parking",
        "Is there parking for the away day?",
        "Yes: the staff car park on Gower Street is open to members on the day.",
        ("can I park at the away day",),
        scope="cop-1",
    ),
    FaqEntry(
        "slides",
        "Where are the slides from the last session?",
        "In the Files tab of the General channel.",
        ("last session slides",),
        scope="cop-1",
    ),
]


def test_the_shipped_examples_are_the_calibration_questions_and_split_by_split() -> None:
    questions = labelled_questions()
    assert questions == json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["questions"]
    examples = load_examples()
    answered = [q for q in questions if q["expected"]]
    assert sum(len(texts) for texts in examples.phrasings.values()) == len(answered)
    assert len(examples.out_of_scope) == len(questions) - len(answered)
    ids = {e.entry_id for e in load_programme_faq()[1]}
    assert set(examples.phrasings) <= ids
    for split in SPLITS:
        without = load_examples(without_split=split)
        own = {q["question"] for q in questions if q["split"] == split}
        assert own.isdisjoint(without.texts)
        assert len(without.texts) == len(questions) - len(own)


def test_examples_join_programme_entries_only_and_only_the_vector_index() -> None:
    programme = FaqEntry("how-to-join", "How do I join?", "Use the join card.", ("joining a CoP",))
    same_id_in_a_cop = FaqEntry("how-to-join", "How do I join our reading group?", "Ask Sam.", scope="cop-1")
    examples = Examples({"how-to-join": ("can quokkas sign up",), "unknown-id": ("ignored",)}, ("when is payday",))
    assert index_texts([programme, same_id_in_a_cop], examples) == [
        "How do I join?",
        "joining a CoP",
        "can quokkas sign up",
        "How do I join our reading group?",
        "Use the join card.",
        "Ask Sam.",
        "when is payday",
    ]
    encoder = RecordingEncoder()
    index = FaqIndex.build([programme, same_id_in_a_cop], encoder=encoder, examples=examples)
    assert encoder.texts == index_texts([programme, same_id_in_a_cop], examples)
    match, features = index.explain("can quokkas sign up", 1)[0]
    assert match.entry == programme  # the entry as written: examples are not shown to anyone
    assert isinstance(features, SemanticFeatures)
    assert features.out_of_scope < 0  # the question is its own example's twin, far from "when is payday"
    assert index.search("quokkas")  # a word only the example has
    # without an encoder (the lexical fallback), examples are not indexed
    assert FaqIndex.build([programme], examples=examples).search("quokkas") == []


def test_an_index_without_out_of_scope_examples_says_so_in_its_features() -> None:
    entry = FaqEntry("how-to-join", "How do I join?", "Use the join card.")
    index = FaqIndex.build([entry], encoder=RecordingEncoder(), examples=Examples())
    _, features = index.explain("How do I join?", 1)[0]
    assert isinstance(features, SemanticFeatures)
    assert features.out_of_scope == -2.0


@pytest.mark.parametrize(
    ("question", "entry_id"),
    [
        ("when's our next meeting", "next-meeting"),
        ("can I park my car at the away day?", "parking"),
        ("where can I find the slides from last week's session", "slides"),
    ],
)
def test_a_cops_own_entry_is_answered_though_out_of_scope_examples_ask_the_same(question: str, entry_id: str) -> None:
    """The out-of-scope examples include room bookings, parking and meeting dates (the programme FAQ does not know
    them); a CoP that adds its own entry for one gets its questions answered, and without it the bot abstains."""
    encoder = cached_encoder_for_tests()
    examples = load_examples()
    assert any("park" in text for text in examples.out_of_scope)
    programme = load_programme_faq()[1]
    programme_index = FaqIndex.build(programme, encoder=encoder, examples=examples)
    # as a whole index, and as production builds a CoP's: over the programme index, sharing its vectors
    for with_cop in (
        FaqIndex.build([*COP_ENTRIES, *programme], encoder=encoder, examples=examples),
        FaqIndex.build([*programme, *COP_ENTRIES], encoder=encoder, examples=examples, base=programme_index),
    ):
        result = with_cop.answer(question)
        assert isinstance(result, Answer), result
        assert result.entry.entry_id == entry_id
    if entry_id != "next-meeting":  # "our next meeting" is the programme's core-meetings entry, rightly
        assert not isinstance(programme_index.answer(question), Answer)


def test_a_cops_index_shares_the_programme_index_vectors_and_ranks_as_a_whole_build() -> None:
    """A CoP's index built over the programme's shares its vectors (~5 MB per CoP not copied) and uses its
    whitening; it ranks the CoP's and the programme's questions as an index built from scratch does."""
    encoder = cached_encoder_for_tests()
    examples = load_examples()
    programme = load_programme_faq()[1]
    programme_index = FaqIndex.build(programme, encoder=encoder, examples=examples)
    entries = [*programme, *COP_ENTRIES]
    shared = FaqIndex.build(entries, encoder=encoder, examples=examples, base=programme_index)
    whole = FaqIndex.build(entries, encoder=encoder, examples=examples)
    assert shared._vectors is not None
    assert programme_index._vectors is not None
    assert shared._vectors.phrasings[0] is programme_index._vectors.phrasings[0]
    assert whole._vectors is not None
    assert len(whole._vectors.phrasings) == 1
    questions = [
        "when's our next meeting",
        "can I park my car at the away day?",
        "last week's slides please",
        *(q["question"] for q in labelled_questions() if q["split"] == "holdout-18"),
    ]
    for question in questions:
        [(a, _fa)] = shared.explain(question, 1)
        [(b, _fb)] = whole.explain(question, 1)
        assert (a.entry.scope, a.entry.entry_id) == (b.entry.scope, b.entry.entry_id), question
        assert a.confidence == pytest.approx(b.confidence, abs=0.05), question
    # the typo lookups of the programme's words are shared too, and the CoP's own words are added to them
    assert shared._lexical._fuzzy[0] is programme_index._lexical._fuzzy[0]
    for typo in ("sponser", "comunity", "parkinng", "tuesdday", "apprasials"):
        assert shared._lexical._correct(typo) == whole._lexical._correct(typo), typo
    assert shared._lexical._correct("parkinng") == "parking"  # words only the CoP's entries have
    assert shared._lexical._correct("tuesdday") == "tuesday"
    assert programme_index._lexical._correct("parkinng") == "parkinng"
    # a base that is not the start of the entries is not shared (and the index is still right)
    other = FaqIndex.build(
        entries, encoder=encoder, examples=examples, base=FaqIndex.build(COP_ENTRIES, encoder=encoder)
    )
    assert other._vectors is not None
    assert len(other._vectors.phrasings) == 1
    assert other.search("can I park my car at the away day?", 1)[0].entry.entry_id == "parking"
    # the same entries again: the base's vectors as they are
    same = FaqIndex.build(programme, encoder=encoder, examples=examples, base=programme_index)
    assert same._vectors is programme_index._vectors


def test_the_neighbour_features_count_what_a_small_entry_can_have() -> None:
    """A CoP's entry with two phrasings owns both of the nearest ten at best: that counts as all of them, as 10 of 10
    would for an entry with 30; out-of-scope examples closer to the question than the entry's best phrasing count
    against it, those further away do not."""
    small = FaqEntry("parking", "Is there parking?", "Yes.", ("car park at the away day",), scope="cop-1")
    big = FaqEntry("how-to-join", "How do I join?", "Use the join card.", tuple(f"join way {n}" for n in range(30)))
    examples = Examples({}, ("is there parking at the main campus", "zzzz qqqq"))
    index = FaqIndex.build([small, big], encoder=RecordingEncoder(), examples=examples)
    [(match, features)] = index.explain("Is there parking?", 1)
    assert match.entry == small
    assert isinstance(features, SemanticFeatures)
    assert features.neighbours == 1.0
    assert features.closer_out_of_scope == 0.0  # its own question is closer than any out-of-scope example
    [(_, features)] = [
        pair for pair in index.explain("is there parking at the main campus", 2) if pair[0].entry == small
    ]
    assert isinstance(features, SemanticFeatures)
    assert features.closer_out_of_scope == 0.1  # one out-of-scope example (the question itself) is closer


def test_the_centroid_features_look_at_all_of_an_entrys_phrasings() -> None:
    """An entry's centroid is the mean of its phrasings' vectors: for an entry with one phrasing it is that phrasing
    (centroid cosine = best cosine); for one with many, a question equal to its one odd phrasing is as close to that
    phrasing as can be but further from the centroid. The margin is against the best other entry's centroid."""
    lone = FaqEntry("lone", "Is there parking?", "Yes.", scope="cop-1")
    spread = FaqEntry(
        "spread",
        "How do I join a community?",
        "Use the join card.",
        ("how can I join a community", "joining a community, how", "xyzzy qwv kjh"),
    )
    # without whitening, which would shrink the one direction the entry's phrasings vary in
    unwhitened = dataclasses.replace(DEFAULT_CALIBRATION, whitening_shrinkage=0.0)
    index = FaqIndex.build([lone, spread], unwhitened, encoder=RecordingEncoder(), examples=Examples())
    features = {match.entry.entry_id: f for match, f in index.explain("xyzzy qwv kjh", 2)}
    lone_features, spread_features = features["lone"], features["spread"]
    assert isinstance(lone_features, SemanticFeatures)
    assert isinstance(spread_features, SemanticFeatures)
    assert lone_features.centroid == pytest.approx(lone_features.similarity, abs=1e-5)
    assert spread_features.similarity == pytest.approx(1.0, abs=1e-5)  # the odd phrasing itself
    assert spread_features.centroid < 0.9  # ... but the entry's phrasings as a whole are elsewhere
    assert spread_features.centroid_margin == pytest.approx(spread_features.centroid - lone_features.centroid, abs=1e-6)
    assert lone_features.centroid_margin == pytest.approx(-spread_features.centroid_margin, abs=1e-6)
