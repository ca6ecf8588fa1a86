"""Creating, editing and cancelling events: the form, the announcement it posts, and the notices a change
sends to the people who answered."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bot.core.turn import Card, Person
from bot.domain.cops import Cop
from bot.domain.events import (
    Draft,
    Event,
    Invalid,
    form_values,
    is_event_id,
    new_event_id,
    validate,
)
from bot.features import event_meetings
from bot.features.event_notices import (
    announce_key,
    any_reference,
    calendar_url,
    channel_reference,
    events_repo,
    refresh,
    runtime,
    tell_people,
)
from bot.routing.router import Turn
from bot.security import audit
from cards.events import (
    announcement_card,
    cancel_notice,
    cancelled_card,
    change_notice,
    created_card,
    event_form,
    promoted_notice,
    saved_card,
)
from storage.base import AlreadyExists, NotFound

if TYPE_CHECKING:
    from bot.services import Services


log = logging.getLogger(__name__)

NOT_THIS_COP = "That event belongs to another CoP, so I ignored the click."
UNKNOWN_EVENT = "I can't find that event any more. Type **events** to see what's coming up."
CANCELLED = "That event has been cancelled, so answers are closed."


def blank_form(turn: Turn, cop: Cop) -> Card:
    tz = cop.timezone or turn.services.settings.default_timezone
    return event_form(
        cop.cop_id, cop.name, {"tz": tz}, event_id=new_event_id(), meetings=turn.services.settings.teams_meetings
    )


async def cop_of_action(turn: Turn) -> Cop | None:
    """The CoP an action's data names, if it is the CoP of this turn (the seal already binds the pair)."""
    assert turn.request.action is not None
    named = turn.request.action.data.get("cop_id")
    if not isinstance(named, str) or not named or named != turn.cop_id:
        await turn.tell(NOT_THIS_COP)
        return None
    cop = turn.cop
    if cop is None or not cop.active:
        await turn.tell("That CoP isn't set up here any more.")
        return None
    return cop


async def action_target(turn: Turn) -> tuple[Cop, str] | None:
    cop = await cop_of_action(turn)
    if cop is None:
        return None
    assert turn.request.action is not None
    event_id = turn.request.action.data.get("id")
    if not is_event_id(event_id):
        await turn.tell(UNKNOWN_EVENT)
        return None
    return cop, str(event_id)


async def target_event(turn: Turn) -> tuple[Cop, Event] | None:
    """The CoP and the event a lead's button is about, or None after telling the lead why not."""
    target = await action_target(turn)
    if target is None:
        return None
    cop, event_id = target
    event = await events_repo(turn.services).get(cop.cop_id, event_id)
    if event is None:
        await turn.tell(UNKNOWN_EVENT)
        return None
    return cop, event


async def create_event(turn: Turn) -> None:
    services = turn.services
    target = await cop_of_action(turn)
    if target is None:
        return
    cop = target
    assert turn.request.action is not None
    event_id = turn.request.action.data.get("id")
    if not is_event_id(event_id):
        await turn.tell("That form is out of date. Type **event new** to start again.")
        return
    now = services.clock.now()
    values = form_values(turn.request.action.data)
    meetings = services.settings.teams_meetings
    if not meetings:
        values["teams_meeting"] = ""  # a forged toggle asks for nothing the tenant does not allow
    draft = validate(values, now, cop.timezone or services.settings.default_timezone)
    if isinstance(draft, Invalid):
        turn.respond.answer_action(
            event_form(cop.cop_id, cop.name, values, event_id=str(event_id), error=draft.reason, meetings=meetings)
        )
        return
    request = turn.request
    channel = channel_reference(cop.home_reference) if cop.home_reference else {}
    if not channel and request.place.kind == "channel" and request.place.team_id == cop.cop_id:
        channel = channel_reference(request.conversation_reference)
    if draft.audience != "leads" and not channel:
        turn.respond.answer_action(
            event_form(
                cop.cop_id,
                cop.name,
                values,
                event_id=str(event_id),
                error="I don't know this CoP's channel yet, so I can't announce the event. "
                "Create it from the CoP's channel (mention me there), or set the home channel first.",
                meetings=meetings,
            )
        )
        return
    person = request.person
    repo = events_repo(services)
    # a leads-only event has no channel card: keep a reference of this tenant to reach people privately later
    reference = channel if draft.audience != "leads" else (dict(cop.home_reference) or request.conversation_reference)
    try:
        event = await repo.create(cop.cop_id, draft, person.key, person.name, now, reference, str(event_id))
    except AlreadyExists:
        existing = await repo.get(cop.cop_id, str(event_id))
        if existing is None:
            await turn.tell("That form was already used. Type **event new** to start again.")
            return
        # pressed twice (or Teams retried after a failure): make sure it is announced, once (the keys dedupe)
        await _announce(services, cop, existing, request.conversation_reference)
        turn.respond.answer_action(created_card(existing, "It was already created (the button was pressed twice)."))
        return
    await audit.record(
        services.store, cop.cop_id, now, person.key, person.name, "event.create", f"{event.event_id} {event.title}"
    )
    where = await _announce(services, cop, event, request.conversation_reference)
    log.info("event created cop_id=%s event=%s audience=%s", cop.cop_id, event.event_id, event.audience)
    if event.meeting_state == "requested":
        event_meetings.make_later(services, cop, event, request.conversation_reference, refresh)
        where += " I'm making its Teams meeting now and will tell you when its link is on the announcement."
    turn.respond.answer_action(created_card(event, where))


async def _announce(services: Services, cop: Cop, event: Event, fallback: Mapping[str, Any]) -> str:
    now = services.clock.now()
    link = calendar_url(services, event)
    if event.audience != "leads":
        card = announcement_card(event, now=now, calendar_url=link)
        await services.outbox.enqueue(
            announce_key(event.event_id), event.announce_reference, card, now, cop_id=cop.cop_id
        )
        return "I'm posting the announcement in the CoP's channel now; its counts update as people answer."
    people = [*cop.leads, *([cop.sponsor] if cop.sponsor else [])]
    reference = dict(cop.home_reference) or dict(event.announce_reference) or dict(fallback)
    card = announcement_card(event, now=now, calendar_url=link)
    for who in people:
        if not who.user_id:
            continue
        await services.outbox.enqueue(
            f"{announce_key(event.event_id)}:{who.aad_id}",
            reference,
            card,
            now,
            cop_id=cop.cop_id,
            personal_for=Person(who.user_id, who.aad_id, who.name),
        )
    return f"It is for leads and the sponsor, so I'm sending it to the {len(people)} of you privately."


async def save_event(turn: Turn) -> None:
    target = await action_target(turn)
    if target is None:
        return
    cop, event_id = target
    services = turn.services
    now = services.clock.now()
    assert turn.request.action is not None
    values = form_values(turn.request.action.data)
    repo = events_repo(services)
    current = await repo.get(cop.cop_id, event_id)
    if current is None:
        await turn.tell(UNKNOWN_EVENT)
        return
    reason = current.closed_reason(now)
    if reason is not None:
        await turn.tell(
            CANCELLED if reason == "cancelled" else "That event has already started, so it can't be edited."
        )
        return
    draft: Draft | Invalid = validate(values, now, cop.timezone or services.settings.default_timezone)
    if (
        isinstance(draft, Draft)
        and draft.audience != current.audience
        and "leads" in (draft.audience, current.audience)
    ):
        draft = Invalid(
            "An event can't move between the channel and leads-only. Cancel it and create a new one.", "audience"
        )
    if isinstance(draft, Invalid):
        turn.respond.answer_action(
            event_form(cop.cop_id, cop.name, values, event_id=event_id, editing=True, error=draft.reason)
        )
        return
    try:
        event, promoted = await repo.edit(cop.cop_id, event_id, draft, now)
    except NotFound:
        await turn.tell(UNKNOWN_EVENT)
        return
    except ValueError as error:
        turn.respond.answer_action(
            event_form(
                cop.cop_id, cop.name, values, event_id=event_id, editing=True, error=f"Capacity is too small: {error}."
            )
        )
        return
    person = turn.request.person
    await audit.record(
        services.store, cop.cop_id, now, person.key, person.name, "event.edit", f"{event_id} {event.title}"
    )
    runtime(services).refresher.request(services, event)
    if event.meeting_id and (event.start, event.end, event.title) != (current.start, current.end, current.title):
        event_meetings.move_later(services, cop, event, turn.request.conversation_reference)
    link = calendar_url(services, event)
    reference = any_reference(cop, event)
    promoted_keys = {r.aad_id for r in promoted}
    going = [r for r in await repo.rsvps(cop.cop_id, event_id, ("going", "waitlist")) if r.aad_id not in promoted_keys]
    told = await tell_people(
        services,
        event,
        going,
        lambda r: f"changed:{event_id}:{event.sequence}:{r.aad_id}",
        change_notice(event, calendar_url=link),
        reference,
    )
    if promoted:
        await tell_people(
            services,
            event,
            promoted,
            lambda r: f"promoted:{event_id}:{r.aad_id}:{r.seq}",
            promoted_notice(event, calendar_url=link),
            reference,
        )
    turn.respond.answer_action(saved_card(event, told + len(promoted)))


async def cancel_event(turn: Turn) -> None:
    target = await action_target(turn)
    if target is None:
        return
    cop, event_id = target
    services = turn.services
    now = services.clock.now()
    repo = events_repo(services)
    before = await repo.get(cop.cop_id, event_id)
    if before is None:
        await turn.tell(UNKNOWN_EVENT)
        return
    if before.cancelled:
        await turn.tell("That event is already cancelled.")
        return
    if now >= before.end:
        await turn.tell("That event is already over, so there is nothing to cancel.")
        return
    event = await repo.cancel(cop.cop_id, event_id, now)
    if event is None:
        await turn.tell(UNKNOWN_EVENT)
        return
    person = turn.request.person
    await audit.record(
        services.store, cop.cop_id, now, person.key, person.name, "event.cancel", f"{event_id} {event.title}"
    )
    runtime(services).refresher.request(services, event)
    if event.meeting_id:
        event_meetings.cancel_later(services, cop, event, turn.request.conversation_reference)
    people = await repo.rsvps(cop.cop_id, event_id, ("going", "waitlist", "maybe"))
    told = await tell_people(
        services,
        event,
        people,
        lambda r: f"cancelled:{event_id}:{r.aad_id}",
        cancel_notice(event, calendar_url=calendar_url(services, event)),
        any_reference(cop, event),
    )
    turn.respond.answer_action(cancelled_card(event, told))
