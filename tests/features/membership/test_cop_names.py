"""How ``join <words>`` finds a CoP by name (bot/domain/cop_names.py)."""

from __future__ import annotations

import pytest

from bot.domain.cop_names import cops_named, initials, name_words
from bot.domain.cops import Cop

NAMES = (
    "Data and Insight",
    "Internal Communications",
    "Digital Communications",
    "Project and Programme Management",
    "Widening Participation",
    "Appraisals & Inductions",
    "Events Management",
)
COPS = [Cop(cop_id=f"19:{i}@thread.tacv2", name=name, tenant_id="t", service_url="") for i, name in enumerate(NAMES)]


def named(query: str) -> list[str]:
    return [cop.name for cop in cops_named(query, COPS)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("data and insight", ["Data and Insight"]),
        ("Data & Insight", ["Data and Insight"]),
        ("the Data and Insight CoP", ["Data and Insight"]),
        ("data and insight community of practice", ["Data and Insight"]),
        ("insight", ["Data and Insight"]),
        ("programme management", ["Project and Programme Management"]),
        ("appraisals and inductions", ["Appraisals & Inductions"]),
        ("D&I", ["Data and Insight"]),
        ("d & i", ["Data and Insight"]),
        ("PPM", ["Project and Programme Management"]),
        ("wp cop", ["Widening Participation"]),
        ("A&I", ["Appraisals & Inductions"]),
        ("communications", ["Internal Communications", "Digital Communications"]),  # the caller offers both
        ("management", ["Project and Programme Management", "Events Management"]),
        ("", []),
        ("cop", []),  # nothing but filler
        ("finance", []),
        ("insight data", []),  # words out of order are not a name
        ("dim", []),  # not anyone's initials
        ("ma", []),  # "management" does not start every word
    ],
)
def test_cops_named(query: str, expected: list[str]) -> None:
    assert named(query) == expected


def test_an_exact_name_wins_over_names_that_contain_it() -> None:
    cops = [*COPS, Cop(cop_id="19:x@thread.tacv2", name="Data", tenant_id="t", service_url="")]
    assert [c.name for c in cops_named("data", cops)] == ["Data"]


def test_words_and_initials() -> None:
    assert name_words("The Data & Insight CoP!") == ("data", "and", "insight")
    assert initials("Project and Programme Management") == "ppm"
    assert initials("Community of Practice for Technicians") == "t"
