"""Calibration of the FAQ ranker against staff-style questions (``calibration.json``).

Prints, for each split: top-1 accuracy on answerable questions, the share of answerable questions answered rightly
with confidence, the wrong-and-confident rate over all questions, and the abstain rate.

Splits (``calibration.json``'s description tells their history): ``tune`` and ``holdout-1`` tuned the lexical
ranker; ``tune``, ``holdout-1`` and ``holdout-2`` fit the semantic confidence model
(``python -m tests.answers.fit_confidence``); ``holdout`` was only ever scored in aggregate; ``holdout-3`` was
written by a helper who saw neither this file nor the ranker nor the FAQ's alternatives, before the semantic
ranker existed, and was scored once with the frozen model; ``holdout-4`` was written the same way by another
helper in session 3 (asked to name specific CoPs in at least a fifth of its questions) and scored once, in
aggregate, with the same frozen model.
``holdout-5`` was written in session 4 under the same rules, before the programme FAQ gained five more
alternatives per entry (written by another helper who saw only the seeds and the FAQ); it was scored in aggregate
with the old and the new FAQ and while the change was being checked, and is never tuned or fitted on.

The issue's targets (>= 90 % of answerable questions answered rightly with confidence, <= 3 % of all questions
answered wrongly with confidence) hold on the fitting splits; on unseen questions the wrong-answer target holds
in aggregate but the bot answers only about half of the answerable questions (it abstains on the rest, which
opens a query for the CoP's leads). Figures when the floors were set (answered right / wrong with confidence;
"before" = 5 phrasings per entry and a threshold chosen on the fitted model's own scores):

=============  ==================  ================================  ================================
split          BM25 alone          vectors + BM25, before            vectors + BM25 (production)
=============  ==================  ================================  ================================
fitted         (tuned: 94.3/2.7)   83.1 / 3.0                        80.5 / 0.9 (top-1 95.9 %)
holdout        82.9 / 8.3          84.3 / 6.0                        72.9 / 3.6 (top-1 92.9 %)
holdout-3      66.2 / 12.4         49.3 / 5.6                        53.5 / 1.1 (top-1 88.7 %)
holdout-4      53.2 / 15.2         44.3 / 14.1                       43.0 / 6.1 (top-1 81.0 %)
holdout-5      54.5 / 8.3          33.8 / 8.3                        36.4 / 0.0 (top-1 80.5 %)
all unseen     —                   —                                 50.8 / 2.7 (top-1 85.5 %)
=============  ==================  ================================  ================================

The extra phrasings lift top-1 on every unseen split (holdout-5: 67.5 -> 80.5 %); the threshold, now chosen by
leave-one-split-out cross-validation on the fitting splits (``python -m tests.answers.fit_confidence``), trades
answers for fewer confident mistakes: fresh writers' wording is far from the FAQ's, so the model is unsure of
half of their questions. Questions that name a CoP are still the hardest (holdout-4, a third of which name one:
"how do I get out of the X CoP" pulled towards "Is there a CoP for X?").

The floors below sit a little under these figures, so a change that makes unseen questions worse fails; the
printed figures say how far off the targets they are. The lexical path is what runs without the model
(``make model`` not run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.answers.faq import FaqEntry, load_programme_faq
from bot.answers.ranker import Answer, Encoder, FaqIndex
from tests.answers.model import encoder_for_tests

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
MIN_ANSWERED_RIGHT = 0.90
MAX_WRONG_CONFIDENT = 0.03
SPLITS = ("tune", "holdout-1", "holdout", "holdout-2", "holdout-3", "holdout-4", "holdout-5", "holdout-6")
LEXICAL_TUNING_SPLITS = ("tune", "holdout-1")
FIT_SPLITS = ("tune", "holdout-1", "holdout-2")  # what the semantic confidence model is fitted on
SEMANTIC_UNSEEN = ("holdout", "holdout-3", "holdout-4", "holdout-5", "holdout-6")
# Regression floors: (min answered right, max wrong with confidence), a little below the figures achieved (see the
# module docstring), so a change that makes unseen questions worse fails while the printed figures say how far
# off the targets they are.
LEXICAL_FLOORS = {"holdout": (0.80, 0.10), "holdout-2": (0.76, 0.12)}
SEMANTIC_FLOORS = {
    "fitted": (0.80, 0.03),
    "holdout": (0.75, 0.04),
    "holdout-3": (0.50, 0.02),
    "holdout-4": (0.39, 0.07),
    "holdout-5": (0.35, 0.02),
    "holdout-6": (0.27, 0.03),
    "unseen": (0.45, 0.03),
}


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
def encoder() -> Encoder:
    return encoder_for_tests()


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


def _report(index: FaqIndex, questions: list[dict[str, Any]], groups: dict[str, tuple[str, ...]]) -> dict[str, Figures]:
    by_split = {name: _figures(index, [q for q in questions if q["split"] == name]) for name in SPLITS}
    grouped = {name: _figures(index, [q for q in questions if q["split"] in splits]) for name, splits in groups.items()}
    print()
    for name, figures in [*by_split.items(), *grouped.items()]:
        print(figures.line(name))
    return by_split | grouped


def test_lexical_fallback_calibration(programme: list[FaqEntry]) -> None:
    """Without the model (``make model`` not run), BM25 alone answers: tuned on ``tune`` + ``holdout-1``."""
    index = FaqIndex.build(programme)
    assert not index.semantic
    figures = _report(index, _load(), {"tuning": LEXICAL_TUNING_SPLITS})
    tuning = figures["tuning"]
    assert tuning.answered_right_rate >= MIN_ANSWERED_RIGHT, tuning.line("tuning")
    assert tuning.wrong_confident_rate <= MAX_WRONG_CONFIDENT, tuning.line("tuning")
    for name, (min_right, max_wrong) in LEXICAL_FLOORS.items():
        assert figures[name].answered_right_rate >= min_right, figures[name].line(name)
        assert figures[name].wrong_confident_rate <= max_wrong, figures[name].line(name)


def test_semantic_calibration(programme: list[FaqEntry], encoder: Encoder) -> None:
    """The production ranker (sentence vectors + BM25, logistic confidence fitted on ``FIT_SPLITS``)."""
    index = FaqIndex.build(programme, encoder=encoder)
    assert index.semantic
    figures = _report(index, _load(), {"fitted": FIT_SPLITS, "unseen": SEMANTIC_UNSEEN})
    fitted = figures["fitted"]
    # The threshold is chosen on the fitting splits to keep confident wrong answers within the target there.
    assert fitted.wrong_confident_rate <= MAX_WRONG_CONFIDENT, fitted.line("fitted")
    for name, (min_right, max_wrong) in SEMANTIC_FLOORS.items():
        assert figures[name].answered_right_rate >= min_right, figures[name].line(name)
        assert figures[name].wrong_confident_rate <= max_wrong, figures[name].line(name)
