"""Fits the semantic confidence model (``Calibration.semantic_coefficients``) and its threshold.

Reads the labelled questions (``bot/answers/examples.json``; splits in :mod:`tests.answers.splits`): for each
question, the features of the top-ranked entry (:class:`bot.answers.ranker.SemanticFeatures`) and whether that entry
is right. The questions are also the index's examples (:mod:`bot.answers.examples`) and the encoder adapter's
training data (:mod:`bot.answers.adapter`), so each split is ranked by an index built without its own examples and
encoded with a fold adapter trained without it (``tests/answers/adapter_folds``). A logistic regression with a
little L2 regularisation (Newton's method, numpy) maps the features to the probability that the top entry is right.
The threshold is chosen by leave-one-split-out cross-validation: each split is scored by a model fitted on the
others, and the threshold is the lowest at which those held-out confident wrong answers stay within
``MAX_WRONG_CONFIDENT`` of all questions. (Choosing it on the fitted model's own scores gave a threshold that moved
by 0.05 when three FAQ phrasings changed, and overshot on unseen writers.) Prints both, ready to paste into
``Calibration``, and each split's held-out figures.

Run ``python -m tests.answers.fit_confidence`` (needs the model: ``make model``) after changing the ranker, its
weights, the encoder, the FAQ or its examples, until the coefficients stop moving (the naming guard in
:mod:`bot.answers.naming` compares confidences, so a refit can move the features a little); then run the
calibration test, which checks the coefficients and every split's held-out figures.
"""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt

from bot.answers.examples import load_examples
from bot.answers.faq import load_programme_faq
from bot.answers.ranker import DEFAULT_CALIBRATION, FaqIndex, SemanticFeatures
from tests.answers.model import encoder_without
from tests.answers.splits import CALIBRATION_FILE, FIT_SPLITS, MAX_WRONG_CONFIDENT

L2 = 0.5

_Floats = npt.NDArray[np.float64]


def fit_logistic(x: _Floats, y: _Floats, l2: float = L2, steps: int = 50) -> _Floats:
    """Weights (intercept first) of an L2-regularised logistic regression, by Newton's method."""
    design = np.hstack([np.ones((len(x), 1)), x])
    weights = np.zeros(design.shape[1])
    penalty = np.eye(design.shape[1]) * l2
    penalty[0, 0] = 0.0  # the intercept is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(design @ weights)))
        gradient = design.T @ (p - y) + penalty @ weights
        hessian = design.T @ (design * (p * (1 - p))[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if float(np.abs(step).max()) < 1e-9:
            break
    result: _Floats = weights
    return result


def fitting_points() -> tuple[_Floats, _Floats, npt.NDArray[np.str_], dict[str, tuple[int, int]]]:
    """Features of the top entry and whether it is right, per fitting question, with the question's split; and per
    split, (answerable questions, all questions)."""
    questions = [
        q for q in json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["questions"] if q["split"] in FIT_SPLITS
    ]
    rows: list[tuple[float, ...]] = []
    right: list[float] = []
    splits: list[str] = []
    indexes = {name: index_without(name) for name in FIT_SPLITS}
    for item in questions:
        explained = indexes[item["split"]].explain(item["question"], 1)
        if not explained:
            continue
        match, features = explained[0]
        assert isinstance(features, SemanticFeatures)
        accepted = {item["expected"], *item.get("also_ok", [])} - {None}
        rows.append(features.vector())
        right.append(1.0 if match.entry.entry_id in accepted else 0.0)
        splits.append(item["split"])
    counts = {
        name: (
            sum(1 for q in questions if q["split"] == name and q["expected"]),
            sum(1 for q in questions if q["split"] == name),
        )
        for name in FIT_SPLITS
    }
    return np.asarray(rows), np.asarray(right), np.asarray(splits), counts


def index_without(split: str) -> FaqIndex:
    """The production index of the programme FAQ, built without ``split``'s examples and with the encoder whose
    adapter never trained on them, so that split is ranked as if its questions had never been seen."""
    _, entries = load_programme_faq()
    return FaqIndex.build(entries, DEFAULT_CALIBRATION, encoder_without(split), load_examples(without_split=split))


def _probabilities(weights: _Floats, x: _Floats) -> _Floats:
    p: _Floats = 1.0 / (1.0 + np.exp(-(weights[0] + x @ weights[1:])))
    return p


def held_out_probabilities(x: _Floats, y: _Floats, splits: npt.NDArray[np.str_]) -> _Floats:
    """Each fitting question's probability from a model fitted on the other fitting splits only."""
    p = np.zeros(len(y))
    for name in FIT_SPLITS:
        held = splits == name
        p[held] = _probabilities(fit_logistic(x[~held], y[~held]), x[held])
    return p


def rates(
    p: _Floats, y: _Floats, threshold: float, answerable: int, total: int, among: npt.NDArray[np.bool_] | None = None
) -> tuple[float, float]:
    """(answered right with confidence / answerable, answered wrong with confidence / total) at ``threshold``,
    over the questions ``among`` selects (all by default)."""
    confident = p >= threshold if among is None else among & (p >= threshold)
    right = float((confident & (y == 1)).sum()) / answerable if answerable else 1.0  # nothing to answer: none missed
    return right, float((confident & (y == 0)).sum()) / total


def choose_threshold(p: _Floats, y: _Floats, answerable: int, total: int) -> float | None:
    """The lowest threshold (0.30 to 0.95) at which confident wrong answers stay within the limit."""
    for step in range(30, 96):
        if rates(p, y, step / 100, answerable, total)[1] <= MAX_WRONG_CONFIDENT:
            return step / 100
    return None


def held_out_by_split(
    p: _Floats, y: _Floats, splits: npt.NDArray[np.str_], counts: dict[str, tuple[int, int]], threshold: float
) -> dict[str, tuple[float, float]]:
    """Per split, :func:`rates` at ``threshold``."""
    return {name: rates(p, y, threshold, *count, among=splits == name) for name, count in counts.items()}


def main() -> None:
    x, y, splits, counts = fitting_points()
    answerable = sum(a for a, _ in counts.values())
    total = sum(t for _, t in counts.values())
    weights = fit_logistic(x, y)
    fitted = _probabilities(weights, x)
    held_out = held_out_probabilities(x, y, splits)
    print(f"fitting splits {', '.join(FIT_SPLITS)}: {total} questions, {answerable} answerable")
    print(f"top-1 right {y.sum() / answerable:.1%}")
    print("threshold: fitted on all (right, wrong) | each split scored by a model fitted on the others")
    chosen = choose_threshold(held_out, y, answerable, total)
    for step in range(30, 96):
        threshold = step / 100
        right, wrong = rates(fitted, y, threshold, answerable, total)
        cv_right, cv_wrong = rates(held_out, y, threshold, answerable, total)
        marker = "   <- lowest within the wrong-answer limit, held out" if threshold == chosen else ""
        print(
            f"threshold {threshold:.2f}: right {right:6.1%}  wrong {wrong:5.1%} | "
            f"{cv_right:6.1%}  {cv_wrong:5.1%}{marker}"
        )
    if chosen is not None:
        print(f"each split held out, at {chosen}:")
        for name, (right, wrong) in held_out_by_split(held_out, y, splits, counts, chosen).items():
            print(f"  {name:10} right {right:6.1%}  wrong {wrong:5.1%}")
    print("semantic_coefficients = (" + ", ".join(f"{w:.3f}" for w in weights) + ")")
    print(f"semantic_min_confidence = {chosen}")


if __name__ == "__main__":
    main()
