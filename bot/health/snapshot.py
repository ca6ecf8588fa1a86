"""What the scorecard is computed from: small typed facts about one CoP at one moment.

Providers (bot/health/providers.py) gather these from storage; the engine (bot/health/engine.py) turns them
into ratings without any I/O. ``None`` always means "not measured" (the source is missing or has no data) and
is reported as "not enough data", never as zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.health.terms import Term

if TYPE_CHECKING:
    from bot.domain.cops import Cop


@dataclass(frozen=True)
class MembershipFacts:
    core: int
    wider: int
    by_area: Mapping[str, int]  # organisational area key -> members ("" = not given)
    joined_in_window: int  # joined within the growth window
    members_at_window_start: int | None  # from the trend history when it reaches back that far
    estimated_start: int  # members now who had joined by the window start (ignores leavers)
    wider_to_core_in_window: int

    @property
    def total(self) -> int:
        return self.core + self.wider


@dataclass(frozen=True)
class QueryFacts:
    asked: int  # queries asked in the window (Thresholds.queries_window_days)
    responded: int
    median_first_response_hours: float | None
    open_total: int
    open_past_target: int  # open, still without any response, and older than the answer target
    answer_target_hours: int


@dataclass(frozen=True)
class EventFacts:
    events_this_term: int
    lunch_and_learns_this_term: int
    last_core_meeting: datetime | None
    last_lead_sponsor_meeting: datetime | None
    feedback_average: float | None  # 1-5, over the events of the last six months
    feedback_count: int


@dataclass(frozen=True)
class SurveyFacts:
    survey_id: str
    invited: int
    responses: int | None  # None when held back (bot/domain/survey_disclosure.py), as is agree_share
    agree_share: float | None  # agree + strongly agree over all statements; None when hidden


@dataclass(frozen=True)
class ProjectFacts:
    total: int  # the CoP's registered projects, any status
    finished_with_outcome: int  # finished, with what changed and who uses it recorded
    finished_without_outcome: int


@dataclass(frozen=True)
class TrendPoint:
    day: str  # YYYY-MM-DD (Europe/London)
    members: int
    core: int
    median_response_hours: float | None


@dataclass(frozen=True)
class CopSnapshot:
    cop_id: str
    name: str
    status: str
    term: Term
    has_terms_of_reference: bool
    has_objectives: bool
    leads: int
    has_sponsor: bool
    members: MembershipFacts
    contributors_30d: int | None = None
    queries: QueryFacts | None = None
    faq_added_this_term: int | None = None
    events: EventFacts | None = None
    survey: SurveyFacts | None = None
    trend: tuple[TrendPoint, ...] = field(default_factory=tuple)
    gaps: tuple[str, ...] = ()  # sources that could not be read (e.g. "events: not installed")
    projects: ProjectFacts | None = None


def cop_fields(cop: Cop) -> dict[str, Any]:
    """What a snapshot takes from the CoP's own row (the rest comes from its sources)."""
    return {
        "cop_id": cop.cop_id,
        "name": cop.name,
        "status": cop.status,
        "has_terms_of_reference": bool(cop.terms_of_reference_url.strip()),
        "has_objectives": bool(cop.objectives.strip()),
        "leads": len(cop.leads),
        "has_sponsor": cop.sponsor is not None,
    }
