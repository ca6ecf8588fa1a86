"""``programme``: every CoP side by side for programme admins, and the same as CSV through a signed link.

The view reads, per CoP, what the health scorecard reads (bot/health/providers.py), concurrently, with the
survey index read once for all CoPs. It holds CoP-level figures only (no person is named), so the CSV link may
live for a day.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.domain.cops import Cop, CopRepo
from bot.domain.survey import SurveyRepo
from bot.health.engine import scorecard
from bot.health.providers import gather, sources_of
from bot.health.snapshot import CopSnapshot
from bot.health.terms import configured_terms, current_term
from bot.health.thresholds import DEFAULT_THRESHOLDS
from bot.links import Download, Links
from bot.privacy import PrivacyRegistry
from bot.router import Router, Turn
from bot.turn import Role
from cards.programme import ProgrammeRow, programme_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

CSV_KIND = "programme.csv"
CSV_TTL = timedelta(days=1)
CONCURRENCY = 8  # CoPs read at once: ~6 queries each, kept well under Azure Tables' per-partition limits
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def row_of(snapshot: CopSnapshot, services: Services, cop: Cop) -> ProgrammeRow:
    now = services.clock.now()
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
    )


async def programme_rows(services: Services) -> list[ProgrammeRow]:
    cops = await CopRepo(services.store).all()
    surveys = await SurveyRepo(services.store).all()
    sources = sources_of(services.extras)
    now = services.clock.now()
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
        return row_of(snapshot, services, cop)

    return list(await asyncio.gather(*(one(c) for c in cops)))


def safe_cell(value: object) -> str:
    """CSV cells that a spreadsheet would run as a formula get a leading apostrophe."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def to_csv(rows: Sequence[ProgrammeRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    area_titles = [title for title, _ in rows[0].ratings] if rows else []
    writer.writerow(
        [
            "CoP",
            "Status",
            "Core members",
            "Wider members",
            "Net growth 90 days",
            "Health",
            *area_titles,
            "Events this term",
            "Lunch and Learns this term",
            "Open questions",
            "Median first response (hours)",
            "Survey % agree",
            "Survey responses",
        ]
    )
    for row in sorted(rows, key=lambda r: r.name.lower()):
        ratings = dict(row.ratings)
        writer.writerow(
            [
                safe_cell(row.name),
                safe_cell(row.status),
                row.core,
                row.wider,
                "" if row.net_growth_90d is None else row.net_growth_90d,
                safe_cell(row.health),
                *(ratings.get(title, "") for title in area_titles),
                "" if row.events_term is None else row.events_term,
                "" if row.lunch_and_learns_term is None else row.lunch_and_learns_term,
                "" if row.open_queries is None else row.open_queries,
                "" if row.median_response_hours is None else f"{row.median_response_hours:.1f}",
                "" if row.survey_agree is None else round(row.survey_agree * 100),
                "" if row.survey_responses is None else row.survey_responses,
            ]
        )
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 names correctly


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("programme", help="All CoPs side by side (CSV too)", role=Role.ADMIN)
    async def programme(turn: Turn) -> None:
        services = turn.services
        rows = await programme_rows(services)
        tz = services.settings.tz
        term = current_term(services.clock.now(), configured_terms(services.settings, services.clock.now().date()), tz)
        url = links.link(services, CSV_KIND, {}, CSV_TTL) if rows else None
        log.info("programme cops=%d activity_id=%s", len(rows), turn.request.activity_id)
        await turn.respond.reply(programme_card(rows, term.name, url))

    @links.producer(CSV_KIND)
    async def programme_csv(services: Services, params: Mapping[str, Any]) -> Download | None:
        rows = await programme_rows(services)
        stamp = f"{services.clock.now():%Y-%m-%d}"
        return Download("text/csv", f"cop-programme-{stamp}.csv", to_csv(rows))
