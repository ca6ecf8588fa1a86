"""How a fresh split is scored (tools/answers/score_fresh.py): which replies count as right, wrong or abstaining."""

from __future__ import annotations

from typing import Any

from tools.answers.score_fresh import score

ROWS: list[dict[str, Any]] = [
    {"question": "how do I join?", "expected": "how-to-join"},
    {"question": "what do core members do?", "expected": "core-member-criteria", "also_ok": ["core-vs-wider"]},
    {"question": "who sponsors Events Management?", "expected": "cop-events", "directory": True},
    {"question": "is lunch provided?", "expected": None},
    {"question": "can I leave my job?", "expected": None},
    {"question": "what is a lead?", "expected": "leads-role"},
]


def test_entries_also_ok_and_directory_answers_count_as_right_and_out_of_scope_answers_as_wrong() -> None:
    got: list[tuple[str, str | None]] = [
        ("answer", "how-to-join"),  # right
        ("answer", "core-vs-wider"),  # right: also_ok
        ("directory", None),  # right: answered from the directory
        ("abstain", None),  # out of scope, abstained
        ("answer", "how-to-leave"),  # out of scope, answered: wrong
        ("answer", "sponsor-role"),  # answerable, wrong entry
    ]
    result = score(ROWS, got)
    assert (result.answerable, result.right, result.wrong) == (4, 3, 1)
    assert (result.out_of_scope, result.out_abstained, result.out_answered) == (2, 1, 1)
    assert result.lines()[2].startswith("answered wrongly with confidence, of all 6: 2 (33.3 %)")


def test_a_directory_question_answered_with_no_entry_is_a_miss_not_a_wrong_answer() -> None:
    result = score(ROWS[2:3], [("abstain", None)])
    assert (result.answerable, result.right, result.wrong) == (1, 0, 0)
    assert len(result.misses) == 1
    assert "no answer" in result.misses[0]
