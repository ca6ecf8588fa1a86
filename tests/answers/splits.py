"""The calibration set's splits (``calibration.json``), in the order they were written, and what each is for.

``tune`` and ``holdout-1`` tuned the lexical (BM25-only) ranker. The semantic confidence model is fitted on every
split except the newest seven (``UNSEEN``), each written after the model was frozen and scored, in aggregate, to
measure it. Leave-one-split-out cross-validation over the fitting splits (``python -m
tests.answers.fit_confidence``) estimates how the model does on each of them as if it were unseen.
"""

from __future__ import annotations

from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
SPLITS = (
    "tune",
    "holdout-1",
    "holdout",
    "holdout-2",
    "holdout-3",
    "holdout-4",
    "holdout-5",
    "holdout-6",
    "holdout-7",
    "holdout-8",
    "holdout-9",
    "holdout-10",
    "holdout-11",
    "holdout-12",
    "holdout-13",
)
LEXICAL_TUNING_SPLITS = ("tune", "holdout-1")
UNSEEN = ("holdout-7", "holdout-8", "holdout-9", "holdout-10", "holdout-11", "holdout-12", "holdout-13")
FIT_SPLITS = tuple(split for split in SPLITS if split not in UNSEEN)
MIN_ANSWERED_RIGHT = 0.90  # the targets: share of answerable questions answered rightly with confidence
MAX_WRONG_CONFIDENT = 0.03  # ... and share of all questions answered wrongly with confidence
