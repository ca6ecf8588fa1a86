"""A weekly note to the programme admins, privately, on Monday from 09:00 (default time zone): CoPs with fewer
than two leads or no sponsor, lead-sponsor meetings overdue, CoPs red in a health area for a whole term
(bot/health/red_streaks.py), proposals waiting for a decision and CoPs whose preparations are underway. Nothing is
sent in a week where nothing needs them. ``programme note`` shows this week's note at any time.

Once a week across instances and restarts: a lease per ISO week (job ``programme-note``) and outbox keys
``programmenote|<week>|<admin>``. A week missed while the bot was down is not replayed.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.core.turn import Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.proposals import ProposalRepo
from bot.features.governance import meetings
from bot.features.programme_areas import area_context
from bot.features.proposals import admin_person
from bot.health import red_streaks
from bot.health.summary import programme_rows
from bot.health.terms import configured_terms
from bot.jobs.leases import run_once
from bot.jobs.scheduler import leases_of, weekly_occurrence
from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.programme_note import NoteView, programme_note_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

JOB = "programme-note"
WEEKDAY, AT = 0, "09:00"  # Monday 09:00


def _day(moment: datetime, services: Services) -> str:
    local = moment.astimezone(services.settings.tz)
    return f"{local.day} {local:%b %Y}"


def governance_gaps(cop: Cop) -> str | None:
    leads = len(cop.leads)
    gaps = [f"{leads} lead{'s' if leads != 1 else ''}"] if leads < 2 else []
    if cop.sponsor is None:
        gaps.append("no sponsor")
    return f"{cop.name}: {', '.join(gaps)}" if gaps else None


async def overdue_meeting(services: Services, cop: Cop, now: datetime) -> str | None:
    weeks = services.settings.lead_sponsor_max_weeks
    met = await meetings(services, cop.cop_id, now - timedelta(days=400), now)
    held = [m for m in met.lead_sponsor if m <= now]
    if not held:
        return f"{cop.name}: no lead-sponsor meeting recorded"
    last = max(held)
    if now - last <= timedelta(weeks=weeks):
        return None
    days = (now.astimezone(services.settings.tz).date() - last.astimezone(services.settings.tz).date()).days
    return f"{cop.name}: last met {_day(last, services)} ({days // 7} weeks ago)"


async def compose(services: Services, now: datetime, *, record: bool) -> NoteView:
    """This week's note. ``record``: update the red streaks with this check (the weekly run does; a preview
    only reads them)."""
    tz = services.settings.tz
    cops = await cop_repo(services).all()
    rows, proposals, context = await asyncio.gather(
        programme_rows(services), ProposalRepo(services.store).all(), area_context(services)
    )
    terms = configured_terms(services.settings, now.astimezone(tz).date())
    red: list[str] = []
    for row in rows:
        if record:
            since = await red_streaks.update(services.store, row.cop_id, row.ratings, now)
        else:
            red_now = [title for title, rating in row.ratings if rating == "red"]
            since = await red_streaks.current(services.store, row.cop_id, red_now)
        whole = red_streaks.red_whole_term(since, terms, now, tz)
        if whole:
            red.append(f"{row.name}: {', '.join(whole)}")
    overdue = await asyncio.gather(*(overdue_meeting(services, cop, now) for cop in cops))
    local = now.astimezone(tz).date()
    return NoteView(
        week_of=local - timedelta(days=local.weekday()),
        governance=tuple(g for g in map(governance_gaps, sorted(cops, key=lambda c: c.name.lower())) if g),
        overdue=tuple(sorted(o for o in overdue if o)),
        red=tuple(red),
        proposals=tuple(
            f"{p.name} (proposed {_day(p.created_at, services)} by {p.proposer.name or 'former member'})"
            for p in proposals
            if p.status == "pending"
        ),
        preparing=tuple(
            f"{c.name}: {sum(s.done for s in c.steps)} of {len(c.steps)} steps done" for c in context.preparing
        ),
    )


async def send(services: Services, now: datetime, week: str) -> int:
    note = await compose(services, now, record=True)
    if note.empty:
        log.info("programme note: nothing this week week=%s", week)
        return 0
    reference = next((c.home_reference for c in await cop_repo(services).all() if c.home_reference), None)
    if reference is None:
        log.info("programme note skipped: no conversation in the tenant to reach the admins from week=%s", week)
        return 0
    card = programme_note_card(note)
    queued = 0
    for aad in sorted(services.settings.programme_admins):
        admin = await admin_person(services, aad)
        queued += await services.outbox.enqueue(f"programmenote|{week}|{aad}", reference, card, now, personal_for=admin)
    return queued


async def run_due(services: Services, now: datetime) -> int:
    _, week = weekly_occurrence(now, services.settings.tz, WEEKDAY, AT)
    if services.periods_done.is_done(JOB, week) or not services.settings.programme_admins:
        return 0
    done: list[int] = []

    async def work() -> None:
        done.append(await send(services, now, week))

    leases = leases_of(services)
    outcome = await run_once(leases, JOB, "weekly", week, now, work, ttl=timedelta(minutes=10))
    if outcome == "done" or (outcome == "skipped" and await leases.is_done(JOB, "weekly", week)):
        services.periods_done.mark(JOB, week)
    return sum(done)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("programme note", help="This week's note: what needs the programme team", role=Role.ADMIN)
    async def preview(turn: Turn) -> None:
        note = await compose(turn.services, turn.services.clock.now(), record=False)
        await turn.respond.reply(programme_note_card(note))
