"""Fits the semantic confidence model and its threshold, and writes them to ``bot/answers/confidence_model.json``.

Reads the labelled questions (``bot/answers/examples.json``; splits in :mod:`tools.answers.splits`): for each
question, the features of the top-ranked entry (:class:`bot.answers.calibration.SemanticFeatures`) and whether that
entry is right. The questions are also the index's examples (:mod:`bot.answers.examples`) and the encoder adapter's
training data (:mod:`bot.answers.adapter`), so each split is ranked by an index built without its own examples and
encoded with a fold adapter trained without it (:mod:`tools.answers.measure`). A logistic regression with a
little L2 regularisation (Newton's method, numpy) maps the features to the probability that the top entry is right.
The threshold is chosen by leave-one-split-out cross-validation: each split is scored by a model fitted on the
others, and the threshold is the lowest at which those held-out confident wrong answers stay within
``MAX_WRONG_CONFIDENT`` of all questions. (Choosing it on the fitted model's own scores gave a threshold that moved
by 0.05 when three FAQ phrasings changed, and overshot on unseen writers.) Prints both and each split's held-out
figures.

``make refit`` runs ``python -m tools.answers.fit_confidence --write`` (needs the model: ``make model``) after a
change to the ranker, its weights, the encoder, the FAQ or its examples: it fits again with the model it fitted
until a fit gives back the model it was made with (the naming guard in :mod:`bot.answers.naming` compares
confidences, so a refit can move the features a little; when the fits go round a short cycle, the one with the
highest threshold is kept, see :func:`settle`), then writes the file with the sha256 of the files it was fitted from
and of the syntax of the ranker's modules (:func:`fitted_from`), which ``tests/answers/test_artefacts.py`` checks on
any machine. The calibration test then refits: on another CPU a refit may land a threshold step away (ONNX Runtime's
last bits differ), which it accepts when the held-out figures agree; then it checks every split's held-out figures.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.answers import calibration as calibration_module
from bot.answers import faq
from bot.answers.calibration import DEFAULT_CALIBRATION, Calibration, SemanticFeatures
from tools.answers.folds import ADAPTER_FOLDS, SHIPPED
from tools.answers.measure import REPO, index_without
from tools.answers.splits import CALIBRATION_FILE, FIT_SPLITS, MAX_WRONG_CONFIDENT

MODEL_FILE = Path(calibration_module.__file__).with_name(calibration_module.CONFIDENCE_MODEL_FILE)
PROGRAMME_FAQ_FILE = Path(faq.__file__).with_name(faq.PROGRAMME_FAQ_RESOURCE)

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


def fitted_from() -> dict[str, str]:
    """What the confidence model is fitted from, by path from the repository: the sha256 of the FAQ, its examples
    and every encoder adapter there is, and (keys ``code:<path>``) the sha256 of the syntax of each module the fit
    runs (:func:`fitting_code`). So a change to any of them shows without refitting, on any machine: a refit's
    figures can differ in the last bits from one CPU to another, a digest cannot."""
    paths = [PROGRAMME_FAQ_FILE, CALIBRATION_FILE, SHIPPED, *sorted(ADAPTER_FOLDS.glob("*.npz"))]
    files = {
        path.resolve().relative_to(REPO).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in paths
        if path.exists()
    }
    return files | {f"code:{path.relative_to(REPO).as_posix()}": syntax_digest(path) for path in fitting_code()}


FITTING_PACKAGES = ("bot.answers", "tools.answers")  # the code whose changes can change the fit: the ranker's


def fitting_code(start: str = "tools.answers.fit_confidence") -> list[Path]:
    """The source files of ``start`` and every module of :data:`FITTING_PACKAGES` it imports, directly or not."""
    found: dict[str, Path] = {}
    pending = [start]
    while pending:
        name = pending.pop()
        path = _source_of(name)
        if path is None or name in found:
            continue
        found[name] = path
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                pending.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                pending.append(node.module)
                pending.extend(f"{node.module}.{alias.name}" for alias in node.names)  # a submodule, if it is one
    return sorted(found.values())


def _source_of(module: str) -> Path | None:
    if not module.startswith(tuple(f"{package}." for package in FITTING_PACKAGES)):
        return None
    path = REPO.joinpath(*module.split("."))
    return path.with_suffix(".py") if path.with_suffix(".py").is_file() else None


def syntax_digest(path: Path) -> str:
    """The sha256 of a module's syntax tree without its docstrings, written out as :func:`_canonical` does: comments,
    docstrings and layout can change without a refit, any change to what the code does cannot, and the digest is the
    same on every Python from 3.11 on."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and isinstance(body, list)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(_canonical(tree).encode("utf-8")).hexdigest()


def _canonical(node: object) -> str:
    """A syntax tree as text, leaving out fields that are None or empty: ``ast.dump`` shows fields that later
    Pythons added (3.12's ``type_params``) or stopped showing (3.13 leaves out empty ones), so its text, and a digest
    of it, would differ from one Python to the next for the same code."""
    if isinstance(node, ast.AST):
        fields = ",".join(
            f"{name}={_canonical(value)}" for name, value in ast.iter_fields(node) if value is not None and value != []
        )
        return f"{type(node).__name__}({fields})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(item) for item in node) + "]"
    return repr(node)


def fitting_points(
    calibration: Calibration = DEFAULT_CALIBRATION,
) -> tuple[_Floats, _Floats, npt.NDArray[np.str_], dict[str, tuple[int, int]]]:
    """Features of the top entry and whether it is right, per fitting question, with the question's split; and per
    split, (answerable questions, all questions)."""
    questions = [
        q for q in json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["questions"] if q["split"] in FIT_SPLITS
    ]
    rows: list[tuple[float, ...]] = []
    right: list[float] = []
    splits: list[str] = []
    indexes = {name: index_without(name, calibration) for name in FIT_SPLITS}
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


THRESHOLDS = tuple(step / 100 for step in range(30, 96))  # the thresholds a fit chooses from
THRESHOLD_STEP = 0.01  # between two of them


def choose_threshold(p: _Floats, y: _Floats, answerable: int, total: int) -> float | None:
    """The lowest of :data:`THRESHOLDS` at which confident wrong answers stay within the limit."""
    for threshold in THRESHOLDS:
        if rates(p, y, threshold, answerable, total)[1] <= MAX_WRONG_CONFIDENT:
            return threshold
    return None


def held_out_by_split(
    p: _Floats, y: _Floats, splits: npt.NDArray[np.str_], counts: dict[str, tuple[int, int]], threshold: float
) -> dict[str, tuple[float, float]]:
    """Per split, :func:`rates` at ``threshold``."""
    return {name: rates(p, y, threshold, *count, among=splits == name) for name, count in counts.items()}


def write(weights: _Floats, threshold: float, held_out: tuple[float, float]) -> None:
    """Writes the fitted model, with what it was fitted from, to ``bot/answers/confidence_model.json``."""
    model = {
        "description": (
            "The FAQ ranker's confidence model (bot/answers/calibration.py): a logistic regression over "
            "SemanticFeatures, intercept first, and the threshold that its leave-one-split-out cross-validation "
            "keeps within the confident-wrong limit; written by make refit (tools/answers/fit_confidence.py)."
        ),
        "coefficients": [round(float(w), 3) for w in weights],
        "threshold": threshold,
        "held_out": {"answered_right": round(held_out[0], 4), "wrong_confident": round(held_out[1], 4)},
        "fitted_from": fitted_from(),
    }
    MODEL_FILE.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {MODEL_FILE}")


State = tuple[tuple[float, ...], float]  # (coefficients, threshold)


def fit_state(calibration: Calibration) -> State:
    """The coefficients and threshold fitted with ``calibration`` in the index."""
    x, y, splits, counts = fitting_points(calibration)
    answerable = sum(a for a, _ in counts.values())
    total = sum(t for _, t in counts.values())
    weights = tuple(round(float(w), 3) for w in fit_logistic(x, y))
    threshold = choose_threshold(held_out_probabilities(x, y, splits), y, answerable, total)
    if threshold is None:
        raise SystemExit("no threshold keeps the held-out confident wrong answers within the limit")
    return weights, threshold


def with_state(calibration: Calibration, state: State) -> Calibration:
    weights, threshold = state
    return dataclasses.replace(calibration, semantic_coefficients=weights, semantic_min_confidence=threshold)


def settle(start: Calibration, rounds: int = 6, fit: Callable[[Calibration], State] = fit_state) -> State:
    """Fits, then fits again with the fitted model in the index, until a fit gives back the model it was made with.

    The naming guard compares confidences with the threshold, so a fit can move the features it is fitted on; near
    the limit the fits can go round a short cycle of models (a threshold step apart) instead of settling. Then the
    one with the highest threshold is kept: fewer confident answers, so fewer confident wrong ones. The calibration
    test accepts a model that is either a fixed point or the highest member of such a cycle."""
    state: State = (start.semantic_coefficients, start.semantic_min_confidence)
    seen: list[State] = [state]  # the model we start from may be a member of the cycle too
    for _ in range(rounds):
        fitted = fit(with_state(start, state))
        print(f"fitted: {fitted[0]}, threshold {fitted[1]}", flush=True)
        if fitted == state:
            return state
        if fitted in seen:
            cycle = seen[seen.index(fitted) :]
            chosen = max(cycle, key=lambda s: s[1])
            print(f"the fits go round {len(cycle)} models; keeping threshold {chosen[1]}", flush=True)
            return chosen
        seen.append(fitted)
        state = fitted
    raise SystemExit(f"the fit did not settle in {rounds} rounds")


def refit() -> None:
    """Settles the model (:func:`settle`) and writes it with its held-out figures."""
    state = settle(DEFAULT_CALIBRATION)
    x, y, splits, counts = fitting_points(with_state(DEFAULT_CALIBRATION, state))
    answerable = sum(a for a, _ in counts.values())
    total = sum(t for _, t in counts.values())
    held_out = held_out_probabilities(x, y, splits)
    write(np.asarray(state[0]), state[1], rates(held_out, y, state[1], answerable, total))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="fit until stable and write confidence_model.json")
    if parser.parse_args().write:
        refit()
        return
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
    for threshold in THRESHOLDS:
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
    print("coefficients: [" + ", ".join(f"{w:.3f}" for w in weights) + f"], threshold {chosen}")


if __name__ == "__main__":
    main()
