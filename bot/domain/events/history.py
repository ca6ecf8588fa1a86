"""What governance, the health scorecard and the reminders read from the events table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.events.records import FEEDBACK_WINDOW, REMINDERS, TABLE, Event, Kind, Rsvp, event_from_row, key_range
from bot.domain.events.repository import EventRepo
from storage.base import (
    TableStore,
    Where,
    encode_key,
)

# -- what governance needs --------------------------------------------------------------------------------


async def lunch_and_learns_between(store: TableStore, cop_id: str, term_start: datetime, term_end: datetime) -> int:
    """Lunch and learns (not cancelled) starting within [term_start, term_end)."""
    events = await EventRepo(store).between(cop_id, term_start, term_end)
    return sum(1 for e in events if e.kind == "lunch_and_learn" and not e.cancelled)


async def last_held(store: TableStore, cop_id: str, kind: Kind, now: datetime) -> datetime | None:
    """When the most recent event of ``kind`` (not cancelled) started, if one has started by ``now``."""
    rows = await store.query(TABLE, encode_key(cop_id), [*key_range("e|"), Where("kind", "eq", kind)])
    held = [e.start for e in map(event_from_row, rows) if not e.cancelled and e.start <= now]
    return max(held) if held else None


async def last_core_meeting(store: TableStore, cop_id: str, now: datetime) -> datetime | None:
    return await last_held(store, cop_id, "core_meeting", now)


async def last_lead_sponsor_meeting(store: TableStore, cop_id: str, now: datetime) -> datetime | None:
    return await last_held(store, cop_id, "lead_sponsor", now)


async def meeting_starts(
    store: TableStore, cop_id: str, since: datetime, until: datetime
) -> tuple[tuple[datetime, ...], tuple[datetime, ...]]:
    """Starts of the lead-sponsor meetings and of the core meetings (held or scheduled, not cancelled) that
    start within [since, until], oldest first: what the governance checks need."""
    events = await EventRepo(store).between(cop_id, since, until + timedelta(microseconds=1))
    kept = [e for e in events if not e.cancelled]
    return (
        tuple(e.start for e in kept if e.kind == "lead_sponsor"),
        tuple(e.start for e in kept if e.kind == "core_meeting"),
    )


@dataclass(frozen=True)
class Ratings:
    count: int
    average: float | None  # None without ratings
    histogram: tuple[int, int, int, int, int]  # how many 1s, 2s, … 5s


def summarise(ratings: Sequence[int]) -> Ratings:
    valid = [r for r in ratings if 1 <= r <= 5]
    histogram = tuple(sum(1 for r in valid if r == star) for star in range(1, 6))
    average = round(sum(valid) / len(valid), 2) if valid else None
    return Ratings(len(valid), average, histogram)  # type: ignore[arg-type]


async def feedback_average(store: TableStore, cop_id: str, event_id: str | None = None) -> Ratings:
    """Ratings of one event, or of all the CoP's events when ``event_id`` is None."""
    return summarise([f.rating for f in await EventRepo(store).feedback(cop_id, event_id)])


_NOBODY = Rsvp("", "", "", "", "", "no", datetime(2000, 1, 1, tzinfo=UTC))

# -- reminders and feedback requests ----------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    """One personal message due now: ``what`` is "24h", "1h" or "feedback"."""

    key: str
    event: Event
    rsvp: Rsvp
    what: str
    stage: str  # the round this message belongs to; mark it done once the whole round is queued


async def due_messages(store: TableStore, cop_ids: Sequence[str], now: datetime) -> list[Due]:
    """Pure over storage and ``now``: reminders 24 h and 1 h before the start to those going (only the nearer
    one once both are due) and feedback requests after the end (within 7 days). Keys make enqueuing them
    idempotent; a rescheduled event gets fresh reminder keys (its start is in them). Rounds already fully
    queued (``stages_done``) are skipped, so a timer every minute does not re-offer the same keys all week."""
    repo = EventRepo(store)
    due: list[Due] = []
    for cop_id in cop_ids:
        where = [
            *key_range("e|"),
            Where("start", "le", now + REMINDERS[0][1]),
            Where("end", "gt", now - FEEDBACK_WINDOW),
        ]
        rows = await store.query(TABLE, encode_key(cop_id), where)
        for event in map(event_from_row, rows):
            if event.cancelled:
                continue
            what: str | None = None
            if now < event.start:
                for label, before in reversed(REMINDERS):  # nearest first: 1h, then 24h
                    if now >= event.start - before:
                        what = label
                        break
            elif now >= event.end:
                what = "feedback"
            if what is None:
                continue
            stamp = event.start.strftime("%Y%m%dT%H%M")
            stage = "feedback" if what == "feedback" else f"{what}:{stamp}"
            if stage in event.stages_done:
                continue
            going = await repo.rsvps(cop_id, event.event_id, ("going",))
            if not going:
                due.append(Due("", event, _NOBODY, what, stage))  # nobody going: the round is done anyway
            for rsvp in going:
                if what == "feedback":
                    key = f"feedback:{event.event_id}:{rsvp.aad_id}"
                else:
                    key = f"reminder:{event.event_id}:{what}:{rsvp.aad_id}:{stamp}"
                due.append(Due(key, event, rsvp, what, stage))
    return due
