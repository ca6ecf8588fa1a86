"""Gather a CopSnapshot from storage: membership, trend and contributions (ours), open queries (queries), FAQ
entries (faq) and events, meetings and feedback (events).

Sources owned by other features are read through :class:`Sources`, so a test (or a deployment without a
feature) can supply its own; a source returning None is reported as a gap ("not measured yet"), never as zero.

Round trips per CoP: roster 1, trend 1, contributions 1, queries 1, FAQ 1, events and records 3, survey tally 1
(the survey index is read once and shared across CoPs by the programme view), plus 1 write a day for the trend
point.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain.cops import Cop
from bot.domain.events import EventRepo
from bot.domain.faq import TABLE as FAQ_TABLE
from bot.domain.members import MembershipRepo
from bot.domain.projects import ProjectRepo
from bot.domain.queries import QueryRepo
from bot.domain.records import RecordRepo
from bot.domain.survey import Survey as SurveyRecord
from bot.domain.survey import SurveyRepo
from bot.domain.survey_rounds import latest_shown
from bot.health import history
from bot.health.snapshot import (
    CopSnapshot,
    EventFacts,
    MembershipFacts,
    ProjectFacts,
    QueryFacts,
    SurveyFacts,
    TrendPoint,
    cop_fields,
)
from bot.health.terms import Term, configured_terms, current_term
from bot.health.thresholds import Thresholds
from storage.base import TableStore, Where, encode_key

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

TREND_DAYS = 182
FEEDBACK_WINDOW_DAYS = 180  # event feedback counted over the last half year (a term has too few ratings)


@dataclass(frozen=True)
class QueryReading:
    facts: QueryFacts
    contributors: frozenset[str]  # AAD ids who asked or first-answered within the contributors window


QuerySource = Callable[[TableStore, Cop, datetime, Thresholds], Awaitable[QueryReading | None]]
FaqSource = Callable[[TableStore, Cop, datetime], Awaitable[int | None]]
EventSource = Callable[[TableStore, Cop, datetime, datetime, datetime], Awaitable[EventFacts | None]]


async def default_queries(store: TableStore, cop: Cop, now: datetime, t: Thresholds) -> QueryReading | None:
    queries = await QueryRepo(store).of_cop(cop.cop_id)
    since = now - timedelta(days=t.queries_window_days)
    window = [q for q in queries if q.created_at >= since]
    delays = [
        (q.first_response_at - q.created_at).total_seconds() / 3600 for q in window if q.first_response_at is not None
    ]
    target = timedelta(hours=cop.answer_target_hours)
    recent = now - timedelta(days=t.contributors_window_days)
    who: set[str] = set()
    for q in queries:
        if q.created_at >= recent and q.asker_aad:
            who.add(q.asker_aad)
        if q.first_response_at is not None and q.first_response_at >= recent and q.first_responder_aad:
            who.add(q.first_responder_aad)
    facts = QueryFacts(
        asked=len(window),
        responded=len(delays),
        median_first_response_hours=statistics.median(delays) if delays else None,
        open_total=sum(1 for q in queries if q.is_open),
        open_past_target=sum(
            1 for q in queries if q.is_open and q.first_response_at is None and now - q.created_at > target
        ),
        answer_target_hours=cop.answer_target_hours,
    )
    return QueryReading(facts, frozenset(who))


async def default_faq(store: TableStore, cop: Cop, term_start: datetime) -> int | None:
    """FAQ entries of the CoP added or changed since the term began (the FAQ rows carry ``updated_at``)."""
    rows = await store.query(FAQ_TABLE, encode_key(cop.cop_id), [Where("updated_at", "ge", term_start)])
    return sum(1 for row in rows if not row.row_key.startswith("_"))


async def default_events(
    store: TableStore, cop: Cop, term_start: datetime, term_end: datetime, now: datetime
) -> EventFacts | None:
    """Three partition queries: the CoP's events, its feedback rows, and what leads recorded of past activities
    and meetings held elsewhere (bot/domain/records.py), which count exactly like events."""
    repo = EventRepo(store)
    all_events, feedback, records = await asyncio.gather(
        repo.of_cop(cop.cop_id), repo.feedback(cop.cop_id), RecordRepo(store).of_cop(cop.cop_id)
    )
    events = [e for e in all_events if not e.cancelled]
    held = [e for e in events if e.start <= now]
    starts = [(e.kind, e.start) for e in events] + [(r.kind, r.held_at) for r in records]

    def last(kind: str) -> datetime | None:
        found = [start for k, start in starts if k == kind and start <= now]
        return max(found) if found else None

    in_term = [(kind, start) for kind, start in starts if term_start <= start < term_end]
    recent = {e.event_id for e in held if e.start >= now - timedelta(days=FEEDBACK_WINDOW_DAYS)}
    ratings = [f.rating for f in feedback if f.event_id in recent and 1 <= f.rating <= 5]
    return EventFacts(
        events_this_term=len(in_term),
        lunch_and_learns_this_term=sum(1 for kind, _ in in_term if kind == "lunch_and_learn"),
        last_core_meeting=last("core_meeting"),
        last_lead_sponsor_meeting=last("lead_sponsor"),
        feedback_average=sum(ratings) / len(ratings) if ratings else None,
        feedback_count=len(ratings),
    )


async def default_projects(store: TableStore, cop: Cop) -> ProjectFacts | None:
    """One partition query: the CoP's projects (bot/domain/projects.py)."""
    projects = await ProjectRepo(store).of_cop(cop.cop_id)
    finished = [p for p in projects if p.status == "finished"]
    with_outcome = sum(1 for p in finished if p.outcome is not None)
    return ProjectFacts(len(projects), with_outcome, len(finished) - with_outcome)


@dataclass(frozen=True)
class Sources:
    queries: QuerySource = default_queries
    faq: FaqSource = default_faq
    events: EventSource = default_events
    projects: Callable[[TableStore, Cop], Awaitable[ProjectFacts | None]] = default_projects


def sources_of(services: Services) -> Sources:
    """Where the scorecard reads its facts: the stored features', unless a test supplied its own."""
    return services.health_sources or Sources()


def membership_facts(
    members: Sequence[Any], trend: Sequence[TrendPoint], now: datetime, t: Thresholds, tz: ZoneInfo
) -> MembershipFacts:
    window_start = now - timedelta(days=t.growth_window_days)
    start_day = history.day_key(window_start, tz)
    earlier = [p for p in trend if p.day <= start_day]
    by_area: dict[str, int] = {}
    for m in members:
        by_area[m.org_area] = by_area.get(m.org_area, 0) + 1
    return MembershipFacts(
        core=sum(1 for m in members if m.tier == "core"),
        wider=sum(1 for m in members if m.tier != "core"),
        by_area=by_area,
        joined_in_window=sum(1 for m in members if m.joined_at >= window_start),
        members_at_window_start=earlier[-1].members if earlier else None,
        estimated_start=sum(1 for m in members if m.joined_at < window_start),
        wider_to_core_in_window=sum(
            1
            for m in members
            if m.tier == "core" and m.was_wider and m.tier_changed_at is not None and m.tier_changed_at >= window_start
        ),
    )


async def survey_facts(
    store: TableStore, cop_id: str, surveys: Sequence[SurveyRecord], t: Thresholds, now: datetime
) -> SurveyFacts | None:
    """The CoP's latest survey that has opened (its results so far when still open)."""
    found = await latest_shown(store, cop_id, surveys, t.survey_min_responses, now)
    if found is None:
        return None
    latest, tally = found  # tally None: under the minimum, or held back so a smaller CoP's stays hidden
    if tally is None:
        return SurveyFacts(latest.survey_id, latest.invited, None, None)
    return SurveyFacts(latest.survey_id, latest.invited, tally.responses, tally.overall_agree_share)


async def gather(
    store: TableStore,
    cop: Cop,
    now: datetime,
    *,
    settings: Any,
    signing_key: str,
    thresholds: Thresholds,
    sources: Sources,
    surveys: Sequence[SurveyRecord] | None = None,
    record_trend: bool = True,
) -> CopSnapshot:
    tz = ZoneInfo(cop.timezone or "Europe/London")
    term: Term = current_term(now, configured_terms(settings, now.date()), tz)
    term_start, term_end = term.start(tz), term.end(tz)
    gaps: list[str] = []

    async def latest_survey() -> SurveyFacts | None:
        known = surveys if surveys is not None else await SurveyRepo(store).all()
        return await survey_facts(store, cop.cop_id, known, thresholds, now)

    # independent reads, one round trip each, issued together: the scorecard costs the slowest, not the sum
    members_task = asyncio.ensure_future(MembershipRepo(store).members_of(cop.cop_id))
    trend_task = asyncio.ensure_future(
        history.trend(store, cop.cop_id, history.day_key(now - timedelta(days=TREND_DAYS), tz))
    )
    contributors_task = asyncio.ensure_future(
        history.contributors_since(store, cop.cop_id, now - timedelta(days=thresholds.contributors_window_days))
    )
    reading_task = asyncio.ensure_future(sources.queries(store, cop, now, thresholds))
    faq_task = asyncio.ensure_future(sources.faq(store, cop, term_start))
    events_task = asyncio.ensure_future(sources.events(store, cop, term_start, term_end, now))
    survey_task = asyncio.ensure_future(latest_survey())
    projects_task = asyncio.ensure_future(sources.projects(store, cop))
    tasks = (
        members_task,
        trend_task,
        contributors_task,
        reading_task,
        faq_task,
        events_task,
        survey_task,
        projects_task,
    )
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    members, trend, contributors = members_task.result(), trend_task.result(), contributors_task.result()
    reading, faq_added, events, survey = (
        reading_task.result(),
        faq_task.result(),
        events_task.result(),
        survey_task.result(),
    )
    if reading is None:
        gaps.append("questions: not tracked yet")
    else:
        contributors |= {history.contributor_marker(signing_key, aad) for aad in reading.contributors}
    if faq_added is None:
        gaps.append("FAQ: not available yet")
    if events is None:
        gaps.append("events and meetings: not recorded yet")
    facts = membership_facts(members, trend, now, thresholds, tz)
    today = history.day_key(now, tz)
    median = reading.facts.median_first_response_hours if reading is not None else None
    point = TrendPoint(today, facts.total, facts.core, median)
    if record_trend and (not trend or trend[-1] != point):
        await history.record_point(store, cop.cop_id, point)
    trend = [p for p in trend if p.day != today] + [point]
    return CopSnapshot(
        **cop_fields(cop),
        term=term,
        members=facts,
        contributors_30d=len(contributors),
        queries=reading.facts if reading is not None else None,
        faq_added_this_term=faq_added,
        events=events,
        survey=survey,
        trend=tuple(trend),
        gaps=tuple(gaps),
        projects=projects_task.result(),
    )
