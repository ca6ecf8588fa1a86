"""Calibration of the FAQ ranker against staff-style questions (``bot/answers/examples.json``; splits in
:mod:`tools.answers.splits`).

Prints, for each split: top-1 accuracy on answerable questions, the share of answerable questions answered rightly
with confidence, the wrong-and-confident rate over all questions, and the abstain rate.

Each split is one writer's batch, written by someone who saw only the programme's documents and the FAQ's
questions and answers. ``tune`` and ``holdout-1`` tuned the lexical ranker. Since 21b3f4c the questions are also
the index's examples (:mod:`bot.answers.examples`) and all of them fit the confidence model, and since 493bc84
they train the encoder adapter (:mod:`bot.answers.adapter`), so every split is measured held out: ranked by an index
built without its own examples (:func:`index_without`), encoded with a fold adapter that never trained on it
(``tools/answers/adapter_folds``) and, in the cross-validation test, scored by a model fitted on the other splits.
The file's description tells each split's history. Fresh splits scored once before joining, each with the system of
its day: holdout-14 (examples: 49.4 / 2.9 -> 86.7 / 3.8), holdout-15 (75.0 / 2.8), holdout-16 (84.7 / 4.8 -> 89.4 /
4.8; withdrawn), holdout-17 (69.3 / 11.0 -> 70.5 / 11.9), holdout-18 (centroid features: 70.2 / 8.4 -> 71.4 / 7.5),
holdout-19 (nothing pending: 78.8 / 5.9), holdout-20 (the encoder adapter: 81.0 / 1.0 -> 87.3 / 1.0, top-1 92.4 ->
97.5 %), each decided by a rule set before the split was written (new right >= old, new wrong <= old + 1 question).
holdout-21 (written from the programme's documents alone, not the FAQ; FAQ version 6 and the near-miss split: 82.9 /
6.1, out of scope abstaining 90.6 %, top-1 92.7 %). ``near-miss`` holds out-of-scope questions that share words
with an entry; it has nothing to answer, so only its confident wrong answers count.

Figures when the floors were set, with FAQ version 6, the near-miss split and holdout-21 (answered right / wrong
with confidence; held out = index without the split's examples, an adapter that never saw it, production model,
threshold 0.71; top-1 with the production model). Before version 6 (FAQ version 5, 22 splits, threshold 0.69) in
brackets where they differ:

=============  ===============  ====================================  ======
split          BM25 alone       production, held out                  top-1
=============  ===============  ====================================  ======
tune           92.2 / 2.7 (*)   95.3 / 0.0 (96.9 / 1.4)               97 %
holdout-1      94.9 / 2.7 (*)   98.3 / 0.0 (96.6 / 0.0)               100 %
holdout        80.0 / 6.0       92.9 / 1.2 (94.3 / 1.2)               97 %
holdout-2      72.2 / 5.7       93.1 / 2.3 (95.8 / 1.1)               96 %
holdout-3      69.0 / 2.2       93.0 / 3.4 (94.4 / 3.4)               96 %
holdout-4      50.6 / 5.1       98.7 / 2.0                            100 %
holdout-5      50.6 / 5.2       93.5 / 2.1 (94.8 / 2.1)               97 %
holdout-6      44.3 / 5.2       94.9 / 1.0 (94.9 / 2.1)               96 %
holdout-7      57.0 / 4.0       96.2 / 0.0 (94.9 / 2.0)               99 %
holdout-8      51.2 / 7.0       95.0 / 4.0 (93.8 / 3.0)               96 %
holdout-9      61.5 / 5.1       96.2 / 2.0 (96.2 / 5.1)               97 %
holdout-10     71.8 / 3.1       93.6 / 1.0 (96.2 / 2.0)               97 %
holdout-11     55.3 / 4.2       92.1 / 1.0 (93.4 / 1.0)               95 %
holdout-12     24.4 / 1.9       93.9 / 1.9 (95.1 / 1.0)               95 %
holdout-13     42.2 / 4.8       84.3 / 1.9 (86.7 / 1.9)               98 %
holdout-14     32.5 / 6.7       90.4 / 2.9 (91.6 / 2.9)               95 %
holdout-15     29.8 / 3.8       77.4 / 0.9 (83.3 / 2.8)               93 %
holdout-16     37.2 / 2.9       91.9 / 3.8 (96.5 / 3.8)               98 %
holdout-17     27.0 / 8.3       74.2 / 3.7 (76.1 / 5.5)               83 %
holdout-18     27.4 / 2.8       83.3 / 4.7 (84.5 / 7.5)               95 %
holdout-19     32.5 / 5.0       88.8 / 4.0 (90.0 / 6.9)               98 %
holdout-20     31.6 / 1.0       89.9 / 1.0                            98 %
near-miss      — / 10.0         — / 24.0 (in use: 2.0)                —
holdout-21     43.9 / 5.3       82.9 / 6.1                            93 %
all (2,298)    —                90.5 / 2.8 (92.2 / 2.8 of 2,134)      96 %
=============  ===============  ====================================  ======

(*) tuned on. Without the model, BM25 is held to a high threshold (few confident mistakes, many abstentions).
Over all splits, each scored by a model fitted on the others, 90.2 % right and 3.0 % wrong (92.0 / 3.0 before).
Version 6's seven new entries (how CoPs are driven, the health framework's areas, the forms a community takes) and
the near-miss examples cost older splits answers near the threshold: 17 of the 22 lost one question or none,
holdout-2, -10 and -13 two, holdout-16 three, holdout-15 five (borderline confidences of 0.67-0.70 that fell under
0.71), while confident wrong answers on the same 2,134 questions fell from 60 to 45.

Since 2026-12-06 (phrasings for what holdout-21 missed, eight more near misses, threshold 0.70) the figures are in
docs/faq-answers.md ("Phrasings from holdout-21's misses"): no split lost more than one question, all 24 splits
91.0 / 2.7 (cross-validated 90.9 / 3.0). Since 2026-12-07 (20efc18: the adapters retrained on every split, holdout-22
joined, threshold 0.69) all 25 splits 91.8 / 2.7 (cross-validated 91.5 / 2.8); holdout-17 and holdout-19 each two
more confident wrong answers, holdout-22 held out 85.5 / 3.8 (docs/faq-answers.md, "The adapters retrained").

The floors below sit a little under these figures, so a change that makes things worse fails; the printed figures
say how far off the targets they are. The lexical path is what runs without the model (``make model`` not run).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from bot.answers.examples import load_examples
from bot.answers.faq import FaqEntry, load_programme_faq
from bot.answers.ranker import DEFAULT_CALIBRATION, Answer, FaqIndex
from tests.answers.model import encoder_without
from tools.answers.fit_confidence import (
    MODEL_FILE,
    THRESHOLD_STEP,
    choose_threshold,
    fit_logistic,
    fit_state,
    fitting_points,
    held_out_by_split,
    held_out_probabilities,
    rates,
    with_state,
)
from tools.answers.measure import index_without
from tools.answers.splits import (
    CALIBRATION_FILE,
    FIT_SPLITS,
    LEXICAL_TUNING_SPLITS,
    MAX_WRONG_CONFIDENT,
    MIN_ANSWERED_RIGHT,
    NEAR_MISS,
    SPLITS,
)

# Regression floors: (min answered right, max wrong with confidence), a little below the figures achieved (see the
# module docstring), so a change that makes things worse fails while the printed figures say how far off the
# targets they are.
LEXICAL_FLOORS = {"holdout": (0.78, 0.07), "holdout-2": (0.70, 0.07)}
SEMANTIC_FLOORS = {
    "tune": (0.94, 0.03),
    "holdout-1": (0.94, 0.02),
    "holdout": (0.91, 0.03),
    "holdout-2": (0.90, 0.04),  # 91.7 / 1.1 % since the retraining of 2026-12-07 (was 93.1 / 2.3 %)
    "holdout-3": (0.92, 0.05),
    "holdout-4": (0.96, 0.04),
    "holdout-5": (0.90, 0.04),  # 90.9 / 2.1 % since the retraining of 2026-12-07, late evening (was 92.2 %)
    "holdout-6": (0.92, 0.04),
    "holdout-7": (0.92, 0.04),
    "holdout-8": (0.91, 0.05),
    "holdout-9": (0.94, 0.07),
    "holdout-10": (0.92, 0.04),
    "holdout-11": (0.91, 0.03),
    "holdout-12": (0.92, 0.04),  # 93.9 / 3.8 % since the FAQ's phrasings in situational voices (2026-12-07; was 2.9 %)
    "holdout-13": (0.83, 0.04),
    "holdout-14": (0.89, 0.05),
    "holdout-15": (0.76, 0.05),
    "holdout-16": (0.90, 0.06),
    "holdout-17": (0.73, 0.08),
    "holdout-18": (0.82, 0.09),
    "holdout-19": (0.87, 0.09),
    "holdout-20": (0.87, 0.03),
    "near-miss": (0.00, 0.30),  # nothing to answer: only its confident wrong answers count
    "holdout-21": (0.81, 0.08),
    "holdout-22": (0.80, 0.06),
    "holdout-23": (0.83, 0.03),  # 86.1 / 0.0 % when it joined (2026-12-07, shipped adapter: it trained before)
    "holdout-24": (0.76, 0.05),  # 78.9 / 3.1 % when it joined (2026-12-07; fold-5 never trained on it)
    "holdout-25": (0.86, 0.04),  # 89.3 / 1.8 % when it joined (2026-12-07, shipped adapter: it trained before)
    "holdout-26": (0.75, 0.04),  # 78.8 / 1.9 % when it joined (likewise)
    "holdout-27": (0.84, 0.04),  # 86.6 / 1.9 % when it joined (2026-12-07, shipped adapter: it trained before)
    "holdout-28": (0.91, 0.07),  # 94.5 / 5.4 % when it joined (2026-12-07); 91.8 / 4.3 % after the late retraining
    "holdout-29": (0.90, 0.08),  # 92.6 / 6.1 % when it joined (2026-12-07; no adapter had trained on it)
    "holdout-30": (0.86, 0.04),  # 88.4 / 2.0 % when it joined (2026-12-07; no adapter has trained on it)
    "holdout-31": (0.92, 0.03),  # 94.2 / 0.9 % when it joined (2026-12-08; no adapter has trained on it)
    "all": (0.89, 0.05),
}
HELD_OUT_ALL_MIN_RIGHT = 0.90  # all splits together, each ranked and scored as unseen (90.2 % when set)
# near misses ranked as unseen that abstain (36 of 50, 72 %, when set; in use, as examples of the index, 49 of 50)
NEAR_MISS_HELD_OUT_MIN_ABSTAIN = 0.70
# Each fitting split scored by the model fitted on the others (cross-validation), at the production threshold.
HELD_OUT_FLOORS = {
    "tune": (0.94, 0.03),
    "holdout-1": (0.94, 0.02),
    "holdout": (0.91, 0.03),
    "holdout-2": (0.88, 0.04),  # 90.3 / 1.1 % since the retraining of 2026-12-07 (was 93.1 / 2.3 %)
    "holdout-3": (0.92, 0.05),
    "holdout-4": (0.96, 0.04),
    "holdout-5": (0.90, 0.04),  # likewise
    "holdout-6": (0.91, 0.04),
    "holdout-7": (0.92, 0.04),
    "holdout-8": (0.91, 0.07),
    "holdout-9": (0.94, 0.08),
    "holdout-10": (0.92, 0.04),
    "holdout-11": (0.91, 0.03),
    "holdout-12": (0.92, 0.04),
    "holdout-13": (0.82, 0.04),
    "holdout-14": (0.89, 0.05),
    "holdout-15": (0.75, 0.05),
    "holdout-16": (0.90, 0.06),
    "holdout-17": (0.72, 0.08),
    "holdout-18": (0.80, 0.09),
    "holdout-19": (0.87, 0.09),
    "holdout-20": (0.86, 0.03),
    "near-miss": (0.00, 0.30),  # nothing to answer: only its confident wrong answers count
    "holdout-21": (0.81, 0.08),
    "holdout-22": (0.80, 0.06),
    "holdout-23": (0.83, 0.03),
    "holdout-24": (0.76, 0.07),
    "holdout-25": (0.86, 0.04),
    "holdout-26": (0.73, 0.04),
    "holdout-27": (0.83, 0.04),
    "holdout-28": (0.92, 0.07),
    "holdout-29": (0.90, 0.08),
    "holdout-30": (0.86, 0.04),
    "holdout-31": (0.92, 0.03),
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
        return self.top1_right / self.answerable if self.answerable else 1.0

    @property
    def answered_right_rate(self) -> float:
        return self.answered_right / self.answerable if self.answerable else 1.0  # nothing to answer: none missed

    @property
    def wrong_confident_rate(self) -> float:
        return self.wrong_confident / self.questions

    @property
    def abstain_rate(self) -> float:
        return self.abstained / self.questions

    def line(self, name: str) -> str:
        return (
            f"{name:10} n={self.questions:3} answerable={self.answerable:3}  top-1 {self.top1:6.1%}  "
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


def test_semantic_calibration(programme: list[FaqEntry]) -> None:
    """The production ranker (sentence vectors + BM25 + examples, logistic confidence): each split ranked by the
    index built without that split's own examples, with an encoder adapter never trained on them, so no question
    is scored against itself."""
    questions = _load()
    by_split = {name: _figures(index_without(name), [q for q in questions if q["split"] == name]) for name in SPLITS}
    overall = Figures()
    for figures in by_split.values():
        for field in ("questions", "answerable", "top1_right", "answered_right", "wrong_confident", "abstained"):
            setattr(overall, field, getattr(overall, field) + getattr(figures, field))
    print()
    for name, figures in [*by_split.items(), ("all", overall)]:
        print(figures.line(name))
    for name, (min_right, max_wrong) in SEMANTIC_FLOORS.items():
        figures = overall if name == "all" else by_split[name]
        assert figures.answered_right_rate >= min_right, figures.line(name)
        assert figures.wrong_confident_rate <= max_wrong, figures.line(name)
    assert set(SEMANTIC_FLOORS) == {*SPLITS, "all"}


def test_near_misses_abstain() -> None:
    """Out-of-scope questions that share words with an entry (leaving a job, a visa sponsor, booking a room, the
    names of a named CoP's leads...; split ``near-miss``) abstain: as unseen (an index without them, the adapter
    that never saw them) at least :data:`NEAR_MISS_HELD_OUT_MIN_ABSTAIN`, and in production, where they are
    out-of-scope examples of the index, nearly all. The named CoP's leads never reach the FAQ in production: the
    bot answers them from its CoP directory (tests/features/questions/test_cop_facts.py)."""
    questions = [q for q in _load() if q["split"] == NEAR_MISS]
    assert len(questions) >= 40
    assert all(q["expected"] is None for q in questions)
    held_out = _figures(index_without(NEAR_MISS), questions)
    production = _figures(
        FaqIndex.build(load_programme_faq()[1], DEFAULT_CALIBRATION, encoder_without(NEAR_MISS), load_examples()),
        questions,
    )
    print()
    print(held_out.line("held out"))
    print(production.line("in use"))
    assert held_out.abstain_rate >= NEAR_MISS_HELD_OUT_MIN_ABSTAIN, held_out.line("held out")
    assert production.abstain_rate >= 0.95, production.line("in use")


FIGURES_SLACK = 0.005  # half a percentage point of the held-out figures recorded with the model


def within_a_step(
    fitted_threshold: float | None, stored_threshold: float, figures: tuple[float, float], recorded: tuple[float, float]
) -> bool:
    """A refit that differs from the stored model only by another CPU's last bits: its threshold at most a step
    away, and the stored model's held-out figures (answered right, wrong with confidence) within
    :data:`FIGURES_SLACK` of those recorded when it was fitted. (Not the coefficients: the features are correlated,
    so two CPUs' fits of the same inputs gave coefficients up to 0.15 apart that rank the questions alike.)"""
    return (
        fitted_threshold is not None
        and abs(fitted_threshold - stored_threshold) <= THRESHOLD_STEP + 1e-9
        and all(abs(a - b) <= FIGURES_SLACK for a, b in zip(figures, recorded, strict=True))
    )


def test_a_refit_a_threshold_step_away_is_accepted_and_no_more() -> None:
    recorded = (0.9164, 0.0285)
    assert within_a_step(0.69, 0.68, (0.9164, 0.0285), recorded)
    assert within_a_step(0.67, 0.68, (0.9120, 0.0300), recorded)
    assert not within_a_step(0.70, 0.68, recorded, recorded)  # two steps: the inputs or the code changed
    assert not within_a_step(0.68, 0.68, (0.9000, 0.0285), recorded)
    assert not within_a_step(0.68, 0.68, (0.9164, 0.0400), recorded)
    assert not within_a_step(None, 0.68, recorded, recorded)


def test_confidence_model_is_the_one_fitted_and_holds_out_of_sample() -> None:
    """``Calibration`` holds what ``make refit`` (:mod:`tools.answers.fit_confidence`) fits today (so a change to the
    FAQ, its examples, the ranker or the encoder without refitting fails here), and each split, ranked without its
    own examples and scored by the model fitted on the others, stays above its floor; all of them together meet the
    issue's targets."""
    x, y, splits, counts = fitting_points()
    answerable = sum(a for a, _ in counts.values())
    total = sum(t for _, t in counts.values())
    held_out = held_out_probabilities(x, y, splits)
    threshold = DEFAULT_CALIBRATION.semantic_min_confidence
    stored = (DEFAULT_CALIBRATION.semantic_coefficients, threshold)
    fitted = (tuple(round(float(w), 3) for w in fit_logistic(x, y)), choose_threshold(held_out, y, answerable, total))
    # What the model was fitted from (files and code) is checked by digest in test_artefacts, on any machine. Here
    # the refit itself: a fixed point, or the highest-threshold member of a short cycle of fits (fit_confidence.
    # settle; on a tie the first met), so fitting on from what it fits comes back to it without passing a higher
    # threshold. Or, on another CPU, where ONNX Runtime's last bits differ, a threshold step away (the naming guard
    # compares confidences with the threshold, so a fit near the limit can land a step away on the same inputs).
    right_rate, wrong_rate = rates(held_out, y, threshold, answerable, total)
    recorded = json.loads(MODEL_FILE.read_text(encoding="utf-8"))["held_out"]
    figures = (recorded["answered_right"], recorded["wrong_confident"])
    if fitted != stored and within_a_step(fitted[1], threshold, (right_rate, wrong_rate), figures):
        print(f"\nthis machine's refit lands a step away: {fitted}; stored {stored} (make refit here would write it)")
    else:
        state, steps = fitted, 0
        while state != stored:
            assert state[1] is not None, "no threshold keeps the held-out confident wrong answers within the limit"
            assert state[1] <= threshold, f"stale: {state} fitted, {stored} stored; make refit"
            assert steps < 3, f"stale: fitting from {stored} does not come back to it; make refit"
            state = fit_state(with_state(DEFAULT_CALIBRATION, (state[0], state[1])))
            steps += 1
    print(
        f"\nall held out: answered right {right_rate:6.1%} (target {MIN_ANSWERED_RIGHT:.0%})  "
        f"wrong+confident {wrong_rate:5.1%} (target {MAX_WRONG_CONFIDENT:.0%})"
    )
    assert wrong_rate <= MAX_WRONG_CONFIDENT  # the threshold is chosen for this
    assert right_rate >= HELD_OUT_ALL_MIN_RIGHT
    by_split = held_out_by_split(held_out, y, splits, counts, threshold)
    print()
    for name, (right, wrong) in by_split.items():
        print(f"{name:10} held out: answered right {right:6.1%}  wrong+confident {wrong:5.1%}")
    for name, (min_right, max_wrong) in HELD_OUT_FLOORS.items():
        right, wrong = by_split[name]
        assert right >= min_right, (name, right)
        assert wrong <= max_wrong, (name, wrong)
    assert set(HELD_OUT_FLOORS) == set(FIT_SPLITS)
