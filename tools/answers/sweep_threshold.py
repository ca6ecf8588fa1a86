"""Prints, for the tuning splits of the calibration set, how many questions would be answered rightly and wrongly
at a range of confidence thresholds; the ``holdout`` split is never read here.

Run ``python -m tools.answers.sweep_threshold`` after changing the ranker, its weights or the FAQ, and set
``Calibration.min_confidence`` inside the widest stretch where wrong answers stay under 3 % of all questions
while right answers stay at or above 90 % of the answerable ones.
"""

from __future__ import annotations

import json

from bot.answers.faq import load_programme_faq
from bot.answers.ranker import DEFAULT_CALIBRATION, FaqIndex
from tools.answers.splits import CALIBRATION_FILE
from tools.answers.splits import LEXICAL_TUNING_SPLITS as TUNING_SPLITS


def tune_points() -> tuple[list[tuple[float, bool]], int, int]:
    """(confidence of the top entry, is it right) per tuning question with a candidate; answerable; total."""
    _, entries = load_programme_faq()
    index = FaqIndex.build(entries, DEFAULT_CALIBRATION)
    questions = [
        q for q in json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["questions"] if q["split"] in TUNING_SPLITS
    ]
    points: list[tuple[float, bool]] = []
    for item in questions:
        matches = index.search(item["question"], 1)
        if matches:
            accepted = {item["expected"], *item.get("also_ok", [])} - {None}
            points.append((matches[0].confidence, matches[0].entry.entry_id in accepted))
    return points, sum(1 for q in questions if q["expected"]), len(questions)


def main() -> None:
    points, answerable, total = tune_points()
    print(f"tuning splits {', '.join(TUNING_SPLITS)}: {total} questions, {answerable} answerable")
    for step in range(20, 98, 2):
        threshold = step / 100
        right = sum(1 for c, ok in points if c >= threshold and ok)
        wrong = sum(1 for c, ok in points if c >= threshold and not ok)
        print(
            f"min_confidence {threshold:.2f}: right {right / answerable:6.1%}  wrong {wrong / total:5.1%}"
            f"{'   <- current' if abs(threshold - DEFAULT_CALIBRATION.min_confidence) < 0.01 else ''}"
        )


if __name__ == "__main__":
    main()
