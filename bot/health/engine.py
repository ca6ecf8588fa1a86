"""The health scorecard: pure functions from a CopSnapshot, ``now`` and Thresholds to seven rated areas.

The CoP health framework has seven areas; each area here is rated by its measured indicators: the area takes the
worst rating among the indicators that could be measured, and is "not enough data" when none could. Every
indicator carries its figure, the reason for its rating and a suggested next action; an area's next action is
the one of its worst indicator. No I/O, no clock: tests drive this with hand-built snapshots.

The indicators are rated area by area in bot/health/indicators.py; this module assembles them into the scorecard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.health.indicators import (
    NO_DATA,
    Indicator,
    Rating,
    governance,
    impact,
    leadership,
    learning,
    purpose,
    sustainability,
    vitality,
)
from bot.health.snapshot import CopSnapshot
from bot.health.thresholds import Thresholds

RATING_ORDER: dict[Rating, int] = {"none": 0, "green": 1, "amber": 2, "red": 3}

AREAS: tuple[tuple[str, str], ...] = (
    ("purpose", "Purpose"),
    ("governance", "Governance and structure"),
    ("leadership", "Leadership"),
    ("vitality", "Vitality and interaction"),
    ("learning", "Learning and sharing"),
    ("impact", "Impact and value"),
    ("sustainability", "Sustainability"),
)
KEEP_GOING: dict[str, str] = {
    "purpose": "Revisit the objectives with members once a year so most can say what the CoP is for.",
    "governance": "Keep the lead team at 2-4 and invite members from any area that joins later.",
    "leadership": "Keep the lead-sponsor and core meetings in the calendar for next term.",
    "vitality": "Thank the members who answered questions this month in the next digest.",
    "learning": "Plan next term's Lunch and Learn now and turn answered threads into FAQ entries.",
    "impact": "Share the survey results and event feedback with the sponsor.",
    "sustainability": "Ask members to bring a colleague and talk about the CoP's future at the core meeting.",
}


@dataclass(frozen=True)
class Area:
    key: str
    title: str
    rating: Rating
    indicators: tuple[Indicator, ...]
    action: str

    @property
    def reasons(self) -> list[str]:
        return [i.reason for i in self.indicators]


@dataclass(frozen=True)
class Scorecard:
    cop_id: str
    name: str
    computed_at: datetime
    term_name: str
    areas: tuple[Area, ...]
    gaps: tuple[str, ...]

    def count(self, rating: Rating) -> int:
        return sum(1 for a in self.areas if a.rating == rating)

    @property
    def summary(self) -> str:
        """e.g. "4 green, 2 amber, 1 red" (areas without data said last)."""
        parts = [f"{self.count(r)} {r}" for r in ("green", "amber", "red") if self.count(r)]
        if self.count("none"):
            parts.append(f"{self.count('none')} {NO_DATA}")
        return ", ".join(parts) or NO_DATA

    def area(self, key: str) -> Area:
        return next(a for a in self.areas if a.key == key)


def worst(ratings: Sequence[Rating]) -> Rating:
    return max(ratings, key=lambda r: RATING_ORDER[r], default="none")


def scorecard(snapshot: CopSnapshot, now: datetime, thresholds: Thresholds, tz: ZoneInfo) -> Scorecard:
    """Rate the seven areas of the CoP health framework for one CoP."""
    measured: dict[str, list[Indicator]] = {
        "purpose": purpose(snapshot, thresholds),
        "governance": governance(snapshot, thresholds),
        "leadership": leadership(snapshot, now, thresholds, tz),
        "vitality": vitality(snapshot, thresholds),
        "learning": learning(snapshot, now, thresholds, tz),
        "impact": impact(snapshot, thresholds),
        "sustainability": sustainability(snapshot, thresholds),
    }
    areas: list[Area] = []
    for key, title in AREAS:
        indicators = measured[key]
        rating = worst([i.rating for i in indicators])
        if rating == "green":
            action = KEEP_GOING[key]
        else:
            ranked = sorted(indicators, key=lambda i: RATING_ORDER[i.rating], reverse=True)
            action = next((i.action for i in ranked if i.action), "Record activity so this area can be measured.")
        areas.append(Area(key, title, rating, tuple(indicators), action))
    return Scorecard(snapshot.cop_id, snapshot.name, now, snapshot.term.name, tuple(areas), snapshot.gaps)
