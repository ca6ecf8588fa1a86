"""Per-CoP summary rows: the programme view's figures, kept in one partition so the view is one query when warm.

Table ``healthsummary``, partition ``cop``, one row per CoP (row key = encoded CoP id): the ProgrammeRow as JSON and
when it was computed. The programme view recomputes only the CoPs whose row is older than :data:`FRESH` (all of
them when cold), concurrently, and writes their rows back; the daily health job refreshes every row. So the
first admin of the day pays ~8 round trips per CoP and later views within 15 minutes pay 2-3 in total, across
every instance (the cache is the table, not process memory). Rows hold CoP-level counts only: no person.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain.codec import dumps, loads
from bot.domain.cops import Cop, cop_repo
from bot.domain.survey import SurveyRepo
from bot.health.engine import scorecard
from bot.health.providers import gather, sources_of
from bot.health.snapshot import CopSnapshot
from bot.health.thresholds import DEFAULT_THRESHOLDS
from storage.base import Row, encode_key

if TYPE_CHECKING:
    from bot.services import Services

TABLE = "healthsummary"
PARTITION = "cop"
FRESH = timedelta(minutes=15)
CONCURRENCY = 25  # CoPs computed at once (each issues its ~8 reads together)


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


def _from_json(data: Any) -> ProgrammeRow | None:
    if not isinstance(data, dict):
        return None
    try:
        data = {**data, "ratings": tuple((str(t), str(r)) for t, r in data.get("ratings", []))}
        return ProgrammeRow(**data)
    except (TypeError, ValueError):
        return None  # an older shape: recompute


def _fresh(row: Row | None, cop: Cop, now: datetime) -> ProgrammeRow | None:
    if row is None:
        return None
    at = row.get("computed_at")
    if not isinstance(at, datetime) or now - at > FRESH or at > now:
        return None
    found = _from_json(loads(row.get("row"), None))
    # the CoP's own record (name, status, leads) may have changed since: those come from the live registry
    if found is None or found.name != cop.name or found.status != cop.status:
        return None
    return found


async def compute(services: Services, cops: Sequence[Cop], now: datetime) -> list[ProgrammeRow]:
    """Compute the rows of ``cops`` now and store them."""
    if not cops:
        return []
    surveys = await SurveyRepo(services.store).all()
    sources = sources_of(services.extras)
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(cop: Cop) -> ProgrammeRow:
        async with gate:
            snapshot = await gather(
                services.store,
                cop,
                now,
                settings=services.settings,
                signing_key=services.settings.signing_key,
                thresholds=DEFAULT_THRESHOLDS,
                sources=sources,
                surveys=surveys,
            )
            row = row_of(snapshot, cop, now)
            await services.store.upsert(
                TABLE, PARTITION, encode_key(cop.cop_id), {"row": dumps(asdict(row)), "computed_at": now}
            )
            return row

    return list(await asyncio.gather(*(one(c) for c in cops)))


async def programme_rows(services: Services) -> list[ProgrammeRow]:
    """Every active CoP's row: fresh stored rows as they are, the others recomputed."""
    now = services.clock.now()
    cops, stored = await asyncio.gather(cop_repo(services).all(), services.store.query(TABLE, PARTITION))
    by_key = {row.row_key: row for row in stored}
    rows: dict[str, ProgrammeRow] = {}
    stale: list[Cop] = []
    for cop in cops:
        found = _fresh(by_key.get(encode_key(cop.cop_id)), cop, now)
        if found is None:
            stale.append(cop)
        else:
            rows[cop.cop_id] = found
    for row in await compute(services, stale, now):
        rows[row.cop_id] = row
    return [rows[c.cop_id] for c in cops]
