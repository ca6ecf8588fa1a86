"""Governance reminders (seed: 2 to 4 leads and a sponsor; leads meet the sponsor at least every 6 weeks; core
members meet at least once a term). Checked once a month per CoP (a lease per CoP and month, taken on the first
weekday tick after 09:00 in the CoP's time zone) and sent privately to the leads and the sponsor through the
outbox under ``governance|<cop>|<month>|<person>``: at most one reminder per person per month, none when all
is well. ``governance`` shows the current check to a lead or sponsor.

Meetings come from the events feature (kinds "lead-sponsor meeting" and "core meeting") and from what leads
recorded of meetings held elsewhere (bot/domain/records.py). The monthly reminder leaves the lead-sponsor
meeting out: a daily check (bot/features/records.py) reminds once as the 6-week mark approaches.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import Term
from bot.core.turn import Person, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.events import meeting_starts
from bot.domain.records import RecordRepo, held_between
from bot.jobs.leases import run_once
from bot.jobs.scheduler import leases_of, zone
from bot.routing.router import Refusal, Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.governance import governance_card

log = logging.getLogger(__name__)

JOB = "governance"
LEASE_TTL = timedelta(minutes=10)
WORKDAY_START, WORKDAY_END = 9, 17


@dataclass(frozen=True)
class Meetings:
    known: bool  # False while no meeting source is wired: the meeting checks are skipped
    lead_sponsor: tuple[datetime, ...] = ()
    core: tuple[datetime, ...] = ()


async def meetings(services: Services, cop_id: str, since: datetime, until: datetime) -> Meetings:
    """Lead-sponsor and core meetings between ``since`` and ``until`` (held or scheduled, not cancelled)."""
    (lead_sponsor, core), records = await asyncio.gather(
        meeting_starts(services.store, cop_id, since, until), RecordRepo(services.store).of_cop(cop_id)
    )
    return Meetings(
        known=True,
        lead_sponsor=tuple(sorted((*lead_sponsor, *held_between(records, "lead_sponsor", since, until)))),
        core=tuple(sorted((*core, *held_between(records, "core_meeting", since, until)))),
    )


def _day(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%A} {local.day} {local:%B}"


def current_term(terms: Sequence[Term], today: date) -> Term | None:
    return next((term for term in terms if term[0] <= today <= term[1]), None)


def concerns(
    cop: Cop,
    met: Meetings,
    now: datetime,
    *,
    terms: Sequence[Term],
    max_weeks: int,
    tz: ZoneInfo,
    lead_sponsor: bool = True,
) -> list[str]:
    """What is out of line with the programme's governance rules, in words; empty when all is well."""
    found: list[str] = []
    leads = len(cop.leads)
    if leads < 2:
        found.append(f"The CoP has {'no leads' if leads == 0 else '1 lead'}; the programme asks for 2 to 4.")
    elif leads > 4:
        found.append(f"The CoP has {leads} leads; the programme asks for 2 to 4.")
    if cop.sponsor is None:
        found.append("The CoP has no sponsor. A lead can set one with `sponsor set @name`.")
    if met.known:
        held = [m for m in met.lead_sponsor if m <= now]
        # lead_sponsor=False: the monthly reminder leaves it to its own daily check (bot/features/records.py)
        if lead_sponsor and not held:
            found.append(f"No lead-sponsor meeting is recorded; leads should meet the sponsor every {max_weeks} weeks.")
        elif lead_sponsor and now - max(held) > timedelta(weeks=max_weeks):
            found.append(
                f"No lead-sponsor meeting in the last {max_weeks} weeks (the last was on {_day(max(held), tz)})."
            )
        term = current_term(terms, now.astimezone(tz).date())
        if term is not None:
            start = datetime.combine(term[0], datetime.min.time(), tzinfo=tz)
            end = datetime.combine(term[1] + timedelta(days=1), datetime.min.time(), tzinfo=tz)
            if not any(start <= m < end for m in met.core):
                found.append(
                    f"No core-member meeting held or planned this term ({term[0].day} {term[0]:%b} to "
                    f"{term[1].day} {term[1]:%b}); core members meet at least once a term."
                )
    return found


async def check_cop(services: Services, cop: Cop, now: datetime, *, lead_sponsor: bool = True) -> list[str]:
    tz = zone(cop.timezone, services.settings.tz)
    settings = services.settings
    since = now - timedelta(days=400)
    met = await meetings(services, cop.cop_id, since, now + timedelta(days=200))
    return concerns(
        cop,
        met,
        now,
        terms=settings.terms,
        max_weeks=settings.lead_sponsor_max_weeks,
        tz=tz,
        lead_sponsor=lead_sponsor,
    )


def recipients(cop: Cop) -> list[Person]:
    people = [*cop.leads, *([cop.sponsor] if cop.sponsor is not None else [])]
    seen: set[str] = set()
    out: list[Person] = []
    for ref in people:
        if ref.user_id and ref.aad_id not in seen:
            seen.add(ref.aad_id)
            out.append(Person(ref.user_id, ref.aad_id, ref.name))
    return out


async def remind(services: Services, cop: Cop, period: str, now: datetime) -> int:
    found = await check_cop(services, cop, now, lead_sponsor=False)
    if not found:
        return 0
    if not cop.home_reference:
        log.info("governance reminder skipped: no home channel to reach people from cop_id=%s", cop.cop_id)
        return 0
    card = governance_card(cop.name, found)
    queued = 0
    for person in recipients(cop):
        key = f"governance|{cop.cop_id}|{period}|{person.key}"
        queued += await services.outbox.enqueue(
            key, cop.home_reference, card, now, cop_id=cop.cop_id, personal_for=person
        )
    return queued


async def run_due(services: Services, now: datetime) -> int:
    """Once a month per CoP, on the first weekday tick in working hours (CoP time): remind if needed."""
    leases = leases_of(services)
    queued = 0
    for cop in await cop_repo(services).all():
        local = now.astimezone(zone(cop.timezone, services.settings.tz))
        if local.weekday() >= 5 or not WORKDAY_START <= local.hour < WORKDAY_END:
            continue
        period = f"{local:%Y-%m}"
        if services.periods_done.latest(JOB, cop.cop_id) >= period:
            continue  # done this month: no storage round trip every minute
        counted: list[int] = []

        async def work(cop: Cop = cop, period: str = period, counted: list[int] = counted) -> None:
            counted.append(await remind(services, cop, period, now))

        outcome = await run_once(
            leases, JOB, cop.cop_id, period, now, work, ttl=LEASE_TTL, context=f"cop_id={cop.cop_id}"
        )
        if outcome == "done" or (outcome == "skipped" and await leases.is_done(JOB, cop.cop_id, period)):
            services.periods_done.mark(JOB, period, cop.cop_id)
        queued += sum(counted)
    return queued


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("governance", help="Check the CoP's governance (leads, sponsor, meetings)", role=Role.SPONSOR)
    async def show(turn: Turn) -> None:
        if turn.cop_id is None:
            raise Refusal(
                "Which CoP? Use this in the CoP's team channel, or in our chat if you lead or sponsor one CoP."
            )
        cop = await turn.require_cop("I don't know that CoP yet.")
        found = await check_cop(turn.services, cop, turn.services.clock.now())
        await turn.respond.reply(governance_card(cop.name, found, reminder=False))
