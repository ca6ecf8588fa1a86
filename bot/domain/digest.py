"""What a weekly digest says, as plain data: gathered by bot/features/digest.py, rendered by cards/digest.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class NewMember:
    name: str
    tier: str  # "core" | "wider"
    org_area: str = ""


@dataclass(frozen=True)
class DigestEvent:
    title: str
    starts_at: datetime
    going: int
    kind: str = ""
    capacity: int | None = None


@dataclass(frozen=True)
class OpenQuestion:
    text: str
    asked_at: datetime


@dataclass(frozen=True)
class NewFaq:
    question: str


@dataclass(frozen=True)
class HealthStats:
    """Roster numbers the highlight is chosen from."""

    members: int = 0
    core: int = 0
    joined_30d: int = 0
    org_areas: int = 0


@dataclass(frozen=True)
class DigestData:
    cop_id: str
    cop_name: str
    timezone: str  # dates in the card are shown in the CoP's time zone
    since: datetime  # the week covered: (since, now]
    now: datetime
    new_members: tuple[NewMember, ...] = ()
    upcoming_events: tuple[DigestEvent, ...] = ()  # the next 14 days, soonest first
    open_questions: tuple[OpenQuestion, ...] = ()  # oldest first
    new_faqs: tuple[NewFaq, ...] = ()
    highlight: str = ""

    @property
    def has_news(self) -> bool:
        """The highlight alone is not news: a digest with nothing else is not posted."""
        return bool(self.new_members or self.upcoming_events or self.open_questions or self.new_faqs)


def pick_highlight(stats: HealthStats) -> str:
    """One encouraging, true sentence about the CoP's health (the CoP health framework: vitality, sustainability)."""
    if stats.members == 0:
        return ""
    if stats.joined_30d >= 3:
        return f"The community grew by {stats.joined_30d} in the last 30 days to {stats.members} members."
    if stats.org_areas >= 3:
        return f"Members come from {stats.org_areas} different parts of the university."
    core = "1 core member" if stats.core == 1 else f"{stats.core} core members"
    return f"{stats.members} members, {core}."
