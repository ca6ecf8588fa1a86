"""``programme``: every CoP side by side for programme admins, and the same as CSV through a signed link.

The view rates each CoP from its indicator snapshot (bot/health/snapshots.py: every CoP's in one query; a CoP
whose snapshot a write has marked stale is recounted). It holds CoP-level figures only (no person is named), so
the CSV link may live for a day.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.core.turn import Role
from bot.domain.practice_areas import roll_up
from bot.features.programme_areas import area_context, rollup_csv
from bot.health.summary import ProgrammeRow, programme_rows
from bot.health.terms import configured_terms, current_term
from bot.routing.router import Router, Turn
from bot.security.links import Download, Links
from bot.security.privacy import PrivacyRegistry
from bot.security.report_links import report_link
from cards.programme import programme_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

CSV_KIND = "programme.csv"
AREAS_CSV_KIND = "programme-areas.csv"
CSV_TTL = timedelta(days=1)
CONCURRENCY = 8  # CoPs read at once: ~6 queries each, kept well under Azure Tables' per-partition limits
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """CSV cells that a spreadsheet would run as a formula get a leading apostrophe."""
    cell = "" if value is None else str(value)
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def to_csv(rows: Sequence[ProgrammeRow], area_of: Mapping[str, str] | None = None) -> bytes:
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
            "Projects finished with outcomes",
            "Practice area",
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
                "" if row.projects_with_outcomes is None else row.projects_with_outcomes,
                safe_cell((area_of or {}).get(row.cop_id, "")),
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
        areas_url = links.link(services, AREAS_CSV_KIND, {}, CSV_TTL) if rows else None
        context = await area_context(services)
        log.info("programme cops=%d activity_id=%s", len(rows), turn.request.activity_id)
        await turn.respond.reply(
            programme_card(
                rows,
                term.name,
                url,
                area_of=context.area_of,
                preparing=context.preparing,
                areas_csv_url=areas_url,
                report_url=report_link(services, turn.request.person.aad_id, "admin"),
            )
        )

    @links.producer(CSV_KIND)
    async def programme_csv(services: Services, params: Mapping[str, Any]) -> Download | None:
        rows = await programme_rows(services)
        stamp = f"{services.clock.now():%Y-%m-%d}"
        return Download("text/csv", f"cop-programme-{stamp}.csv", to_csv(rows, (await area_context(services)).area_of))

    @links.producer(AREAS_CSV_KIND)
    async def areas_csv(services: Services, params: Mapping[str, Any]) -> Download | None:
        rows, context = await programme_rows(services), await area_context(services)
        stamp = f"{services.clock.now():%Y-%m-%d}"
        return Download("text/csv", f"cop-practice-areas-{stamp}.csv", rollup_csv(roll_up(rows, context.area_of)))
