"""``survey start`` / ``survey results`` / ``survey comments``: the yearly impact survey (as in 2021), sent to
members in personal chat.

A lead starts a round for their CoP, a programme admin one for every CoP. Each member gets ONE invitation per
round, however many of its CoPs they belong to, answers once, and the answer counts for each of their CoPs.
One reminder goes before the close date (:func:`run_due`, called by the scheduler). Answers are tallied
anonymously (bot/domain/survey.py), and every view of a round's figures (results, the health scorecard, the
programme view) shows only what bot/domain/survey_disclosure.py lets through, so no CoP under five responses
can be read directly or worked out by subtraction.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.turn import Person, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.members import MembershipRepo
from bot.domain.survey import (
    COMMENT_MAX_CHARS,
    DEFAULT_OPEN_DAYS,
    MAX_OPEN_DAYS,
    MIN_OPEN_DAYS,
    REMIND_BEFORE_CLOSE,
    ROUNDS,
    STATEMENT_KEYS,
    AlreadyAnswered,
    BadAnswers,
    CommentTooLong,
    Survey,
    SurveyClosed,
    SurveyRepo,
    Tally,
    marker,
    new_round_id,
    parse_answers,
    parse_comments,
    round_of,
    same_round,
    survey_id_for,
)
from bot.domain.survey_rounds import RoundFigures, round_figures
from bot.health.thresholds import DEFAULT_THRESHOLDS
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.elements import notice
from cards.survey import CopResult, RoundResults, comments_card, invitation_card, results_card
from storage.base import PreconditionFailed

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
TOO_LONG = "Please keep each comment to {limit} characters, then send again. Nothing was recorded."
BUSY = "Many people are answering right now and yours was not recorded. Please press Send my answers again."
NOT_MEMBER = "Sorry, only members of this CoP (or of the other CoPs it was sent to) can answer this survey."
NO_COMMENTS = (
    "No comments to show: comments show once at least {minimum} people have answered, and only if any were left."
)


def _parse_days(args: str) -> int | None:
    words = args.split()
    if not words:
        return DEFAULT_OPEN_DAYS
    if len(words) != 1 or not words[0].isdigit():
        return None
    days = int(words[0])
    return days if MIN_OPEN_DAYS <= days <= MAX_OPEN_DAYS else None


async def figures(services: Services, surveys: list[Survey]) -> RoundFigures:
    """A round's tallies and what of them may be shown (every view of a round goes through here)."""
    return await round_figures(services.store, surveys, DEFAULT_THRESHOLDS.survey_min_responses)


async def _invite(
    services: Services, round_surveys: list[Survey], cops: dict[str, Cop], fallback: dict[str, Any], now: datetime
) -> tuple[dict[str, int], int]:
    """Queue ONE invitation per person for the round (idempotent by key: a re-run after a crash sends nothing
    twice), naming their CoPs in it. Returns members invited per survey id, and people invited."""
    rosters = await asyncio.gather(*(MembershipRepo(services.store).members_of(s.cop_id) for s in round_surveys))
    people: dict[str, tuple[Person, list[Survey]]] = {}
    invited: dict[str, int] = {}
    for survey, roster in zip(round_surveys, rosters, strict=True):
        reachable = [m for m in roster if m.user_id]
        invited[survey.survey_id] = len(reachable)
        for m in reachable:
            people.setdefault(m.aad_id, (Person(m.user_id, m.aad_id, m.name), []))[1].append(survey)
    gate = asyncio.Semaphore(SEND_CONCURRENCY)

    async def one(person: Person, theirs: list[Survey]) -> None:
        first = cops[theirs[0].cop_id]
        tz = ZoneInfo(first.timezone or services.settings.default_timezone)
        message = invitation_card(theirs[0], [s.cop_name for s in theirs], tz)
        async with gate:
            await services.outbox.enqueue(
                f"survey|{theirs[0].round_id}|{person.aad_id}",
                first.home_reference or fallback,
                message,
                now,
                cop_id=first.cop_id,
                personal_for=person,
            )

    await asyncio.gather(*(one(person, theirs) for person, theirs in people.values()))
    cells = {frozenset(s.survey_id for s in theirs) for _, theirs in people.values()}
    if cells:  # which CoPs share members, so figures that add up across them are held back too
        await SurveyRepo(services.store).add_cells(round_surveys[0], sorted(cells, key=sorted))
    return invited, len(people)


async def start(
    services: Services, cops: list[Cop], starter: Person, fallback: dict[str, Any], days: int, scope: str = "cop"
) -> str:
    now = services.clock.now()
    repo = SurveyRepo(services.store)
    existing = await repo.all()
    round_id = new_round_id(now)
    closes = now + timedelta(days=days)
    remind = max(now + timedelta(days=1), closes - REMIND_BEFORE_CLOSE)
    opened: list[Survey] = []
    skipped: list[str] = []
    for cop in cops:
        if any(s.cop_id == cop.cop_id and s.is_open(now) for s in existing):
            skipped.append(cop.name)
            continue
        sid = survey_id_for(round_id, cop.cop_id)
        opened.append(await repo.open(Survey(sid, round_id, cop.cop_id, cop.name, now, closes, remind, scope=scope)))
    tz = services.settings.tz
    if not opened:
        if len(cops) == 1 and skipped:
            open_one = next(s for s in existing if s.cop_id == cops[0].cop_id and s.is_open(now))
            return ALREADY_OPEN.format(name=cops[0].name, until=f"{open_one.closes_at.astimezone(tz):%d %b %Y}")
        return "Every CoP already has an open impact survey." if skipped else "There are no CoPs to survey yet."
    invited, people = await _invite(services, opened, {c.cop_id: c for c in cops}, fallback, now)
    for survey in opened:
        await repo.save(replace(survey, invited=invited[survey.survey_id], round_invited=people, invitations_sent=True))
        await audit.record(
            services.store, survey.cop_id, now, starter.aad_id, starter.name, "survey.start", f"{days} days"
        )
    reply = STARTED.format(
        count=len(opened),
        invited=people,
        until=f"{closes.astimezone(tz):%A %d %B %Y, %H:%M}",
        remind=f"{remind.astimezone(tz):%A %d %B}",
    )
    if skipped:
        reply += f" Skipped {len(skipped)} CoP(s) whose survey is still open."
    return reply


def _latest_round(surveys: list[Survey], cop_id: str | None) -> list[Survey]:
    """The round to show: the CoP's latest (a lead), else the latest programme-wide round, else the latest."""
    if cop_id is not None:
        mine = [s for s in surveys if s.cop_id == cop_id]
        return round_of(surveys, max(mine, key=lambda s: s.started_at)) if mine else []
    rounds: dict[tuple[str, bool], list[Survey]] = defaultdict(list)
    for s in surveys:
        rounds[(s.round_id, s.layout >= ROUNDS)].append(s)
    if not rounds:
        return []
    wide = [r for r in rounds.values() if r[0].scope == "programme" or len(r) > 1]
    return max(wide or list(rounds.values()), key=lambda r: r[0].started_at)


async def results(services: Services, cop_id: str | None, *, admin: bool) -> RoundResults | None:
    """The latest round as ``cop_id``'s leads (or, with None, the programme team) may see it."""
    now = services.clock.now()
    repo = SurveyRepo(services.store)
    chosen = _latest_round(await repo.all(), cop_id)
    if not chosen:
        return None
    f = await figures(services, chosen)
    is_open = f.first.is_open(now)
    if cop_id is not None:
        survey = next(s for s in chosen if s.cop_id == cop_id)
        tally = f.shown_tally(survey.survey_id)
        mine = f.tallies.get(survey.survey_id, Tally.empty())
        return RoundResults(
            survey.cop_name,
            is_open,
            survey.invited,
            tally,
            frozenset(k for k in mine.counts) if tally is not None else frozenset(),
            [],
            0,
            f.minimum,
            held_back=tally is None and mine.responses >= f.minimum,
        )
    d = f.disclosure
    cops = [
        CopResult(s.cop_id, s.cop_name, s.invited, f.tallies[s.survey_id], is_open)
        for s in sorted(chosen, key=lambda s: s.cop_name.lower())
        if s.survey_id in d.shown
    ]
    comments = 0
    if admin and f.people.responses >= f.minimum:
        comments = len(await repo.comments(f.first))
    keys = frozenset(k for i, k in enumerate(STATEMENT_KEYS) if i in d.total_statements)
    return RoundResults(
        "all CoPs" if f.programme_wide else f.first.cop_name,
        is_open,
        f.first.round_invited if f.first.layout >= ROUNDS else sum(s.invited for s in chosen),
        f.people if d.total_shown else None,
        keys,
        cops if f.programme_wide else [],
        len(chosen) - len(cops) if f.programme_wide else 0,
        f.minimum,
        comments=comments or None,
    )


async def run_due(services: Services, now: datetime) -> int:
    """Scheduler tick (every minute, one query when nothing is due): one reminder to members who have not
    answered; markers deleted once a round closes. Returns reminders queued plus surveys closed."""
    outcome = await due(services, now)
    return outcome["reminded"] + outcome["closed"]


async def due(services: Services, now: datetime) -> dict[str, int]:
    repo = SurveyRepo(services.store)
    reminded = closed = 0
    surveys = [s for s in await repo.all() if not s.closed]
    if not any((s.is_open(now) and not s.reminded and now >= s.remind_at) or now >= s.closes_at for s in surveys):
        return {"reminded": 0, "closed": 0}
    cops = {c.cop_id: c for c in await cop_repo(services).all(active_only=False)}
    rounds: dict[str, list[Survey]] = defaultdict(list)
    for s in surveys:
        rounds[s.ballot].append(s)
    for batch in rounds.values():
        first = batch[0]
        try:
            if first.is_open(now) and not first.reminded and now >= first.remind_at:
                reminded += await _remind(services, repo, batch, cops, now)
                for survey in batch:
                    await repo.save(replace(survey, reminded=True))
            elif now >= first.closes_at:
                await repo.forget_markers(first)
                for survey in batch:
                    await repo.save(replace(survey, closed=True))
                    closed += 1
        except Exception:
            log.exception("survey job failed round_id=%s surveys=%d", first.round_id, len(batch))
    return {"reminded": reminded, "closed": closed}


async def _remind(
    services: Services, repo: SurveyRepo, batch: list[Survey], cops: dict[str, Cop], now: datetime
) -> int:
    answered = await repo.markers(batch[0])
    key = services.settings.marker_key
    live = [s for s in batch if (c := cops.get(s.cop_id)) is not None and c.active and c.home_reference]
    rosters = await asyncio.gather(*(MembershipRepo(services.store).members_of(s.cop_id) for s in live))
    people: dict[str, tuple[Person, list[Survey]]] = {}
    for survey, roster in zip(live, rosters, strict=True):
        for m in roster:
            if m.user_id and marker(key, survey, m.aad_id) not in answered:
                people.setdefault(m.aad_id, (Person(m.user_id, m.aad_id, m.name), []))[1].append(survey)
    for person, theirs in people.values():
        cop = cops[theirs[0].cop_id]
        tz = ZoneInfo(cop.timezone or services.settings.default_timezone)
        await services.outbox.enqueue(
            f"survey-remind|{theirs[0].round_id}|{person.aad_id}",
            cop.home_reference,
            invitation_card(theirs[0], [s.cop_name for s in theirs], tz, reminder=True),
            now,
            cop_id=cop.cop_id,
            personal_for=person,
        )
    return len(people)


async def _answer(turn: Turn) -> None:
    services = turn.services
    action = turn.request.action
    assert action is not None  # the router only calls actions with one
    repo = SurveyRepo(services.store)
    person = turn.request.person
    survey = await repo.get(str(action.data.get("id", "")))
    mine: list[Survey] = []
    if survey is not None and person.aad_id:
        state = await MembershipRepo(services.store).person(person.aad_id)
        mine = [s for s in same_round(await repo.all(), survey) if s.cop_id in state.memberships]
    if survey is None or not mine:
        await turn.tell(NOT_MEMBER)
        return
    now = services.clock.now()
    try:
        answers = parse_answers(action.data)
        comments = parse_comments(action.data)
        await repo.answer(services.settings.marker_key, mine, person.aad_id, answers, now, comments)
    except SurveyClosed:
        until = survey.closes_at.astimezone(services.settings.tz)
        await turn.tell(CLOSED.format(until=f"{until:%d %b %Y}"))
        return
    except AlreadyAnswered:
        await turn.tell(DUPLICATE)
        return
    except BadAnswers:
        await turn.tell(INCOMPLETE)
        return
    except CommentTooLong:
        await turn.tell(TOO_LONG.format(limit=COMMENT_MAX_CHARS))
        return
    except PreconditionFailed:
        log.warning("survey answer not recorded: tallies kept changing round_id=%s", survey.round_id)
        await turn.tell(BUSY)
        return
    # no log line names the person, their CoPs or the answers
    log.info("survey answer recorded round_id=%s", survey.round_id)
    if turn.request.kind == "action":
        turn.respond.answer_action(notice(THANKS, title="Impact survey", color="good"))
    else:
        await turn.respond.reply(THANKS)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("survey start", help="Send the impact survey to members", role=Role.LEAD, usage="[days]")
    async def survey_start(turn: Turn) -> None:
        days = _parse_days(turn.args)
        if days is None:
            await turn.respond.reply(USAGE)
            return
        services = turn.services
        person = turn.request.person
        scope = "cop"
        if turn.role >= Role.ADMIN:
            cops, scope = await cop_repo(services).all(), "programme"
        else:
            cops = [await turn.require_cop(NO_COP)]
        reply = await start(services, cops, person, dict(turn.request.conversation_reference), days, scope)
        log.info("survey start cops=%d cop_id=%s activity_id=%s", len(cops), turn.cop_id, turn.request.activity_id)
        await turn.respond.reply(reply)

    @router.command("survey results", help="Impact survey results against 2021", role=Role.LEAD)
    async def survey_results(turn: Turn) -> None:
        admin = turn.role >= Role.ADMIN
        if not admin and not turn.cop_id:
            await turn.respond.reply(NO_COP.replace("survey start", "survey results"))
            return
        found = await results(turn.services, None if admin else turn.cop_id, admin=admin)
        if found is None:
            await turn.respond.reply(NONE_YET)
            return
        await turn.respond.reply(results_card(found))

    @router.command("survey comments", help="Anonymous comments of the latest impact survey", role=Role.ADMIN)
    async def survey_comments(turn: Turn) -> None:
        services = turn.services
        chosen = _latest_round(await SurveyRepo(services.store).all(), None)
        if not chosen:
            await turn.respond.reply(NONE_YET)
            return
        f = await figures(services, chosen)
        found = await SurveyRepo(services.store).comments(f.first) if f.people.responses >= f.minimum else []
        if not found:
            await turn.respond.reply(NO_COMMENTS.format(minimum=f.minimum))
            return
        log.info("survey comments round_id=%s count=%d", f.first.round_id, len(found))
        await turn.respond.reply(comments_card("all CoPs" if f.programme_wide else f.first.cop_name, found))

    router.action("survey.answer", role=Role.ANYONE)(_answer)

    async def export(services: Services, aad_id: str) -> Any:
        now = services.clock.now()
        repo = SurveyRepo(services.store)
        key = services.settings.marker_key
        surveys = await repo.all()
        answered: list[str] = []
        seen: set[str] = set()
        for s in surveys:
            if s.ballot in seen or not s.is_open(now):
                continue
            seen.add(s.ballot)
            if await repo.has_answered(key, s, aad_id):
                batch = same_round(surveys, s)
                opened = s.started_at.astimezone(services.settings.tz)
                answered.append(batch[0].cop_name if len(batch) == 1 else f"all CoPs (opened {opened:%d %b %Y})")
        return {
            "open_surveys_you_answered": answered,
            "note": "Survey answers are anonymous: only totals are kept, so there is no answer of yours to show.",
            "comments": "Any comment you left on a survey is kept only as anonymous text among the round's comments, "
            "with no name, date or CoP, so it cannot be found, shown or erased as yours.",
        }

    async def erase(services: Services, aad_id: str) -> None:
        """Nothing to erase: answers are anonymous totals and comments anonymous text. The only trace is the
        "has answered" marker of a still open round (a keyed hash, no answers); it is kept until the round closes,
        then deleted with all others, because deleting it now would let the person answer (and be counted) twice."""
        return None

    privacy.register("survey", export, erase)
