"""Labelled staff questions: more ways to ask each programme entry, and questions the FAQ does not answer.

``examples.json`` beside this module holds ~1,500 questions written in staff voices (new starters, managers,
phone typing, people whose first language is not English...) by writers who saw only the programme's documents and
the FAQ's questions and answers. Each is labelled with the programme entry that answers it, or null when none does.
They were written to calibrate the ranker (``tests/answers/test_calibration.py``); the sentence-vector index uses
them as well, the way a "None" intent's utterances and extra example utterances are used in intent classifiers:

- a **labelled** question becomes one more phrasing of its programme entry (BM25 and vectors alike);
- an **unanswered** question is an out-of-scope example: how close the asker's question is to the nearest one,
  against how close it is to the best entry, is a feature of the confidence model
  (:class:`bot.answers.ranker.SemanticFeatures`), so "how do I book annual leave?" stays unsure even when an entry
  about leaving a CoP is its nearest neighbour.

Each question carries the ``split`` (batch of writing) it came from: the calibration tests build the index without
a split's own examples before scoring that split, so none is ever scored against itself. The lexical fallback
(no sentence model) does not use them: its threshold was calibrated on the FAQ's own phrasings.

Measured at 21b3f4c. Leave-one-split-out over the 15 splits there were, at <= 3 % wrong in cross-validation:
without examples 70.7 % of answerable questions answered right with confidence; with them as phrasings 82.4 %; with
the out-of-scope feature too 90.3 %. Decided on a fresh split written for it (holdout-14; rule set before it was
written): right 49.4 % -> 86.7 %, wrong 2.9 % -> 3.8 % (3 -> 4 questions), top-1 90.4 % -> 94.0 %. Later fresh
splits, each scored once before joining: holdout-15 75.0 / 2.8, holdout-16 89.4 / 4.8, holdout-17 70.5 / 11.9,
holdout-18 71.4 / 7.5, holdout-19 78.8 / 5.9, holdout-20 87.3 / 1.0 (with the encoder adapter, which also learns
from these questions: :mod:`bot.answers.adapter`). Over all 22 splits then, each held out: 92.0 % right, 3.0 %
wrong, top-1 96.5 %. With FAQ version 6, the near-miss split (out-of-scope questions that share words with an entry)
and holdout-21 (written from the programme's documents alone; first scored 82.9 / 6.1), over 24 splits: 90.2 %
right, 3.0 % wrong, top-1 95.9 %. See ``tests/answers/test_calibration.py`` and ``docs/faq-answers.md``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

EXAMPLES_RESOURCE = "examples.json"


class ExamplesFormatError(ValueError):
    """``examples.json`` is malformed; the message says where."""


@dataclass(frozen=True, slots=True)
class Examples:
    """What an index learns from labelled questions: extra phrasings per programme entry id, and out-of-scope
    questions. ``Examples()`` is none of either."""

    phrasings: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    out_of_scope: tuple[str, ...] = ()

    def phrasings_of(self, entry_id: str) -> tuple[str, ...]:
        return self.phrasings.get(entry_id, ())

    @property
    def texts(self) -> list[str]:
        """Every example, phrasings first (entry by entry), then the out-of-scope questions."""
        return [text for texts in self.phrasings.values() for text in texts] + list(self.out_of_scope)


def labelled_questions() -> list[dict[str, Any]]:
    """The questions of ``examples.json`` as written: ``{question, expected, also_ok, split}`` each."""
    resource = resources.files(__package__ or "bot.answers").joinpath(EXAMPLES_RESOURCE)
    try:
        data = json.loads(resource.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ExamplesFormatError(f"{EXAMPLES_RESOURCE}: cannot be read: {error}") from error
    questions = data.get("questions") if isinstance(data, dict) else None
    if not isinstance(questions, list):
        raise ExamplesFormatError(f"{EXAMPLES_RESOURCE}: 'questions' must be a list")
    for number, item in enumerate(questions):
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("question"), str)
            or not item["question"].strip()
            or not (item.get("expected") is None or isinstance(item["expected"], str))
            or not isinstance(item.get("split"), str)
        ):
            raise ExamplesFormatError(f"{EXAMPLES_RESOURCE}: questions[{number}] needs question, expected and split")
    return questions


def load_examples(*, without_split: str | None = None) -> Examples:
    """The shipped examples; ``without_split``: all but that split's (for scoring it as unseen). Read once per
    process (every index build asks)."""
    return _load(without_split)


@functools.cache
def _load(without_split: str | None) -> Examples:
    phrasings: dict[str, list[str]] = {}
    out_of_scope: list[str] = []
    for item in labelled_questions():
        if item["split"] == without_split:
            continue
        if item["expected"] is None:
            out_of_scope.append(item["question"])
        else:
            phrasings.setdefault(item["expected"], []).append(item["question"])
    return Examples({key: tuple(texts) for key, texts in phrasings.items()}, tuple(out_of_scope))
