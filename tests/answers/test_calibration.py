"""Calibration of the programme FAQ ranker against staff-style questions (``calibration.json``).

Prints, for each split and for all questions: top-1 accuracy on answerable questions, the share of
answerable questions answered rightly with confidence, the wrong-and-confident rate over all questions, and
the abstain rate.

Splits: ``tune`` was used while tuning; ``holdout-1`` was held out in the first round, scored once, and then
used for tuning in the second round; ``holdout`` was written after the first round and never used for tuning;
``holdout-2`` was written before the third round (the move to a BM25 library) and is never used for tuning.

The targets (>= 90 % of answerable questions answered rightly with confidence, <= 3 % of all questions
answered wrongly with confidence) are met on the tuning splits taken together, and asserted there. They are NOT
met on the unseen splits, which get regression floors a little below the achieved figures, so a change that makes
unseen questions worse fails while the printed figures say how far off they are. Answered right / wrong with
confidence when the floors were set (bm25s ranker, FAQ version 2):

- ``holdout``: 81.4 % / 6.0 % (the hand-written BM25F ranker had 72.9 % / 9.5 %);
- ``holdout-2``: 59.7 % / 9.1 % (hand-written: 59.7 % / 14.8 %).

The gap is vocabulary: a lexical ranker only knows the words of the FAQ, its alternatives and the synonym
lists, and unseen questions use others ("onboarding", "hours"...). ``holdout-2`` was written by the same
helper who then wrote the new alternatives, who kept its wording out of them on purpose, so it measures
words the FAQ's authors did not foresee; ``holdout`` (never read while tuning) is the fairer estimate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.answers.faq import FaqEntry, load_programme_faq
from bot.answers.ranker import Answer, FaqIndex

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
MIN_ANSWERED_RIGHT = 0.90
MAX_WRONG_CONFIDENT = 0.03
TUNING_SPLITS = ("tune", "holdout-1")
# Regression floors for the unseen splits: (min answered right, max wrong with confidence), set a little below
# the figures achieved (see the module docstring).
UNSEEN_FLOORS = {"holdout": (0.78, 0.08), "holdout-2": (0.56, 0.11)}
SPLITS = ("tune", "holdout-1", "holdout", "holdout-2")
UNSEEN_SPLITS = ("holdout", "holdout-2")


@dataclass
class Figures:
    questions: int = 0
    answerable: int = 0
    top1_right: int = 0
    answered_right: int = 0
    wrong_confident: int = 0
    abstained: int = 0

    @property
    def top1(self) -> float:
        return self.top1_right / self.answerable

    @property
    def answered_right_rate(self) -> float:
        return self.answered_right / self.answerable

    @property
    def wrong_confident_rate(self) -> float:
        return self.wrong_confident / self.questions

    @property
    def abstain_rate(self) -> float:
        return self.abstained / self.questions

    def line(self, name: str) -> str:
        return (
            f"{name:9} n={self.questions:3} answerable={self.answerable:3}  top-1 {self.top1:6.1%}  "
            f"answered right {self.answered_right_rate:6.1%}  wrong+confident {self.wrong_confident_rate:5.1%}  "
            f"abstain {self.abstain_rate:5.1%}"
        )


def _load() -> list[dict[str, Any]]:
    data = json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))
    questions: list[dict[str, Any]] = data["questions"]
    return questions


@pytest.fixture(scope="module")
def programme() -> list[FaqEntry]:
    return load_programme_faq()[1]


def _figures(index: FaqIndex, questions: list[dict[str, Any]]) -> Figures:
    figures = Figures()
    for item in questions:
        accepted = {item["expected"], *item.get("also_ok", [])} - {None}
        figures.questions += 1
        if accepted:
            figures.answerable += 1
            top = index.search(item["question"], 1)
            if top and top[0].entry.entry_id in accepted:
                figures.top1_right += 1
        result = index.answer(item["question"])
        if isinstance(result, Answer):
            if result.entry.entry_id in accepted:
                figures.answered_right += 1
            else:
                figures.wrong_confident += 1
        else:
            figures.abstained += 1
    return figures


def test_calibration_set_is_well_formed(programme: list[FaqEntry]) -> None:
    ids = {e.entry_id for e in programme}
    questions = _load()
    answerable = [q for q in questions if q["expected"]]
    assert len(answerable) >= 70
    assert len(questions) - len(answerable) >= 15
    for item in questions:
        assert item["split"] in SPLITS
        for entry_id in [item["expected"], *item.get("also_ok", [])]:
            assert entry_id is None or entry_id in ids, entry_id
    # The calibration questions are not copies of the FAQ's own phrasings.
    phrasings = {p.lower().strip(" ?") for e in programme for p in e.phrasings}
    assert not [q["question"] for q in questions if q["question"].lower().strip(" ?") in phrasings]
    assert set(SPLITS) == {q["split"] for q in questions}
    # No question appears twice (a copy in a tuning split would leak into an unseen one).
    normalised = [q["question"].lower().strip(" ?") for q in questions]
    assert len(normalised) == len(set(normalised))


def test_calibration_targets(programme: list[FaqEntry]) -> None:
    index = FaqIndex.build(programme)
    questions = _load()
    halves = {name: _figures(index, [q for q in questions if q["split"] == name]) for name in SPLITS}
    overall = _figures(index, questions)
    tuning = _figures(index, [q for q in questions if q["split"] in TUNING_SPLITS])
    print()
    for name, figures in halves.items():
        print(figures.line(name))
    print(tuning.line("tuning"))
    print(_figures(index, [q for q in questions if q["split"] in UNSEEN_SPLITS]).line("unseen"))
    print(overall.line("all"))
    assert tuning.answered_right_rate >= MIN_ANSWERED_RIGHT, tuning.line("tuning")
    assert tuning.wrong_confident_rate <= MAX_WRONG_CONFIDENT, tuning.line("tuning")
    for name, (min_right, max_wrong) in UNSEEN_FLOORS.items():
        unseen = halves[name]
        assert unseen.answered_right_rate >= min_right, unseen.line(name)
        assert unseen.wrong_confident_rate <= max_wrong, unseen.line(name)
