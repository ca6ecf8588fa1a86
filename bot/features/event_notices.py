"""How an event reaches people: its channel announcement kept current (updated in place, coalesced per
event), notices to people through the outbox, and its calendar file."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.turn import Card, Person
from bot.domain.cops import Cop
from bot.domain.engagement import mark_sent
from bot.domain.events import (
    Event,
    EventRepo,
    Rsvp,
    Shared,
)
from bot.jobs.background import BACKGROUND_TASK_PREFIX
from bot.security.sealing import seal_card
from cards.events import (
    announcement_card,
)

if TYPE_CHECKING:
    from bot.services import Services


log = logging.getLogger(__name__)

ICS_KIND = "event.ics"
CALENDAR_LINK_GRACE = timedelta(days=30)


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


async def refresh(services: Services, event: Event) -> None:
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


def channel_reference(reference: Mapping[str, Any]) -> dict[str, Any]:
    """A channel reference with any thread suffix removed, so announcements start their own thread."""
    ref = dict(reference)
    conversation = dict(ref.get("conversation") or {})
    if isinstance(conversation.get("id"), str):
        conversation["id"] = conversation["id"].split(";", 1)[0]
    ref["conversation"] = conversation
    return ref


def person_of(rsvp: Rsvp) -> Person:
    return Person(user_id=rsvp.user_id, aad_id=rsvp.aad_id, name=rsvp.name)


async def tell_people(
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
                key(rsvp), reference, message, now, cop_id=event.cop_id, personal_for=person_of(rsvp)
            )

    results = await asyncio.gather(*(one(r) for r in people))
    return sum(1 for r in results if r)


def any_reference(cop: Cop | None, event: Event) -> dict[str, Any]:
    """A conversation reference of the right tenant to open personal chats from."""
    if cop is not None and cop.home_reference:
        return dict(cop.home_reference)
    return dict(event.announce_reference)


# -- calendar file ----------------------------------------------------------------------------------------------


def ics_bytes(event: Event, now: datetime) -> bytes:
    """An iCalendar file for the event: TZID times with their VTIMEZONE, a stable UID, SEQUENCE per edit,
    METHOD:CANCEL + STATUS:CANCELLED once cancelled."""
    # imported on the first calendar file, not at start: icalendar's ~100 modules are 3.5 MB of a process that
    # may never serve one
    from icalendar import Calendar
    from icalendar import Event as CalendarEvent

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
