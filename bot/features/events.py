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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from icalendar import Calendar
from icalendar import Event as CalendarEvent

from bot.core.turn import JSON, Card, Person, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.engagement import mark_sent
from bot.domain.events import (
    CHOICES,
    COMMENT_MAX,
    Busy,
    Draft,
    Event,
    EventRepo,
    Invalid,
    Rsvp,
    Shared,
    due_messages,
    form_values,
    is_event_id,
    new_event_id,
    validate,
)
from bot.domain.members import MembershipRepo
from bot.features import event_meetings
from bot.features.resources import with_recordings
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Download, Links
from bot.security.privacy import PrivacyRegistry
from bot.security.sealing import seal_card
from cards.elements import notice
from cards.events import (
    Listed,
    announcement_card,
    cancel_confirm_card,
    cancel_notice,
    cancelled_card,
    change_notice,
    choose_cop_card,
    created_card,
    event_form,
    events_list_card,
    feedback_card,
    feedback_thanks,
    promoted_notice,
    reminder_card,
    saved_card,
)
from cards.resources import attach_button
from storage.base import BACKGROUND_TASK_PREFIX, AlreadyExists, NotFound, StorageError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

ICS_KIND = "event.ics"
CALENDAR_LINK_GRACE = timedelta(days=30)

NOT_THIS_COP = "That event belongs to another CoP, so I ignored the click."
NO_COP = "This team isn't set up as a CoP yet, so it has no events."
UNKNOWN_EVENT = "I can't find that event any more. Type **events** to see what's coming up."
CANCELLED = "That event has been cancelled, so answers are closed."
PAST = "That event has already started, so answers are closed."
NOT_AUDIENCE = {
    "core": "That event is for this CoP's core members only.",
    "leads": "That event is for this CoP's leads and sponsor only.",
}
BUSY = "Lots of people are answering at once and I couldn't record yours. Please click again."


def announce_key(event_id: str) -> str:
    return f"event:{event_id}:announce"


# -- per-app runtime (locks, coalesced updates) ----------------------------------------------------------------


class Refresher:
    """Keeps the shared channel card in step with storage, off the invoke path.

    One task per event per instance; requests during a run make it run again. Each run renders the latest
    event, updates the card, then re-reads the event: if it changed meanwhile (an RSVP here or on another
    instance), it renders again. So whichever update reaches Teams last shows the final counts, even with
    several instances updating the same card. During a burst of answers the card is updated at most once per
    ``min_gap_s`` (Teams allows about 7 messages per 3 s in a conversation), so a burst costs a few updates.
    """

    def __init__(self, min_gap_s: float = 1.0) -> None:
        self.min_gap_s = min_gap_s
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()
        self._activity_ids: dict[str, str] = {}  # event id -> the channel card's activity id (never changes)

    def request(self, services: Services, event: Event) -> None:
        key = f"{event.cop_id}|{event.event_id}"
        running = self._tasks.get(key)
        if running is not None and not running.done():
            self._again.add(key)  # the task re-reads: a newer write may exist on another instance too
            return
        self._tasks[key] = asyncio.get_running_loop().create_task(
            self._run(services, key, event), name=f"{BACKGROUND_TASK_PREFIX}announcement-refresh:{key}"
        )

    async def _run(self, services: Services, key: str, event: Event | None) -> None:
        from bot.teams import DeliveryError  # the seam's error type, imported late as the outbox does

        cop_id, event_id = key.split("|", 1)
        repo = events_repo(services)
        loop = asyncio.get_running_loop()
        try:
            while True:
                self._again.discard(key)
                try:
                    current = event or await repo.get(cop_id, event_id)
                    if current is None or not await self.update(services, current):
                        return
                    updated_at = loop.time()
                    event = await repo.get(cop_id, event_id)
                    if event is None or (event.etag == current.etag and key not in self._again):
                        return
                except DeliveryError as error:  # Teams refused or was unreachable: the next change retries
                    log.warning(
                        "announcement update failed cop_id=%s event=%s status=%s", cop_id, event_id, error.status
                    )
                    return
                except Exception:
                    log.warning("announcement refresh failed cop_id=%s event=%s", cop_id, event_id, exc_info=True)
                    return
                await asyncio.sleep(max(0.0, updated_at + self.min_gap_s - loop.time()))
                if key in self._again:
                    event = None  # read the latest again after the pause
        finally:
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]

    async def update(self, services: Services, event: Event) -> bool:
        """Render ``event`` into its channel card; False when there is no channel card (yet)."""
        if not event.announce_reference or event.audience == "leads":
            return False
        activity_id = self._activity_ids.get(event.event_id)
        if activity_id is None:
            activity_id = await services.outbox.sent_activity_id(announce_key(event.event_id))
            if activity_id is None:
                return False
            if len(self._activity_ids) > 5000:
                self._activity_ids.clear()
            self._activity_ids[event.event_id] = activity_id
        now = services.clock.now()
        card = announcement_card(event, now=now, calendar_url=calendar_url(services, event))
        # still the card the outbox sent: its presses stay attributed to the announcement (delivery report)
        sealed = seal_card(mark_sent(card), services.signer, now)
        await services.proactive.update(event.announce_reference, activity_id, sealed)
        return True

    async def settle(self) -> None:
        """Wait until no update is pending (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)


@dataclass
class EventsRuntime:
    shared: Shared = field(default_factory=Shared)
    refresher: Refresher = field(default_factory=Refresher)


def runtime(services: Services) -> EventsRuntime:
    if services.events is None:
        services.events = EventsRuntime()
    return services.events


def events_repo(services: Services) -> EventRepo:
    return EventRepo(services.store, runtime(services).shared)


async def settle(services: Services) -> None:
    """Wait for the work turns left running (Teams meetings among it) and announcement updates (tests; shutdown)."""
    await services.background.settle()
    await runtime(services).refresher.settle()


ANNOUNCED_WAIT_S = 60.0


async def _refresh(services: Services, event: Event) -> None:
    """Update the event's channel card in place once it has been posted (the outbox may not have sent it yet when
    a Teams meeting comes back); if it is not posted within a minute, the next answer's update shows the change."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ANNOUNCED_WAIT_S
    while await services.outbox.sent_activity_id(announce_key(event.event_id)) is None:
        if loop.time() > deadline or event.audience == "leads":
            return
        await asyncio.sleep(0.5)
    runtime(services).refresher.request(services, event)


def calendar_url(services: Services, event: Event) -> str:
    ttl = max(event.end - services.clock.now(), timedelta(0)) + CALENDAR_LINK_GRACE
    return services.links.link(services, ICS_KIND, {"c": event.cop_id, "e": event.event_id}, ttl)


async def refresh_announcement(services: Services, cop_id: str, event_id: str) -> bool:
    """Re-render the shared channel card from storage now; False when there is none (yet) to update."""
    event = await events_repo(services).get(cop_id, event_id)
    return event is not None and await runtime(services).refresher.update(services, event)


def _channel_reference(reference: Mapping[str, Any]) -> dict[str, Any]:
    """A channel reference with any thread suffix removed, so announcements start their own thread."""
    ref = dict(reference)
    conversation = dict(ref.get("conversation") or {})
    if isinstance(conversation.get("id"), str):
        conversation["id"] = conversation["id"].split(";", 1)[0]
    ref["conversation"] = conversation
    return ref


def _person(rsvp: Rsvp) -> Person:
    return Person(user_id=rsvp.user_id, aad_id=rsvp.aad_id, name=rsvp.name)


async def _tell_people(
    services: Services,
    event: Event,
    people: Iterable[Rsvp],
    key: Callable[[Rsvp], str],
    message: Card,
    reference: Mapping[str, Any],
) -> int:
    """Queue one personal message per person (bounded concurrency keeps big events inside the 5 s invoke)."""
    now = services.clock.now()
    gate = asyncio.Semaphore(16)

    async def one(rsvp: Rsvp) -> bool:
        if not rsvp.user_id:
            return False
        async with gate:
            return await services.outbox.enqueue(
                key(rsvp), reference, message, now, cop_id=event.cop_id, personal_for=_person(rsvp)
            )

    results = await asyncio.gather(*(one(r) for r in people))
    return sum(1 for r in results if r)


def _any_reference(cop: Cop | None, event: Event) -> dict[str, Any]:
    """A conversation reference of the right tenant to open personal chats from."""
    if cop is not None and cop.home_reference:
        return dict(cop.home_reference)
    return dict(event.announce_reference)


# -- calendar file ----------------------------------------------------------------------------------------------


def ics_bytes(event: Event, now: datetime) -> bytes:
    """An iCalendar file for the event: TZID times with their VTIMEZONE, a stable UID, SEQUENCE per edit,
    METHOD:CANCEL + STATUS:CANCELLED once cancelled."""
    calendar = Calendar()
    calendar.add("prodid", "-//CoP Bot//Communities of Practice//EN")
    calendar.add("version", "2.0")
    calendar.add("method", "CANCEL" if event.cancelled else "PUBLISH")
    item = CalendarEvent()
    item.add("uid", f"{event.event_id}@copbot")
    item.add("sequence", event.sequence)
    item.add("dtstamp", (event.updated_at or now).astimezone(UTC))
    item.add("dtstart", event.local_start)
    item.add("dtend", event.local_end)
    item.add("summary", event.title)
    item.add("status", "CANCELLED" if event.cancelled else "CONFIRMED")
    details = event.description
    if event.link:
        item.add("url", event.link)
        details = f"{details}\n\nJoin online: {event.link}".strip()
    if details:
        item.add("description", details)
    if event.place or event.link:
        item.add("location", event.place or event.link)
    calendar.add_component(item)
    start_year = event.local_start.date().replace(month=1, day=1)
    calendar.add_missing_timezones(first_date=start_year, last_date=start_year.replace(year=start_year.year + 2))
    body: bytes = calendar.to_ical()
    return body


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
        reference = _any_reference(cops.get(event.cop_id), event)
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
                due.key, reference, message, now, cop_id=event.cop_id, personal_for=_person(due.rsvp)
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
            await turn.respond.reply(_blank_form(turn, cop))
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
        cop = await _cop_of_action(turn)
        if cop is not None:
            turn.respond.answer_action(_blank_form(turn, cop))

    @router.action("event.create", role=Role.LEAD)
    async def create(turn: Turn) -> None:
        await _create(turn)

    # idempotent: the same choice twice writes nothing, so a redelivered click needs no dedupe claim; portable: a
    # message extension's event card works wherever it was inserted (bot/features/compose_search.py)
    @router.action("event.rsvp", idempotent=True, portable=True)
    async def rsvp(turn: Turn) -> None:
        await _rsvp(turn)

    # also the cards' refresh (Universal Actions): it only reads, so a refresh costs no dedupe claim
    @router.action("event.view", idempotent=True, portable=True)
    async def view(turn: Turn) -> None:
        target = await _target(turn)
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
        found = await _target_event(turn)
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
        await _save(turn)

    @router.action("event.cancel", role=Role.LEAD)
    async def ask_cancel(turn: Turn) -> None:
        found = await _target_event(turn)
        if found is None:
            return
        _, event = found
        if event.cancelled:
            await turn.tell("That event is already cancelled.")
            return
        turn.respond.answer_action(cancel_confirm_card(event))

    @router.action("event.cancel.confirm", role=Role.LEAD)
    async def confirm_cancel(turn: Turn) -> None:
        await _cancel(turn)

    @router.action("event.feedback")
    async def feedback(turn: Turn) -> None:
        await _feedback(turn)


# -- handlers ------------------------------------------------------------------------------------------------------


def _blank_form(turn: Turn, cop: Cop) -> Card:
    tz = cop.timezone or turn.services.settings.default_timezone
    return event_form(
        cop.cop_id, cop.name, {"tz": tz}, event_id=new_event_id(), meetings=turn.services.settings.teams_meetings
    )


async def _cop_of_action(turn: Turn) -> Cop | None:
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


async def _target(turn: Turn) -> tuple[Cop, str] | None:
    cop = await _cop_of_action(turn)
    if cop is None:
        return None
    assert turn.request.action is not None
    event_id = turn.request.action.data.get("id")
    if not is_event_id(event_id):
        await turn.tell(UNKNOWN_EVENT)
        return None
    return cop, str(event_id)


async def _target_event(turn: Turn) -> tuple[Cop, Event] | None:
    """The CoP and the event a lead's button is about, or None after telling the lead why not."""
    target = await _target(turn)
    if target is None:
        return None
    cop, event_id = target
    event = await events_repo(turn.services).get(cop.cop_id, event_id)
    if event is None:
        await turn.tell(UNKNOWN_EVENT)
        return None
    return cop, event


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


async def _create(turn: Turn) -> None:
    services = turn.services
    target = await _cop_of_action(turn)
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
    channel = _channel_reference(cop.home_reference) if cop.home_reference else {}
    if not channel and request.place.kind == "channel" and request.place.team_id == cop.cop_id:
        channel = _channel_reference(request.conversation_reference)
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
        event_meetings.make_later(services, cop, event, request.conversation_reference, _refresh)
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
    target = await _target(turn)
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
        await _tell_people(
            services,
            event,
            outcome.promoted,
            lambda r: f"promoted:{event_id}:{r.aad_id}:{r.seq}",
            promoted_notice(event, calendar_url=calendar_url(services, event)),
            _any_reference(cop, event),
        )


async def _save(turn: Turn) -> None:
    target = await _target(turn)
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
    reference = _any_reference(cop, event)
    promoted_keys = {r.aad_id for r in promoted}
    going = [r for r in await repo.rsvps(cop.cop_id, event_id, ("going", "waitlist")) if r.aad_id not in promoted_keys]
    told = await _tell_people(
        services,
        event,
        going,
        lambda r: f"changed:{event_id}:{event.sequence}:{r.aad_id}",
        change_notice(event, calendar_url=link),
        reference,
    )
    if promoted:
        await _tell_people(
            services,
            event,
            promoted,
            lambda r: f"promoted:{event_id}:{r.aad_id}:{r.seq}",
            promoted_notice(event, calendar_url=link),
            reference,
        )
    turn.respond.answer_action(saved_card(event, told + len(promoted)))


async def _cancel(turn: Turn) -> None:
    target = await _target(turn)
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
    told = await _tell_people(
        services,
        event,
        people,
        lambda r: f"cancelled:{event_id}:{r.aad_id}",
        cancel_notice(event, calendar_url=calendar_url(services, event)),
        _any_reference(cop, event),
    )
    turn.respond.answer_action(cancelled_card(event, told))


async def _feedback(turn: Turn) -> None:
    target = await _target(turn)
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


__all__ = ["ics_bytes", "refresh_announcement", "register", "run_due", "settle"]
