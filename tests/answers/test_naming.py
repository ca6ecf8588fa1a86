"""Questions that name a CoP (bot/answers/naming.py): the rule's parts on their own, then with the real model: a
question about leads, leaving or meetings that names a CoP gets the general entry, one about the CoP itself
(whether it exists, what it is, its sponsor or status) keeps the CoP's directory entry."""

from __future__ import annotations

import pytest

from bot.answers.faq import FaqEntry, load_programme_faq
from bot.answers.naming import directory_names, is_general, without_name
from bot.answers.ranker import DEFAULT_CALIBRATION, FaqIndex
from tests.answers.model import encoder_for_tests

ENTRIES = load_programme_faq()[1]
BY_ID = {e.entry_id: e for e in ENTRIES}
EVENTS = frozenset({"events", "management"})


def test_every_cop_directory_entry_names_its_cop() -> None:
    names = {ENTRIES[i].entry_id: name for i, name in directory_names(ENTRIES).items()}
    cops = {e.entry_id for e in ENTRIES if "directory" in e.tags and e.entry_id.startswith("cop-")}
    assert set(names) == cops
    assert len(cops) == 9  # the CoPs the seeds list
    assert names["cop-events-management"] == EVENTS
    assert names["cop-data-insight"] == {"data", "insight"}  # "and" joins words; it is not part of a name


def test_a_cop_entry_without_a_bold_name_is_not_a_directory_entry() -> None:
    plain = FaqEntry("cop-x", "Is there a CoP for x?", "Yes, the X CoP.", tags=("directory",))
    assert directory_names([plain]) == {}


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("how do I leave the Events Management CoP?", "how do I leave the CoP?"),
        ("who runs events-management?", "who runs"),  # a hyphenated name is still the name's words
        ("Is there a CoP for events management?", None),  # asks whether it exists: the directory answers that
        ("are there any events management groups", None),
        ("how do I leave a CoP?", None),  # names nothing
        ("Events Management", None),  # nothing left
        ("EVENTS management: who leads it?", "who leads it?"),
    ],
)
def test_without_name(question: str, expected: str | None) -> None:
    assert without_name(question, EVENTS) == expected


def test_general_entries_are_those_the_directory_does_not_answer() -> None:
    assert is_general(BY_ID["how-to-leave"])
    assert is_general(BY_ID["leads-role"])
    assert not is_general(BY_ID["cop-events-management"])
    assert not is_general(BY_ID["list-of-cops"])  # the directory's own list
    assert not is_general(BY_ID["sponsor-role"])  # each directory entry names the sponsor


@pytest.fixture(scope="module")
def index() -> FaqIndex:
    return FaqIndex.build(ENTRIES, DEFAULT_CALIBRATION, encoder_for_tests())


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("who are the leads of the Digital Communications CoP?", "leads-role"),
        ("how often does the Project and Programme Management core group get together?", "core-meetings"),
        ("what is the Events Management CoP?", "cop-events-management"),
        ("tell me about the Technical Support CoP", "cop-technical-support"),
        ("what's the Student Recruitment CoP about?", "cop-student-recruitment"),
        ("is the Widening Participation CoP running yet?", "cop-widening-participation"),
        ("who sponsors the Data and Insight CoP?", "cop-data-insight"),
        ("Is there a CoP for events management?", "cop-events-management"),
    ],
)
def test_with_the_model_a_named_cop_keeps_its_entry_only_for_questions_about_it(
    index: FaqIndex, question: str, expected: str
) -> None:
    [best] = index.search(question, 1)
    assert best.entry.entry_id == expected


def test_the_unnamed_question_is_what_the_caller_encodes(index: FaqIndex) -> None:
    question = "who are the leads of the Digital Communications CoP?"
    assert index.without_cop_name(question) == "who are the leads of the CoP?"
    assert index.without_cop_name("how do I leave a CoP?") is None
    assert FaqIndex.build(ENTRIES).without_cop_name(question) is None  # BM25 alone never ranks twice
