"""The programme view's per-CoP figures (:class:`ProgrammeRow`), rated from each CoP's indicator snapshot.

Every CoP's digest is read in one query and the channel contributors in another (bot/health/snapshots.py), so
the view is current (a write marks its CoP's snapshot stale, and a stale one is recounted, not shown) and costs
two round trips when every snapshot is current. Rows hold CoP-level counts only: no person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.domain.cops import Cop, cop_repo
from bot.health import snapshots
from bot.health.engine import scorecard
from bot.health.snapshot import CopSnapshot
from bot.health.thresholds import DEFAULT_THRESHOLDS

if TYPE_CHECKING:
    from bot.services import Services


@dataclass(frozen=True)
class ProgrammeRow:
    cop_id: str
    name: str
    status: str
    core: int
    wider: int
    net_growth_90d: int | None  # None: not enough history
    health: str  # "4 green, 2 amber, 1 red"
    ratings: tuple[tuple[str, str], ...]  # (area title, rating)
    events_term: int | None
    lunch_and_learns_term: int | None
    open_queries: int | None
    median_response_hours: float | None
    survey_agree: float | None
    survey_responses: int | None
    projects_with_outcomes: int | None = None  # finished projects with their outcome recorded

    @property
    def members(self) -> int:
        return self.core + self.wider


@dataclass(frozen=True)
class Totals:
    cops: int
    core: int
    wider: int
    net_growth_90d: int
    events_term: int
    lunch_and_learns_term: int
    open_queries: int
    survey_responses: int
    ratings: dict[str, int]  # green/amber/red/none -> number of CoP areas


def totals(rows: Sequence[ProgrammeRow]) -> Totals:
    ratings = {"green": 0, "amber": 0, "red": 0, "none": 0}
    for row in rows:
        for _, rating in row.ratings:
            ratings[rating] = ratings.get(rating, 0) + 1
    return Totals(
        cops=len(rows),
        core=sum(r.core for r in rows),
        wider=sum(r.wider for r in rows),
        net_growth_90d=sum(r.net_growth_90d or 0 for r in rows),
        events_term=sum(r.events_term or 0 for r in rows),
        lunch_and_learns_term=sum(r.lunch_and_learns_term or 0 for r in rows),
        open_queries=sum(r.open_queries or 0 for r in rows),
        survey_responses=sum(r.survey_responses or 0 for r in rows),
        ratings=ratings,
    )


def row_of(snapshot: CopSnapshot, cop: Cop, now: datetime) -> ProgrammeRow:
    tz = ZoneInfo(cop.timezone or "Europe/London")
    sc = scorecard(snapshot, now, DEFAULT_THRESHOLDS, tz)
    m = snapshot.members
    start = m.members_at_window_start if m.members_at_window_start is not None else m.estimated_start
    survey = snapshot.survey
    return ProgrammeRow(
        cop_id=cop.cop_id,
        name=cop.name,
        status=cop.status,
        core=m.core,
        wider=m.wider,
        net_growth_90d=m.total - start if m.total or start else None,
        health=sc.summary,
        ratings=tuple((a.title, a.rating) for a in sc.areas),
        events_term=snapshot.events.events_this_term if snapshot.events else None,
        lunch_and_learns_term=snapshot.events.lunch_and_learns_this_term if snapshot.events else None,
        open_queries=snapshot.queries.open_total if snapshot.queries else None,
        median_response_hours=snapshot.queries.median_first_response_hours if snapshot.queries else None,
        survey_agree=survey.agree_share if survey else None,
        survey_responses=survey.responses if survey else None,
        projects_with_outcomes=snapshot.projects.finished_with_outcome if snapshot.projects else None,
    )


async def programme_rows(services: Services) -> list[ProgrammeRow]:
    """Every active CoP's row, from its current snapshot (recounted where the snapshot is not current)."""
    now = services.clock.now()
    cops = await cop_repo(services).all()
    found = await snapshots.scorecard_snapshots(services, cops, now)
    return [row_of(found[c.cop_id], c, now) for c in cops]
