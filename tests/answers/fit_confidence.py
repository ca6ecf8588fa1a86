"""Fits the semantic confidence model (``Calibration.semantic_coefficients``) and its threshold.

Reads only the fitting splits of ``calibration.json`` (``FIT_SPLITS``): for each question, the features of the
top-ranked entry (:class:`bot.answers.ranker.SemanticFeatures`) and whether that entry is right. A logistic
regression with a little L2 regularisation (Newton's method, numpy) maps the features to the probability that the
top entry is right; the threshold is the lowest one at which confident wrong answers stay within
``MAX_WRONG_CONFIDENT`` of all fitting questions. Prints both, ready to paste into ``Calibration``.

Run ``python -m tests.answers.fit_confidence`` (needs the model: ``make model``) after changing the ranker, its
weights, the encoder or the FAQ; then run the calibration test, which scores the splits never fitted on.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.answers.faq import load_programme_faq
from bot.answers.ranker import DEFAULT_CALIBRATION, FaqIndex, SemanticFeatures
from tests.answers.model import encoder_for_tests

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
FIT_SPLITS = ("tune", "holdout-1", "holdout-2")
MAX_WRONG_CONFIDENT = 0.03
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


def fitting_points() -> tuple[_Floats, _Floats, int, int]:
    """Features of the top entry and whether it is right, per fitting question; answerable count; total."""
    _, entries = load_programme_faq()
    index = FaqIndex.build(entries, DEFAULT_CALIBRATION, encoder_for_tests())
    questions = [
        q for q in json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["questions"] if q["split"] in FIT_SPLITS
    ]
    rows: list[tuple[float, ...]] = []
    right: list[float] = []
    for item in questions:
        explained = index.explain(item["question"], 1)
        if not explained:
            continue
        match, features = explained[0]
        assert isinstance(features, SemanticFeatures)
        accepted = {item["expected"], *item.get("also_ok", [])} - {None}
        rows.append(features.vector())
        right.append(1.0 if match.entry.entry_id in accepted else 0.0)
    answerable = sum(1 for q in questions if q["expected"])
    return np.asarray(rows), np.asarray(right), answerable, len(questions)


def main() -> None:
    x, y, answerable, total = fitting_points()
    weights = fit_logistic(x, y)
    p = 1.0 / (1.0 + np.exp(-(weights[0] + x @ weights[1:])))
    print(f"fitting splits {', '.join(FIT_SPLITS)}: {total} questions, {answerable} answerable")
    print(f"top-1 right {y.sum() / answerable:.1%}")
    chosen = None
    for step in range(30, 96):
        threshold = step / 100
        confident = p >= threshold
        right = float((confident & (y == 1)).sum()) / answerable
        wrong = float((confident & (y == 0)).sum()) / total
        marker = ""
        if chosen is None and wrong <= MAX_WRONG_CONFIDENT:
            chosen = threshold
            marker = "   <- lowest within the wrong-answer limit"
        print(f"threshold {threshold:.2f}: right {right:6.1%}  wrong {wrong:5.1%}{marker}")
    print("semantic_coefficients = (" + ", ".join(f"{w:.3f}" for w in weights) + ")")
    print(f"semantic_min_confidence = {chosen}")


if __name__ == "__main__":
    main()
