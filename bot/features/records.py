"""Record what happened before, and outside, the bot: ``record event`` (a past Lunch and Learn, core meeting,
workshop, social or lead-sponsor meeting, never announced), ``record meeting`` (a core members' or lead-sponsor
meeting held elsewhere: who attended, notes, actions with an owner and a due day) and ``actions`` (the open ones,
closed from a button by a lead or the owner). Records count in the scorecard, the governance checks and the
programme view like events the bot announced (bot/health/providers.py, bot/features/governance.py).

The daily pass :func:`run_due` (from 09:00 in the default time zone, once a day across instances: a lease per
day) reminds each action's owner privately on its due day, reminds a CoP's leads and sponsor once when five weeks
have passed since their last lead-sponsor meeting (one week before the programme's 6-week mark) unless one is
already booked, and launches any CoP whose launch checklist has become complete (bot/features/proposals.py).
Outbox keys keep every message single: ``action|<cop>|<action>`` and
``leadsponsor|<cop>|<day of the last meeting>|<person>``.

``records`` lists what was recorded, newest first, so a lead can remove an entry made by mistake.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Any

from bot.core.turn import Person, Role
from bot.domain.cops import Cop, PersonRef, cop_repo
from bot.domain.members import MembershipRepo
from bot.domain.records import (
    ACTION_MAX,
    ACTIONS_PER_MEETING,
    ATTENDANCE_MAX,
    ATTENDEES_MAX,
    DUE_AHEAD,
    KINDS,
    MEETING_KINDS,
    NOTES_MAX,
    TITLE_MAX,
    Action,
    Record,
    RecordRepo,
    choose_people,
    export_action,
    export_record,
    is_id,
    new_id,
    noon,
    parse_day,
    past_day,
)
from bot.domain.validation import BadInput, clean_text
from bot.features.governance import meetings, recipients
from bot.features.membership import load_cop, show
from bot.features.proposals import sync_launch
from bot.features.queries import lead_cop
from bot.jobs.leases import run_once
from bot.jobs.scheduler import leases_of, zone
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.elements import notice
from cards.records import (
    action_reminder_card,
    actions_card,
    lead_sponsor_due_card,
    record_event_card,
    record_meeting_card,
    recorded_card,
    records_card,
)

log = logging.getLogger(__name__)

JOB = "records"
DAILY_FROM_HOUR = 9
NOT_THIS_COP = "That card belongs to another CoP, so I ignored it. Open a fresh one in the CoP's channel."
UNKNOWN_ACTION = "I can't find that action any more, so nothing was changed."
NOT_YOURS = "Only the action's owner or one of the CoP's leads can mark it done, so nothing was changed."


def today_of(cop: Cop, services: Services, now: datetime) -> date:
    return now.astimezone(zone(cop.timezone, services.settings.tz)).date()


def me(turn: Turn) -> PersonRef:
    person = turn.request.person
    return PersonRef(person.aad_id, person.user_id, person.name)


async def people_of(services: Services, cop: Cop) -> list[PersonRef]:
    """Who may attend a meeting or own an action: leads, the sponsor and core members (at most 60)."""
    found: dict[str, PersonRef] = {}
    for p in (*cop.leads, *([cop.sponsor] if cop.sponsor else [])):
        found.setdefault(p.aad_id, p)
    for m in sorted(await MembershipRepo(services.store).members_of(cop.cop_id), key=lambda m: m.name.lower()):
        if m.tier == "core" and m.aad_id:
            found.setdefault(m.aad_id, PersonRef(m.aad_id, m.user_id, m.name))
    return list(found.values())[:ATTENDEES_MAX]


async def card_cop(turn: Turn) -> Cop | None:
    """The CoP a records card acts on; it must be the one the caller's role was resolved for."""
    assert turn.request.action is not None
    cop_id = turn.request.action.data.get("cop_id")
    if not isinstance(cop_id, str) or cop_id != turn.cop_id:
        await turn.tell(NOT_THIS_COP)
        return None
    cop = await load_cop(turn, cop_id)
    if cop is None:
        await turn.tell("I can't find this CoP any more.")
    return cop


def _attendance(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise BadInput("How many attended must be a whole number.")
    try:
        count = int(str(value).strip())
    except ValueError:
        raise BadInput("How many attended must be a whole number.") from None
    if not 0 <= count <= ATTENDANCE_MAX:
        raise BadInput(f"How many attended must be between 0 and {ATTENDANCE_MAX}.")
    return count


def past_record(turn: Turn, cop: Cop, data: Any, *, meeting: bool, people: list[PersonRef]) -> Record:
    """A record from the card's inputs (raises BadInput)."""
    now = turn.services.clock.now()
    kind = clean_text(data.get("kind"), "What was it", 20, required=True)
    if kind not in (MEETING_KINDS if meeting else KINDS):
        raise BadInput("Please choose what it was from the list.")
    day = past_day(data.get("date"), today_of(cop, turn.services, now))
    title = clean_text(data.get("title"), "Title", TITLE_MAX)
    notes = clean_text(data.get("notes"), "Notes", NOTES_MAX, multiline=True)
    attendance = None if meeting else _attendance(data.get("attendance"))
    attendees = choose_people(data.get("attendees"), {p.aad_id: p for p in people}, "Who attended") if meeting else ()
    return Record(
        record_id=new_id(),
        cop_id=cop.cop_id,
        kind=kind,  # type: ignore[arg-type]
        day=day,
        held_at=noon(day, zone(cop.timezone, turn.services.settings.tz)),
        title=title,
        attendance=attendance,
        attendees=attendees,
        notes=notes,
        by=me(turn),
        recorded_at=now,
    )


def meeting_actions(turn: Turn, record: Record, data: Any, people: list[PersonRef]) -> list[Action]:
    """The actions typed on the meeting card (an action needs an owner and a due day; raises BadInput)."""
    now = turn.services.clock.now()
    known = {p.aad_id: p for p in people}
    out: list[Action] = []
    for n in range(1, ACTIONS_PER_MEETING + 1):
        text = clean_text(data.get(f"action{n}"), f"Action {n}", ACTION_MAX)
        if not text:
            continue
        owner = known.get(clean_text(data.get(f"owner{n}"), f"Action {n}: owner", 200))
        if owner is None:
            raise BadInput(f"Action {n} needs an owner from the list.")
        due = parse_day(data.get(f"due{n}"), f"Action {n}: due")
        if due < record.day or due > record.day + DUE_AHEAD:
            raise BadInput(f"Action {n}: the due day must be between the meeting and a year after it.")
        out.append(Action(new_id(), record.cop_id, record.record_id, text, owner, due, "open", now, me(turn)))
    return out


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    privacy.register("records", export_person, erase_person)

    @router.command(
        "record event",
        help="Record a past Lunch and Learn, meeting, workshop or social (not announced)",
        role=Role.LEAD,
        places=("channel", "personal"),
    )
    async def record_event(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            today = today_of(cop, turn.services, turn.services.clock.now())
            await turn.respond.reply(record_event_card(cop.cop_id, cop.name, today))

    @router.command(
        "record meeting",
        help="Log a core or lead-sponsor meeting held elsewhere, with its actions",
        role=Role.LEAD,
        places=("channel", "personal"),
    )
    async def record_meeting(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            today = today_of(cop, turn.services, turn.services.clock.now())
            people = await people_of(turn.services, cop)
            await turn.respond.reply(record_meeting_card(cop.cop_id, cop.name, today, people))

    @router.command(
        "actions", help="Open actions from the CoP's meetings", role=Role.LEAD, places=("channel", "personal")
    )
    async def list_actions(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            await turn.respond.reply(await _actions_card(turn, cop))

    @router.command(
        "records",
        help="What was recorded for the CoP; remove a mistake",
        role=Role.LEAD,
        places=("channel", "personal"),
    )
    async def list_records(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            found = await RecordRepo(turn.services.store).of_cop(cop.cop_id)
            await turn.respond.reply(records_card(cop.cop_id, cop.name, found[::-1]))

    @router.action("record.remove", role=Role.LEAD)
    async def remove(turn: Turn) -> None:
        cop = await card_cop(turn)
        if cop is None:
            return
        assert turn.request.action is not None
        record_id = turn.request.action.data.get("id")
        repo = RecordRepo(turn.services.store)
        gone = await repo.remove(cop.cop_id, str(record_id)) if is_id(record_id) else None
        if gone is None:
            await turn.tell("That record was removed already, so nothing was changed.")
            return
        now, person = turn.services.clock.now(), turn.request.person
        await audit.record(
            turn.services.store, cop.cop_id, now, person.aad_id, person.name, "record removed",
            f"{gone.kind} on {gone.day.isoformat()}",
        )  # fmt: skip
        found = await repo.of_cop(cop.cop_id)
        message = f"Removed the {KINDS[gone.kind].lower()} of {gone.day.isoformat()}."
        await show(turn, records_card(cop.cop_id, cop.name, found[::-1], message))

    @router.action("record.save", role=Role.LEAD)
    async def save(turn: Turn) -> None:
        await _save(turn, meeting=False)

    @router.action("record.meeting", role=Role.LEAD)
    async def save_meeting(turn: Turn) -> None:
        await _save(turn, meeting=True)

    @router.action("action.close")
    async def close(turn: Turn) -> None:
        assert turn.request.action is not None
        data = turn.request.action.data
        action_id, cop_id = data.get("id"), data.get("cop_id")
        if not is_id(action_id) or not isinstance(cop_id, str) or cop_id != turn.cop_id:
            await turn.tell(UNKNOWN_ACTION)
            return
        repo = RecordRepo(turn.services.store)
        found = await repo.action(cop_id, str(action_id))
        if found is None:
            await turn.tell(UNKNOWN_ACTION)
            return
        is_owner = bool(turn.request.person.aad_id) and found.owner.aad_id == turn.request.person.aad_id
        if turn.role < Role.LEAD and not is_owner:
            await turn.tell(NOT_YOURS)
            return
        now = turn.services.clock.now()
        closed = await repo.close(cop_id, found.action_id, me(turn), now)
        if closed is not None and closed.closed_at == now:
            await audit.record(
                turn.services.store, cop_id, now, turn.request.person.aad_id, turn.request.person.name,
                "action closed", found.action_id,
            )  # fmt: skip
        cop = await load_cop(turn, cop_id)
        if turn.role >= Role.LEAD and cop is not None:
            await show(turn, await _actions_card(turn, cop))
        else:
            await show(turn, notice("Marked done. Thank you!", title="Action closed", color="good"))


async def _actions_card(turn: Turn, cop: Cop) -> Any:
    actions = await RecordRepo(turn.services.store).actions_of(cop.cop_id)
    return actions_card(cop.cop_id, cop.name, actions, today_of(cop, turn.services, turn.services.clock.now()))


async def _save(turn: Turn, *, meeting: bool) -> None:
    cop = await card_cop(turn)
    if cop is None:
        return
    assert turn.request.action is not None
    data = turn.request.action.data
    people = await people_of(turn.services, cop) if meeting else []
    try:
        record = past_record(turn, cop, data, meeting=meeting, people=people)
        actions = meeting_actions(turn, record, data, people) if meeting else []
    except BadInput as error:
        await turn.tell(f"{error} Nothing was recorded.")
        return
    services = turn.services
    await RecordRepo(services.store).add(record, actions)
    person = turn.request.person
    await audit.record(
        services.store, cop.cop_id, record.recorded_at, person.aad_id, person.name, "recorded",
        f"{record.kind} on {record.day.isoformat()} ({len(actions)} actions)",
    )  # fmt: skip
    log.info(
        "recorded kind=%s actions=%d cop_id=%s activity_id=%s",
        record.kind, len(actions), cop.cop_id, turn.request.activity_id,
    )  # fmt: skip
    if cop.proposal_id and record.kind == "core_meeting":
        await sync_launch(services, cop, record.recorded_at)  # the first core meeting may complete its checklist
    await show(turn, recorded_card(record, actions))


# -- the daily pass ---------------------------------------------------------------------------------------------
async def remind_actions(services: Services, cops: dict[str, Cop], now: datetime) -> int:
    repo = RecordRepo(services.store)
    queued = 0
    for action in await repo.open_actions_due(now.astimezone(services.settings.tz).date()):
        cop = cops.get(action.cop_id)
        if cop is None or action.due < action.created_at.astimezone(services.settings.tz).date():
            continue  # logged after it was due (a back-filled meeting): listed in ``actions``, not reminded
        owner = action.owner
        if owner.aad_id and owner.user_id and cop.home_reference:
            queued += await services.outbox.enqueue(
                f"action|{cop.cop_id}|{action.action_id}",
                cop.home_reference,
                action_reminder_card(cop.cop_id, cop.name, action),
                now,
                cop_id=cop.cop_id,
                personal_for=Person(owner.user_id, owner.aad_id, owner.name),
            )
        await repo.mark_reminded(action)
    return queued


async def remind_lead_sponsor(services: Services, cop: Cop, now: datetime) -> int:
    """Once per last meeting, when five weeks have passed since it (or since the CoP joined, when none is
    recorded), unless a lead-sponsor meeting is already booked."""
    weeks = services.settings.lead_sponsor_max_weeks
    met = await meetings(services, cop.cop_id, now - timedelta(days=400), now + timedelta(days=200))
    held = [m for m in met.lead_sponsor if m <= now]
    if any(m > now for m in met.lead_sponsor):
        return 0
    last = max(held) if held else None
    since = last or cop.created_at
    tz = zone(cop.timezone, services.settings.tz)
    if since is None or not cop.home_reference:
        return 0
    if (now.astimezone(tz).date() - since.astimezone(tz).date()).days < 7 * max(weeks - 1, 1):
        return 0  # counted in days of the CoP's calendar: the reminder comes on the morning of the day
    mark = since.astimezone(tz).date().isoformat() if last is not None else "never"
    card = lead_sponsor_due_card(cop.name, last, weeks, tz)
    queued = 0
    for person in recipients(cop):
        queued += await services.outbox.enqueue(
            f"leadsponsor|{cop.cop_id}|{mark}|{person.key}",
            cop.home_reference,
            card,
            now,
            cop_id=cop.cop_id,
            personal_for=person,
        )
    return queued


async def run_due(services: Services, now: datetime) -> int:
    local = now.astimezone(services.settings.tz)
    day = local.date().isoformat()
    if local.hour < DAILY_FROM_HOUR or services.periods_done.is_done(JOB, day):
        return 0
    done: list[int] = []

    async def work() -> None:
        cops = {c.cop_id: c for c in await cop_repo(services).all()}
        count = await remind_actions(services, cops, now)
        for cop in cops.values():
            count += await remind_lead_sponsor(services, cop, now)
            if cop.proposal_id and cop.status == "preparing":
                await sync_launch(services, cop, now)  # leads and sponsor set in the team since yesterday
        done.append(count)

    leases = leases_of(services)
    outcome = await run_once(leases, JOB, "daily", day, now, work, ttl=timedelta(minutes=10))
    if outcome == "done" or (outcome == "skipped" and await leases.is_done(JOB, "daily", day)):
        services.periods_done.mark(JOB, day)  # no storage round trip on the other ticks of the day
    return sum(done)


# -- personal data ------------------------------------------------------------------------------------------------
async def export_person(services: Services, aad_id: str) -> Any:
    records, actions = await RecordRepo(services.store).rows_of_person(aad_id)
    return {"records": [export_record(r, aad_id) for r in records], "actions": [export_action(a) for a in actions]}


async def erase_person(services: Services, aad_id: str) -> None:
    await RecordRepo(services.store).erase_person(aad_id)
