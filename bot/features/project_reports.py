"""``projects export``: the projects and their outcomes as CSV for reports to sponsors and senior leadership. A lead
gets their CoP's projects, a programme admin every CoP's. The file names project leads and participants, so its
signed link lives 15 minutes (like ``members export``); every cell that a spreadsheet would run as a formula is made
plain text."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from bot.core.turn import Role
from bot.domain.cops import Cop, PersonRef, cop_repo
from bot.domain.projects import STATUSES, Project, ProjectRepo
from bot.features.programme import safe_cell
from bot.routing.router import Router, Turn
from bot.security.links import Download, Links
from cards.projects import export_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

KIND = "projects.csv"
TTL = timedelta(minutes=15)
ALL = "*"  # the link's scope for a programme admin: every CoP
HEADER = (
    "CoP",
    "Project",
    "Status",
    "Goal",
    "Led by",
    "Taking part",
    "Start",
    "End",
    "Updates",
    "What changed",
    "Who uses it",
    "Case study",
    "Links",
    "Outcome recorded (UTC)",
)


def _names(people: Sequence[PersonRef]) -> str:
    return "; ".join(p.name for p in people)


def projects_csv(rows: Sequence[tuple[str, Project]]) -> bytes:
    """(CoP name, project) rows as CSV, finished projects with outcomes first."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for cop_name, p in sorted(rows, key=lambda r: (not r[1].has_impact, r[0].lower(), r[1].title.lower())):
        o = p.outcome
        writer.writerow(
            [
                safe_cell(cop_name),
                safe_cell(p.title),
                STATUSES[p.status],
                safe_cell(p.goal),
                safe_cell(_names(p.leads)),
                safe_cell(_names(p.participants)),
                p.start.isoformat() if p.start else "",
                p.end.isoformat() if p.end else "",
                len(p.updates),
                safe_cell(o.changed) if o else "",
                safe_cell(o.users) if o else "",
                safe_cell(o.case_study) if o else "",
                safe_cell(" ".join(o.links)) if o else "",
                o.recorded_at.isoformat() if o else "",
            ]
        )
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 names correctly


async def rows_for(services: Services, cops: Sequence[Cop]) -> list[tuple[str, Project]]:
    repo = ProjectRepo(services.store)
    found = await asyncio.gather(*(repo.of_cop(c.cop_id) for c in cops))
    return [(cop.name, p) for cop, projects in zip(cops, found, strict=True) for p in projects]


def register_reports(router: Router, links: Links) -> None:
    @router.command("projects export", help="Projects and outcomes as CSV, for reports", role=Role.LEAD)
    async def export(turn: Turn) -> None:
        services = turn.services
        if turn.role >= Role.ADMIN and turn.request.place.is_personal:
            scope, title = ALL, "every CoP"
        elif turn.cop_id:
            cop = await cop_repo(services).get_cached(turn.cop_id)
            if cop is None:
                await turn.tell("I don't know that CoP yet.")
                return
            scope, title = cop.cop_id, cop.name
        else:
            await turn.tell("Which CoP? Use **projects export** in the CoP's channel.")
            return
        url = links.link(services, KIND, {"c": scope}, TTL)
        log.info("projects export link cop_id=%s", "all" if scope == ALL else scope)
        await turn.respond.reply(export_card(title, url, int(TTL.total_seconds() // 60)))

    @links.producer(KIND)
    async def produce(services: Services, params: Mapping[str, Any]) -> Download | None:
        scope = params.get("c")
        if not isinstance(scope, str) or not scope:
            return None
        every = await cop_repo(services).all()
        cops = every if scope == ALL else [c for c in every if c.cop_id == scope]
        if not cops:
            return None
        stamp = f"{services.clock.now():%Y-%m-%d}"
        return Download("text/csv", f"cop-projects-{stamp}.csv", projects_csv(await rows_for(services, cops)))
