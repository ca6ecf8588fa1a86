"""The weekly digest: posted in each CoP's home channel on the CoP's day and time (its own time zone).

Commands (leads): ``digest`` previews privately, ``digest now`` posts, ``digest schedule <day> <HH:MM>``,
``digest off``, ``digest on``. The scheduled post is this module's ``run_due`` (see bot/jobs/scheduler.py): for
each CoP the latest weekly occurrence is claimed once per ISO week with a lease and queued under the outbox key
``digest|<cop>|<week>``, so two instances, a restart mid-run or a week of downtime give exactly one digest.

Data sources: members from the roster, open questions from the queries table, new FAQ entries from the FAQ
table. Events belong to a feature on another branch; its provider below returns nothing until it is wired in.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.core.turn import Role
from bot.domain import faq
from bot.domain.cops import Cop, cop_repo
from bot.domain.digest import DigestData, DigestEvent, HealthStats, NewFaq, NewMember, OpenQuestion, pick_highlight
from bot.domain.events import EventRepo
from bot.domain.faq import FaqRepo
from bot.domain.members import MembershipRepo
from bot.domain.queries import QueryRepo
from bot.jobs.leases import run_once
from bot.jobs.outbox import FLAG_PREFIX
from bot.jobs.scheduler import leases_of, next_weekly, parse_hhmm, weekly_occurrence, zone
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.digest import digest_card, schedule_text
from cards.elements import notice
from storage.base import Where

log = logging.getLogger(__name__)

JOB = "digest"
LEASE_TTL = timedelta(minutes=5)
WEEK = timedelta(days=7)
DAYS = {
    **{
        name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))
    },
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    "tues": 1,
    "weds": 2,
    "thur": 3,
    "thurs": 3,
}
USAGE = (
    "Use `digest`, `digest now`, `digest schedule <day> <HH:MM>` (e.g. `digest schedule monday 09:00`), "
    "`digest off` or `digest on`."
)
NO_COP = "Which CoP? Use this in the CoP's team channel (mention me), or in our chat if you lead exactly one CoP."
NOTHING = (
    "Nothing to report this week (no new members, upcoming events, open questions or new FAQ entries), "
    "so no digest would be posted."
)
NO_HOME = "This CoP has no home channel yet, so there is nowhere to post the digest. A lead can set one with `setup`."


# -- data providers -------------------------------------------------------------------------------------
async def upcoming_events(services: Services, cop_id: str, start: datetime, end: datetime) -> list[DigestEvent]:
    """Events starting in [start, end) with RSVP counts, soonest first; cancelled ones left out."""
    events = await EventRepo(services.store).between(cop_id, start, end)
    return [
        DigestEvent(e.title, e.start, e.going, kind=e.kind, capacity=e.capacity)
        for e in sorted(events, key=lambda e: e.start)
        if not e.cancelled
    ]


async def open_questions(services: Services, cop_id: str, now: datetime) -> list[OpenQuestion]:
    """Open queries still waiting for an answer, oldest first (bot/domain/queries.py)."""
    queries = await QueryRepo(services.store).of_cop(cop_id, open_only=True)
    return [OpenQuestion(q.text, q.created_at) for q in queries if q.is_open]


async def new_faq_entries(services: Services, cop_id: str, since: datetime, now: datetime) -> list[NewFaq]:
    """The CoP's FAQ entries added or edited since ``since`` (bot/domain/faq.py rows carry ``updated_at``)."""
    rows = await services.store.query(faq.TABLE, FaqRepo.partition(cop_id), [Where("updated_at", "gt", since)])
    return [NewFaq(str(row.get("question", ""))) for row in rows if row.row_key != faq.META and row.get("question")]


async def gather(services: Services, cop: Cop, now: datetime) -> DigestData:
    since = now - WEEK
    members = await MembershipRepo(services.store).members_of(cop.cop_id)
    joined = sorted((m for m in members if m.joined_at is not None and m.joined_at > since), key=lambda m: m.joined_at)
    stats = HealthStats(
        members=len(members),
        core=sum(1 for m in members if m.tier == "core"),
        joined_30d=sum(1 for m in members if m.joined_at is not None and m.joined_at > now - timedelta(days=30)),
        org_areas=len({m.org_area for m in members if m.org_area}),
    )
    return DigestData(
        cop_id=cop.cop_id,
        cop_name=cop.name,
        timezone=zone(cop.timezone, services.settings.tz).key,
        since=since,
        now=now,
        new_members=tuple(NewMember(m.name, m.tier, m.org_area) for m in joined),
        upcoming_events=tuple(await upcoming_events(services, cop.cop_id, now, now + timedelta(days=14))),
        open_questions=tuple(await open_questions(services, cop.cop_id, now)),
        new_faqs=tuple(await new_faq_entries(services, cop.cop_id, since, now)),
        highlight=pick_highlight(stats),
    )


async def post_digest(services: Services, cop: Cop, key: str, now: datetime) -> bool:
    """Queue the digest under ``key``; False when there is nothing to say or nowhere to say it."""
    if not cop.home_reference:
        log.info("digest skipped: no home channel cop_id=%s", cop.cop_id)
        return False
    card = digest_card(await gather(services, cop, now))
    if card is None:
        log.info("digest skipped: nothing to say cop_id=%s", cop.cop_id)
        return False
    return await services.outbox.enqueue(key, cop.home_reference, card, now, cop_id=cop.cop_id)


# -- the scheduled job ----------------------------------------------------------------------------------
async def run_due(services: Services, now: datetime) -> int:
    """Queue the digest of every CoP whose weekly time has come and whose week has not been done."""
    leases = leases_of(services)
    queued = 0
    for cop in await cop_repo(services).all():
        if not cop.digest_enabled:
            continue
        when, period = weekly_occurrence(now, zone(cop.timezone, services.settings.tz), cop.digest_day, cop.digest_time)
        if services.periods_done.latest(JOB, cop.cop_id) >= period or (
            cop.created_at is not None and when < cop.created_at
        ):
            continue
        posted: list[bool] = []

        async def work(cop: Cop = cop, period: str = period, posted: list[bool] = posted) -> None:
            posted.append(await post_digest(services, cop, f"digest|{cop.cop_id}|{period}", now))

        outcome = await run_once(
            leases, JOB, cop.cop_id, period, now, work, ttl=LEASE_TTL, context=f"cop_id={cop.cop_id}"
        )
        if outcome == "done" or (outcome == "skipped" and await leases.is_done(JOB, cop.cop_id, period)):
            services.periods_done.mark(JOB, period, cop.cop_id)
        queued += sum(posted)
    return queued


async def skip_current_week(services: Services, cop: Cop, now: datetime) -> datetime:
    """After a schedule change, a weekly time already past this week does not fire late: the next digest is
    the next occurrence. Returns that next occurrence (UTC)."""
    tz = zone(cop.timezone, services.settings.tz)
    _, period = weekly_occurrence(now, tz, cop.digest_day, cop.digest_time)
    leases = leases_of(services)
    lease = await leases.claim(JOB, cop.cop_id, period, now, LEASE_TTL)
    if lease is not None:
        await leases.finish(lease, now, note="schedule changed")
    return next_weekly(now, tz, cop.digest_day, cop.digest_time)


# -- commands -------------------------------------------------------------------------------------------
async def _cop(turn: Turn) -> Cop:
    return await turn.require_cop(NO_COP)


def _when(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(zone(timezone, ZoneInfo("Europe/London")))
    return f"{local:%A} {local.day} {local:%B} at {local:%H:%M}"


async def _record(turn: Turn, cop: Cop, action: str, detail: str = "") -> None:
    person = turn.request.person
    await audit.record(
        turn.services.store, cop.cop_id, turn.services.clock.now(), person.aad_id, person.name, action, detail
    )


async def _show_preview(turn: Turn, cop: Cop) -> None:
    services = turn.services
    now = services.clock.now()
    card = digest_card(await gather(services, cop, now), preview=True)
    if card is None:
        await turn.tell(NOTHING)
        return
    if turn.request.place.is_personal:
        await turn.respond.reply(card)
        return
    key = f"digest-preview|{cop.cop_id}|{turn.request.person.key}|{turn.request.activity_id}"
    await services.outbox.enqueue(
        key, turn.request.conversation_reference, card, now, cop_id=cop.cop_id, personal_for=turn.request.person
    )
    delivered = await services.outbox.deliver(key, now)
    await turn.tell(
        "I've sent you a preview in our personal chat."
        if delivered
        else "I'll send you a preview in our personal chat in a moment."
    )


async def _post_now(turn: Turn, cop: Cop, *, wait: bool) -> str:
    services = turn.services
    now = services.clock.now()
    if not cop.home_reference:
        return NO_HOME
    key = f"digest|{cop.cop_id}|now|{now:%Y%m%dT%H%M}"
    card = digest_card(await gather(services, cop, now))
    if card is None:
        return NOTHING
    if not await services.outbox.enqueue(key, cop.home_reference, card, now, cop_id=cop.cop_id):
        return "I posted the digest less than a minute ago."
    await _record(turn, cop, "digest.post")
    if wait and await services.outbox.deliver(key, now):
        return "Posted this week's digest in the CoP's channel."
    return "The digest is on its way to the CoP's channel."


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("digest", help="Preview this week's digest (only you see it)", role=Role.LEAD)
    async def preview(turn: Turn) -> None:
        if turn.args.strip():
            await turn.tell(f"I don't know `digest {turn.args.strip()[:40]}`. {USAGE}")
            return
        cop = await _cop(turn)
        await _show_preview(turn, cop)

    @router.command("digest now", help="Post this week's digest in the CoP's channel now", role=Role.LEAD)
    async def now(turn: Turn) -> None:
        cop = await _cop(turn)
        await turn.tell(await _post_now(turn, cop, wait=True))

    @router.action("digest.post", role=Role.LEAD)
    async def post_from_preview(turn: Turn) -> None:
        cop = await _cop(turn)
        message = await _post_now(turn, cop, wait=False)
        turn.respond.answer_action(notice(message, title="Weekly digest"))

    @router.command("digest schedule", help="Set the weekly digest day and time", role=Role.LEAD, usage="<day> <HH:MM>")
    async def schedule(turn: Turn) -> None:
        cop = await _cop(turn)
        parts = turn.args.replace(",", " ").split()
        if len(parts) != 2:
            current = schedule_text(cop.digest_enabled, cop.digest_day, cop.digest_time, cop.timezone)
            await turn.tell(f"Tell me a day and a time, e.g. `digest schedule monday 09:00`. {current}")
            return
        day = DAYS.get(parts[0].lower())
        at = parse_hhmm(parts[1])
        if day is None:
            await turn.tell(f"'{parts[0][:20]}' is not a day of the week. Use monday … sunday (or mon … sun).")
            return
        if at is None:
            await turn.tell(f"'{parts[1][:20]}' is not a time. Use 24-hour HH:MM, e.g. 09:00 or 16:30.")
            return
        hhmm = f"{at[0]:02d}:{at[1]:02d}"
        services = turn.services
        updated = await cop_repo(services).change(
            cop.cop_id,
            services.clock.now(),
            lambda c: replace(c, digest_day=day, digest_time=hhmm, digest_enabled=True),
        )
        if updated is None:
            await turn.tell(NO_COP)
            return
        next_at = await skip_current_week(services, updated, services.clock.now())
        services.periods_done.forget(JOB, cop.cop_id)
        await _record(turn, updated, "digest.schedule", f"{parts[0].lower()} {hhmm}")
        await turn.tell(
            f"{schedule_text(True, day, hhmm, updated.timezone)} The next one is on {_when(next_at, updated.timezone)}."
        )

    @router.command("digest off", help="Stop the weekly digest", role=Role.LEAD)
    async def off(turn: Turn) -> None:
        cop = await _cop(turn)
        if not cop.digest_enabled:
            await turn.tell("The weekly digest is already off. `digest on` turns it back on.")
            return
        services = turn.services
        await cop_repo(services).change(cop.cop_id, services.clock.now(), lambda c: replace(c, digest_enabled=False))
        await _record(turn, cop, "digest.off")
        await turn.tell("The weekly digest is off. `digest on` turns it back on.")

    @router.command("digest on", help="Turn the weekly digest back on", role=Role.LEAD)
    async def on(turn: Turn) -> None:
        cop = await _cop(turn)
        services = turn.services
        updated = await cop_repo(services).change(
            cop.cop_id, services.clock.now(), lambda c: replace(c, digest_enabled=True)
        )
        if updated is None:
            await turn.tell(NO_COP)
            return
        next_at = await skip_current_week(services, updated, services.clock.now())
        await _record(turn, updated, "digest.on")
        await turn.tell(
            f"{schedule_text(True, updated.digest_day, updated.digest_time, updated.timezone)} "
            f"The next one is on {_when(next_at, updated.timezone)}."
        )

    @router.on("installed")
    async def back_in_team(turn: Turn) -> None:
        """Reinstalled after a 403/404: deliver to the team again and lift the delivery flag."""
        team_id = turn.request.place.team_id
        if not team_id:
            return
        services = turn.services
        revived = await services.outbox.revive(team_id)
        cop = await cop_repo(services).get(team_id)
        if cop is not None and cop.flagged.startswith(FLAG_PREFIX):
            await cop_repo(services).change(team_id, services.clock.now(), lambda c: replace(c, flagged=""))
        if revived:
            log.info("delivery revived cop_id=%s targets=%d", team_id, revived)

    async def export(services: Services, aad_id: str) -> Any:
        return await services.outbox.export_person(aad_id)

    async def erase(services: Services, aad_id: str) -> None:
        await services.outbox.erase_person(aad_id)

    privacy.register("outbox", export, erase)
