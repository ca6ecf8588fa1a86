"""``events``, ``event new``: CoP events announced with live RSVP counts, waitlists, calendar files, reminders
and feedback.

The shared channel announcement is updated in place **directly** with ``proactive.update``, off the invoke's
critical path, coalesced per event (at most one update in flight per event per instance; a burst of RSVPs
ends in one final update that reads the latest counts from storage). Not through the outbox because an
update is idempotent and self-healing (the next RSVP, edit or reminder run re-renders from storage), because
50 queued updates for 50 clicks would hit Teams' per-thread throttling for no benefit, and because the outbox
only sends new messages. Everything addressed to people (announcements, promotions, changes, cancellations,
reminders, feedback requests) goes through the outbox with idempotency keys.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.turn import JSON, Card, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.events import (
    CHOICES,
    COMMENT_MAX,
    Busy,
    Event,
    Rsvp,
    due_messages,
    is_event_id,
)
from bot.domain.members import MembershipRepo
from bot.features.event_editing import (
    CANCELLED,
    UNKNOWN_EVENT,
    action_target,
    blank_form,
    cancel_event,
    cop_of_action,
    create_event,
    save_event,
    target_event,
)
from bot.features.event_notices import (
    ICS_KIND,
    any_reference,
    calendar_url,
    events_repo,
    ics_bytes,
    person_of,
    runtime,
    tell_people,
)
from bot.features.resources import with_recordings
from bot.routing.router import Router, Turn
from bot.security.links import Download, Links
from bot.security.privacy import PrivacyRegistry
from cards.elements import notice
from cards.events import (
    Listed,
    announcement_card,
    cancel_confirm_card,
    choose_cop_card,
    event_form,
    events_list_card,
    feedback_card,
    feedback_thanks,
    promoted_notice,
    reminder_card,
)
from cards.resources import attach_button
from storage.base import StorageError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)


NO_COP = "This team isn't set up as a CoP yet, so it has no events."
PAST = "That event has already started, so answers are closed."
NOT_AUDIENCE = {
    "core": "That event is for this CoP's core members only.",
    "leads": "That event is for this CoP's leads and sponsor only.",
}
BUSY = "Lots of people are answering at once and I couldn't record yours. Please click again."


# -- reminders and feedback requests (wired to a timer by the scheduler) -------------------------------------------


async def run_due(services: Services, now: datetime) -> int:
    """Queue the reminders (24 h and 1 h before, to those going) and feedback requests (after the end) that are
    due at ``now``. Idempotent: every message has a key, so running again never duplicates. Returns how many
    messages were newly queued."""
    cops = {cop.cop_id: cop for cop in await cop_repo(services).all()}
    repo = events_repo(services)
    queued = 0
    rounds: dict[tuple[str, str, str], bool] = {}  # (cop, event, stage) -> every message of it is queued
    for due in await due_messages(services.store, list(cops), now):
        event = due.event
        round_key = (event.cop_id, event.event_id, due.stage)
        rounds.setdefault(round_key, True)
        if not due.key:
            continue
        reference = any_reference(cops.get(event.cop_id), event)
        if not reference:
            log.warning("no reference to reach people cop_id=%s event=%s", event.cop_id, event.event_id)
            rounds[round_key] = False
            continue
        if due.what == "feedback":
            message = feedback_card(event)
        else:
            message = reminder_card(event, due.what, calendar_url=calendar_url(services, event))
        try:
            if await services.outbox.enqueue(
                due.key, reference, message, now, cop_id=event.cop_id, personal_for=person_of(due.rsvp)
            ):
                queued += 1
        except StorageError:
            log.warning("could not queue %s cop_id=%s event=%s", due.what, event.cop_id, event.event_id)
            rounds[round_key] = False
    for (cop_id, event_id, stage), complete in rounds.items():
        if complete:
            await repo.mark_stage(cop_id, event_id, stage)
    if queued:
        log.info("event reminders and feedback requests queued count=%d", queued)
    return queued


# -- the feature ---------------------------------------------------------------------------------------------------


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @links.producer(ICS_KIND)
    async def calendar_file(services: Services, params: Mapping[str, Any]) -> Download | None:
        cop_id, event_id = params.get("c"), params.get("e")
        if not isinstance(cop_id, str) or not is_event_id(event_id):
            return None
        try:
            event = await events_repo(services).get(cop_id, str(event_id))
        except StorageError:
            log.warning("calendar file: storage failed cop_id=%s event=%s", cop_id, event_id, exc_info=True)
            return None
        if event is None or event.cop_id != cop_id:
            return None
        return Download("text/calendar", f"event-{event.event_id}.ics", ics_bytes(event, services.clock.now()))

    privacy.register("events", _export, _erase)

    @router.command("events", help="Upcoming events and your answers")
    async def list_events(turn: Turn) -> None:
        await turn.respond.reply(await _list_card(turn))

    @router.command("event new", help="Create an event and announce it", role=Role.LEAD, places=("channel", "personal"))
    async def new_event(turn: Turn) -> None:
        cop = turn.cop
        if cop is not None:
            await turn.respond.reply(blank_form(turn, cop))
            return
        if turn.request.place.kind == "channel":
            await turn.respond.reply(NO_COP)
            return
        cops = await cop_repo(turn.services).all()
        aad = turn.request.person.aad_id
        mine = [(c.cop_id, c.name) for c in cops if c.is_lead(aad) or turn.role >= Role.ADMIN]
        if not mine:
            await turn.respond.reply("You don't lead a CoP yet, so there is nowhere to create an event.")
            return
        await turn.respond.reply(choose_cop_card(mine))

    @router.action("event.form", role=Role.LEAD)
    async def form_for_cop(turn: Turn) -> None:
        cop = await cop_of_action(turn)
        if cop is not None:
            turn.respond.answer_action(blank_form(turn, cop))

    @router.action("event.create", role=Role.LEAD)
    async def create(turn: Turn) -> None:
        await create_event(turn)

    # idempotent: the same choice twice writes nothing, so a redelivered click needs no dedupe claim; portable: a
    # message extension's event card works wherever it was inserted (bot/features/compose_search.py)
    @router.action("event.rsvp", idempotent=True, portable=True)
    async def rsvp(turn: Turn) -> None:
        await _rsvp(turn)

    # also the cards' refresh (Universal Actions): it only reads, so a refresh costs no dedupe claim
    @router.action("event.view", idempotent=True, portable=True)
    async def view(turn: Turn) -> None:
        target = await action_target(turn)
        if target is None:
            return
        cop, event_id = target
        repo = events_repo(turn.services)
        event, mine = await asyncio.gather(
            repo.get(cop.cop_id, event_id), repo.rsvp_of(cop.cop_id, event_id, turn.request.person.key)
        )
        if event is None:
            await turn.tell(UNKNOWN_EVENT)
            return
        if event.audience == "leads" and turn.role < Role.SPONSOR:
            await turn.tell(NOT_AUDIENCE["leads"])
            return
        shown = _personal_card(turn, event, mine)
        if event.kind == "lunch_and_learn":  # its recording and slides, once attached
            shown = await with_recordings(turn.services, shown, event.cop_id, event.event_id)
        turn.respond.answer_action(shown)

    @router.action("event.edit", role=Role.LEAD)
    async def edit(turn: Turn) -> None:
        found = await target_event(turn)
        if found is None:
            return
        cop, event = found
        reason = event.closed_reason(turn.services.clock.now())
        if reason is not None:
            await turn.tell(
                CANCELLED if reason == "cancelled" else "That event has already started, so it can't be edited."
            )
            return
        turn.respond.answer_action(
            event_form(cop.cop_id, cop.name, event.form(), event_id=event.event_id, editing=True)
        )

    @router.action("event.save", role=Role.LEAD)
    async def save(turn: Turn) -> None:
        await save_event(turn)

    @router.action("event.cancel", role=Role.LEAD)
    async def ask_cancel(turn: Turn) -> None:
        found = await target_event(turn)
        if found is None:
            return
        _, event = found
        if event.cancelled:
            await turn.tell("That event is already cancelled.")
            return
        turn.respond.answer_action(cancel_confirm_card(event))

    @router.action("event.cancel.confirm", role=Role.LEAD)
    async def confirm_cancel(turn: Turn) -> None:
        await cancel_event(turn)

    @router.action("event.feedback")
    async def feedback(turn: Turn) -> None:
        await _feedback(turn)


# -- handlers ------------------------------------------------------------------------------------------------------


def _personal_card(turn: Turn, event: Event, mine: Rsvp | None) -> Card:
    services = turn.services
    shown = announcement_card(
        event,
        now=services.clock.now(),
        calendar_url=calendar_url(services, event),
        mine=mine,
        personal=True,
        lead=turn.role >= Role.LEAD,
    )
    if turn.role >= Role.LEAD and event.kind == "lunch_and_learn" and not event.cancelled:
        shown.content["body"].append(attach_button(event.cop_id, event.event_id))  # its recording and slides
    return shown


async def _may_answer(turn: Turn, cop: Cop, event: Event) -> bool:
    if event.audience == "all" or turn.role >= Role.SPONSOR:
        return True
    if event.audience == "leads":
        return False
    state = turn.person_state
    if state is not None:  # role resolution read the person's partition this turn: no second read
        found = state.memberships.get(cop.cop_id)
        membership = found[0] if found is not None else None
    else:
        membership = await MembershipRepo(turn.services.store).membership(cop.cop_id, turn.request.person.key)
    return membership is not None and membership.tier == "core"


async def _rsvp(turn: Turn) -> None:
    target = await action_target(turn)
    if target is None:
        return
    cop, event_id = target
    assert turn.request.action is not None
    choice = turn.request.action.data.get("choice")
    if choice not in CHOICES:
        await turn.tell("That answer isn't one I know. Choose Going, Maybe or Can't go.")
        return
    services = turn.services
    person = turn.request.person
    repo = events_repo(services)

    async def allowed(event: Event) -> bool:
        return await _may_answer(turn, cop, event)

    try:
        outcome = await repo.rsvp(
            cop.cop_id, event_id, person.key, person.user_id, person.name, choice, services.clock.now(), allowed=allowed
        )
    except Busy:
        await turn.tell(BUSY)
        return
    event = outcome.event
    if event is None:
        await turn.tell(UNKNOWN_EVENT)
        return
    if outcome.refused == "audience":
        await turn.tell(NOT_AUDIENCE.get(event.audience, UNKNOWN_EVENT))
        return
    log.info("rsvp cop_id=%s event=%s changed=%s", cop.cop_id, event_id, outcome.changed)
    # the refusals (cancelled, past) answer with the current card, which says why answers are closed
    turn.respond.answer_action(_personal_card(turn, event, outcome.rsvp))
    if outcome.changed:
        runtime(services).refresher.request(services, event)
    if outcome.promoted:
        await tell_people(
            services,
            event,
            outcome.promoted,
            lambda r: f"promoted:{event_id}:{r.aad_id}:{r.seq}",
            promoted_notice(event, calendar_url=calendar_url(services, event)),
            any_reference(cop, event),
        )


async def _feedback(turn: Turn) -> None:
    target = await action_target(turn)
    if target is None:
        return
    cop, event_id = target
    services = turn.services
    now = services.clock.now()
    repo = events_repo(services)
    person = turn.request.person
    event, mine = await asyncio.gather(repo.get(cop.cop_id, event_id), repo.rsvp_of(cop.cop_id, event_id, person.key))
    if event is None:
        await turn.tell(UNKNOWN_EVENT)
        return
    if event.cancelled:
        await turn.tell("That event was cancelled, so there is nothing to rate.")
        return
    if now < event.end:
        await turn.tell("You can rate the event once it has finished.")
        return
    if mine is None or mine.status != "going":
        await turn.tell("Only people who were going can rate this event.")
        return
    assert turn.request.action is not None
    data = turn.request.action.data
    raw_rating, raw_comment = data.get("rating"), data.get("comment")
    comment = raw_comment.strip() if isinstance(raw_comment, str) else ""
    rating = (
        int(raw_rating)
        if isinstance(raw_rating, str | int) and str(raw_rating).strip() in ("1", "2", "3", "4", "5")
        else 0
    )
    if not rating:
        turn.respond.answer_action(
            feedback_card(event, error="Choose a rating from 1 to 5.", comment=comment[:COMMENT_MAX])
        )
        return
    if len(comment) > COMMENT_MAX:
        turn.respond.answer_action(
            feedback_card(
                event,
                error=f"The comment is too long: at most {COMMENT_MAX} characters.",
                rating=str(rating),
                comment=comment[:COMMENT_MAX],
            )
        )
        return
    await repo.record_feedback(cop.cop_id, event_id, person.key, person.name, rating, comment, now)
    turn.respond.answer_action(feedback_thanks(event, rating))


async def _list_card(turn: Turn) -> Card:
    services = turn.services
    now = services.clock.now()
    repo = events_repo(services)
    aad = turn.request.person.key
    cop = turn.cop
    if turn.request.place.kind != "personal":
        if cop is None:
            return notice(NO_COP)
        cops = [cop]
    else:
        all_cops = {c.cop_id: c for c in await cop_repo(services).all()}
        known = turn.memberships
        memberships = known if known is not None else await MembershipRepo(services.store).memberships_of(aad)
        mine = {m.cop_id for m in memberships}
        mine |= {c.cop_id for c in all_cops.values() if c.is_lead(aad) or c.is_sponsor(aad)}
        cops = [all_cops[c] for c in sorted(mine) if c in all_cops]

    async def of(cop: Cop) -> list[Listed]:
        events, answers = await asyncio.gather(
            repo.of_cop(cop.cop_id, ending_after=now), repo.my_rsvps(cop.cop_id, aad)
        )
        insider = cop.is_lead(aad) or cop.is_sponsor(aad) or turn.role >= Role.ADMIN
        return [
            Listed(e, cop.name, answers.get(e.event_id), calendar_url(services, e))
            for e in events
            if insider or e.audience != "leads"
        ]

    found = [item for group in await asyncio.gather(*(of(c) for c in cops)) for item in group]
    found.sort(key=lambda item: (item.event.start, item.event.event_id))
    leads_somewhere = any(c.is_lead(aad) for c in cops)
    return events_list_card(found, show_cop=len(cops) > 1, lead_hint=leads_somewhere)


# -- personal data -------------------------------------------------------------------------------------------------


async def _export(services: Services, aad_id: str) -> Any:
    repo = events_repo(services)
    answers: list[JSON] = []
    ratings: list[JSON] = []
    for row in await repo.rows_of_person(aad_id):
        when = row.get("at")
        common = {
            "cop_id": row.get("cop_id", ""),
            "event_id": row.get("event_id", ""),
            "at": when.isoformat() if isinstance(when, datetime) else "",
        }
        if row.get("kind_") == "rsvp":
            answers.append({**common, "answer": row.get("status", "")})
        elif row.get("kind_") == "feedback":
            ratings.append({**common, "rating": row.get("rating", 0), "comment": row.get("comment", "")})
    created = [
        {"cop_id": row.get("cop_id", ""), "event_id": row.get("event_id", ""), "title": row.get("title", "")}
        for row in await repo.events_created_by(aad_id)
    ]
    return {"rsvps": answers, "feedback": ratings, "events_created": created}


async def _erase(services: Services, aad_id: str) -> None:
    repo = events_repo(services)
    touched = await repo.erase_person(aad_id, services.clock.now())
    # announcements queued before references were cut down name whoever's activity made their reference
    touched += await repo.cut_old_references()
    log.info("events: erased personal data rows=%d", touched)
