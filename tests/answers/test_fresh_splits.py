"""The fresh splits (tools/answers/fresh/, scored by tools/answers/score_fresh.py): each is well formed, names only
entries the programme FAQ has, and is not already among the examples the index holds (a fresh split joins them only
after it was scored once)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.answers.examples import labelled_questions
from bot.answers.faq import load_programme_faq
from tests.answers.model import REPO

FRESH = REPO / "tools" / "answers" / "fresh"
KEYS = {"question", "expected", "also_ok", "directory", "split", "near_copy"}


def _splits() -> list[Path]:
    return sorted(FRESH.glob("*.json"))


def _questions(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    description = data.get("description")
    assert isinstance(description, str), "say how it was written and scored"
    assert description.strip()
    questions = data["questions"]
    assert isinstance(questions, list)
    return questions


def test_there_are_fresh_splits() -> None:
    assert len(_splits()) >= 2


@pytest.mark.parametrize("path", _splits(), ids=lambda p: p.stem)
def test_a_fresh_split_is_well_formed_and_names_only_entries_the_faq_has(path: Path) -> None:
    ids = {entry.entry_id for entry in load_programme_faq()[1]}
    questions = _questions(path)
    assert len(questions) >= 100
    texts = [q["question"].strip().lower() for q in questions]
    assert len(set(texts)) == len(texts), "a question appears twice"
    for q in questions:
        assert set(q) <= KEYS, set(q) - KEYS
        assert q["split"] == path.stem
        assert isinstance(q["question"], str)
        assert q["question"].strip()
        assert q["expected"] is None or q["expected"] in ids, q["expected"]
        assert all(other in ids for other in q.get("also_ok", [])), q.get("also_ok")
        assert isinstance(q.get("directory", False), bool)
        assert 0.0 <= float(q.get("near_copy", 0.0)) <= 1.0
    answerable = [q for q in questions if q["expected"] or q.get("also_ok") or q.get("directory")]
    assert len(answerable) < len(questions), "some questions must be out of scope"


def test_a_split_not_yet_joined_is_not_among_the_examples() -> None:
    examples = labelled_questions()
    held = {q["question"].strip().lower() for q in examples}
    joined = {q["split"] for q in examples}
    waiting = [path for path in _splits() if path.stem not in joined]
    for path in waiting:
        seen = [q["question"] for q in _questions(path) if q["question"].strip().lower() in held]
        assert seen == [], f"{path.stem} is not joined, yet the examples hold {seen[:3]}"
