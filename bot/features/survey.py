"""``survey start`` / ``survey results``: the yearly impact survey (as in 2021), sent to members in personal
chat.

A lead starts it for their CoP, a programme admin for every CoP (one survey per CoP, one shared round). Members
get the statements through the outbox, answer on the card, get one reminder before the close date
(:func:`run_due`, called by the scheduler) and the answers are tallied anonymously (bot/domain/survey.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot import audit
from bot.domain.cops import Cop, cop_repo
from bot.domain.members import MembershipRepo
from bot.domain.roles import COP_KEY
from bot.domain.survey import (
    DEFAULT_OPEN_DAYS,
    MAX_OPEN_DAYS,
    MIN_OPEN_DAYS,
    REMIND_BEFORE_CLOSE,
    AlreadyAnswered,
    BadAnswers,
    Survey,
    SurveyClosed,
    SurveyRepo,
    marker,
    new_round_id,
    parse_answers,
    survey_id_for,
)
from bot.health.thresholds import DEFAULT_THRESHOLDS
from bot.links import Links
from bot.privacy import PrivacyRegistry
from bot.router import Router, Turn
from bot.turn import Person, Role
from cards.elements import notice
from cards.survey import CopResult, invitation_card, results_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

SEND_CONCURRENCY = 16
USAGE = f"Usage: **survey start** [days open, {MIN_OPEN_DAYS}-{MAX_OPEN_DAYS}; default {DEFAULT_OPEN_DAYS}]"
NO_COP = "Which CoP? Use **survey start** in your CoP's channel."
NONE_YET = "No impact survey has been run yet. Start one with **survey start**."
ALREADY_OPEN = "An impact survey is already open for {name} until {until}."
STARTED = (
    "Impact survey started for {count} CoP(s): {invited} members invited. "
    "It closes {until}; one reminder goes {remind}."
)
THANKS = "Thank you: your answers are recorded. They are anonymous: only the totals are kept."
DUPLICATE = "You have already answered this survey. Thank you! Each person answers once."
CLOSED = "Sorry, this survey closed on {until}; answers are no longer accepted."
INCOMPLETE = "Please choose an answer for each of the nine statements, then send again."
NOT_MEMBER = "This survey is for members of the CoP it was sent for."


def _parse_days(args: str) -> int | None:
    words = args.split()
    if not words:
        return DEFAULT_OPEN_DAYS
    if len(words) != 1 or not words[0].isdigit():
        return None
    days = int(words[0])
    return days if MIN_OPEN_DAYS <= days <= MAX_OPEN_DAYS else None


async def _invite(services: Services, survey: Survey, cop: Cop, fallback: dict[str, Any], now: datetime) -> int:
    """Queue one invitation per member (idempotent by key, so a re-run after a crash sends nothing twice)."""
    members = await MembershipRepo(services.store).members_of(cop.cop_id)
    reference = cop.home_reference or fallback
    tz = ZoneInfo(cop.timezone or services.settings.default_timezone)
    message = invitation_card(survey, tz)
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(aad_id: str, user_id: str, name: str) -> None:
        async with gate:
            await services.outbox.enqueue(
                f"survey|{survey.survey_id}|{aad_id}",
                reference,
                message,
                now,
                cop_id=cop.cop_id,
                personal_for=Person(user_id, aad_id, name),
            )

    await asyncio.gather(*(one(m.aad_id, m.user_id, m.name) for m in members if m.user_id))
    return sum(1 for m in members if m.user_id)


async def start(services: Services, cops: list[Cop], starter: Person, fallback: dict[str, Any], days: int) -> str:
    now = services.clock.now()
    repo = SurveyRepo(services.store)
    existing = await repo.all()
    round_id = new_round_id(now)
    closes = now + timedelta(days=days)
    started: list[Survey] = []
    skipped: list[str] = []
    for cop in cops:
        open_one = next((s for s in existing if s.cop_id == cop.cop_id and s.is_open(now)), None)
        if open_one is not None:
            skipped.append(cop.name)
            continue
        survey = await repo.open(
            Survey(
                survey_id=survey_id_for(round_id, cop.cop_id),
                round_id=round_id,
                cop_id=cop.cop_id,
                cop_name=cop.name,
                started_at=now,
                closes_at=closes,
                remind_at=max(now + timedelta(days=1), closes - REMIND_BEFORE_CLOSE),
            )
        )
        invited = await _invite(services, survey, cop, fallback, now)
        survey = await repo.save(replace(survey, invited=invited, invitations_sent=True))
        started.append(survey)
        await audit.record(
            services.store, cop.cop_id, now, starter.aad_id, starter.name, "survey.start", f"{days} days"
        )
    tz = services.settings.tz
    if not started:
        if len(cops) == 1 and skipped:
            open_one = next(s for s in existing if s.cop_id == cops[0].cop_id and s.is_open(now))
            return ALREADY_OPEN.format(name=cops[0].name, until=f"{open_one.closes_at.astimezone(tz):%d %b %Y}")
        return "Every CoP already has an open impact survey." if skipped else "There are no CoPs to survey yet."
    reply = STARTED.format(
        count=len(started),
        invited=sum(s.invited for s in started),
        until=f"{closes.astimezone(tz):%A %d %B %Y, %H:%M}",
        remind=f"{started[0].remind_at.astimezone(tz):%A %d %B}",
    )
    if skipped:
        reply += f" Skipped {len(skipped)} CoP(s) whose survey is still open."
    return reply


async def results(services: Services, cop_ids: set[str] | None) -> list[CopResult]:
    """The latest survey of each CoP (of ``cop_ids``, or all), with its tally."""
    now = services.clock.now()
    repo = SurveyRepo(services.store)
    latest: dict[str, Survey] = {}
    for survey in await repo.all():
        if cop_ids is not None and survey.cop_id not in cop_ids:
            continue
        if survey.cop_id not in latest or survey.started_at > latest[survey.cop_id].started_at:
            latest[survey.cop_id] = survey
    tallies = await asyncio.gather(*(repo.tally(s.survey_id) for s in latest.values()))
    return [
        CopResult(s.cop_id, s.cop_name, s.invited, tally, s.is_open(now))
        for s, tally in zip(latest.values(), tallies, strict=True)
    ]


async def run_due(services: Services, now: datetime) -> int:
    """Scheduler tick (every minute, one query when nothing is due): one reminder to members who have not
    answered; markers deleted once a survey closes. Returns reminders queued plus surveys closed."""
    outcome = await due(services, now)
    return outcome["reminded"] + outcome["closed"]


async def due(services: Services, now: datetime) -> dict[str, int]:
    repo = SurveyRepo(services.store)
    reminded = closed = 0
    surveys = [s for s in await repo.all() if not s.closed]
    if not any((s.is_open(now) and not s.reminded and now >= s.remind_at) or now >= s.closes_at for s in surveys):
        return {"reminded": 0, "closed": 0}
    cops = {c.cop_id: c for c in await cop_repo(services).all(active_only=False)}
    for survey in surveys:
        try:
            if survey.is_open(now) and not survey.reminded and now >= survey.remind_at:
                cop = cops.get(survey.cop_id)
                if cop is not None and cop.active:
                    reminded += await _remind(services, repo, survey, cop, now)
                await repo.save(replace(survey, reminded=True))
            elif now >= survey.closes_at and not survey.closed:
                await repo.forget_markers(survey.survey_id)
                await repo.save(replace(survey, closed=True))
                closed += 1
        except Exception:
            log.exception("survey job failed survey_id=%s cop_id=%s", survey.survey_id, survey.cop_id)
    return {"reminded": reminded, "closed": closed}


async def _remind(services: Services, repo: SurveyRepo, survey: Survey, cop: Cop, now: datetime) -> int:
    answered = await repo.markers(survey.survey_id)
    key = services.settings.signing_key
    members = await MembershipRepo(services.store).members_of(cop.cop_id)
    tz = ZoneInfo(cop.timezone or services.settings.default_timezone)
    message = invitation_card(survey, tz, reminder=True)
    count = 0
    for m in members:
        if not m.user_id or marker(key, survey.survey_id, m.aad_id) in answered:
            continue
        if cop.home_reference:
            await services.outbox.enqueue(
                f"survey-remind|{survey.survey_id}|{m.aad_id}",
                cop.home_reference,
                message,
                now,
                cop_id=cop.cop_id,
                personal_for=Person(m.user_id, m.aad_id, m.name),
            )
            count += 1
    return count


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("survey start", help="Send the impact survey to members", role=Role.LEAD, usage="[days]")
    async def survey_start(turn: Turn) -> None:
        days = _parse_days(turn.args)
        if days is None:
            await turn.respond.reply(USAGE)
            return
        services = turn.services
        person = turn.request.person
        if turn.role >= Role.ADMIN:
            cops = await cop_repo(services).all()
        else:
            cop = turn.state.get(COP_KEY)
            if not isinstance(cop, Cop):
                await turn.respond.reply(NO_COP)
                return
            cops = [cop]
        reply = await start(services, cops, person, dict(turn.request.conversation_reference), days)
        log.info("survey start cops=%d cop_id=%s activity_id=%s", len(cops), turn.cop_id, turn.request.activity_id)
        await turn.respond.reply(reply)

    @router.command("survey results", help="Impact survey results against 2021", role=Role.LEAD)
    async def survey_results(turn: Turn) -> None:
        services = turn.services
        if turn.role >= Role.ADMIN:
            found = await results(services, None)
            scope = "all CoPs"
        else:
            if not turn.cop_id:
                await turn.respond.reply(NO_COP.replace("survey start", "survey results"))
                return
            found = await results(services, {turn.cop_id})
            scope = found[0].name if found else ""
        if not found:
            await turn.respond.reply(NONE_YET)
            return
        await turn.respond.reply(results_card(found, DEFAULT_THRESHOLDS.survey_min_responses, scope=scope))

    @router.action("survey.answer", role=Role.MEMBER)
    async def survey_answer(turn: Turn) -> None:
        services = turn.services
        action = turn.request.action
        assert action is not None  # the router only calls actions with one
        survey = await SurveyRepo(services.store).get(str(action.data.get("id", "")))
        if survey is None or survey.cop_id != turn.cop_id:
            await turn.tell(NOT_MEMBER)
            return
        now = services.clock.now()
        tz = services.settings.tz
        try:
            answers = parse_answers(action.data)
            await SurveyRepo(services.store).answer(
                services.settings.signing_key, survey, turn.request.person.aad_id, answers, now
            )
        except SurveyClosed:
            await turn.tell(CLOSED.format(until=f"{survey.closes_at.astimezone(tz):%d %b %Y}"))
            return
        except AlreadyAnswered:
            await turn.tell(DUPLICATE)
            return
        except BadAnswers:
            await turn.tell(INCOMPLETE)
            return
        # no log line names the person or the answers
        log.info("survey answer recorded survey_id=%s", survey.survey_id)
        if turn.request.kind == "action":
            turn.respond.answer_action(notice(THANKS, title="Impact survey", color="good"))
        else:
            await turn.respond.reply(THANKS)

    async def export(services: Services, aad_id: str) -> Any:
        now = services.clock.now()
        repo = SurveyRepo(services.store)
        key = services.settings.signing_key
        answered = [
            s.cop_name for s in await repo.all() if s.is_open(now) and await repo.has_answered(key, s.survey_id, aad_id)
        ]
        if not answered:
            return None
        return {
            "open_surveys_you_answered": answered,
            "note": "Survey answers are anonymous: only totals are kept, so there is no answer of yours to show.",
        }

    async def erase(services: Services, aad_id: str) -> None:
        """Nothing to erase: answers are anonymous totals. The only trace is the "has answered" marker of a still
        open survey (a keyed hash, no answers); it is kept until the survey closes, then deleted with all others,
        because deleting it now would let the person answer (and be counted) twice."""
        return None

    privacy.register("survey", export, erase)
