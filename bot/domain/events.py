"""Events, RSVPs with capacity and waitlist, and feedback (table ``events``).

One partition per CoP (``encode_key(cop_id)``), so an event, its RSVPs and its feedback sit together and an RSVP
is one atomic batch:

- ``e|<event>`` the event itself plus its summary: counts per status, the next waitlist ticket, the people the
  channel card refreshes for. Its ETag serialises every change of the counts.
- ``r|<event>|<person>`` one RSVP per person: status going / waitlist / maybe / no, waitlist ticket ``seq``.
- ``f|<event>|<person>`` one feedback per person: rating 1-5 and a comment (anonymised rows on erasure).

An RSVP costs at most three storage round trips: the person's row is read (with the event row, unless this
process holds the copy it last wrote), then the request joins the event's queue and the event's single writer
in this process commits everything queued in ONE batch: the RSVP rows, any promoted rows and the event row,
each guarded by its ETag, so two app instances can never both count the same place and a stale copy only
costs a retry. Twenty people answering at once cost one write, not twenty writes in a row. Dropping out of a
full event while people wait adds one query for the earliest waitlist tickets.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import secrets
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.core.clock import named_zone, zone
from bot.core.turn import JSON, reference_without_person
from bot.domain.codec import dump_reference, dumps, load_reference, loads, written_before_the_cut
from storage.base import (
    AlreadyExists,
    BatchOp,
    NotFound,
    PreconditionFailed,
    Row,
    StorageError,
    TableStore,
    Where,
    encode_key,
)

log = logging.getLogger(__name__)

TABLE = "events"
Kind = Literal["lunch_and_learn", "core_meeting", "lead_sponsor", "workshop", "social"]
Audience = Literal["all", "core", "leads"]
Choice = Literal["going", "maybe", "no"]
Status = Literal["going", "waitlist", "maybe", "no"]

KINDS: dict[str, str] = {
    "lunch_and_learn": "Lunch and learn",
    "core_meeting": "Core members' meeting",
    "lead_sponsor": "Lead\N{EN DASH}sponsor meeting",
    "workshop": "Workshop",
    "social": "Social",
}
AUDIENCES: dict[str, str] = {
    "all": "Everyone in the CoP",
    "core": "Core members only",
    "leads": "Leads and sponsor",
}
CHOICES: tuple[Choice, ...] = ("going", "maybe", "no")
STATUSES: tuple[Status, ...] = ("going", "waitlist", "maybe", "no")

TITLE_MAX = 120
PLACE_MAX = 200
LINK_MAX = 500
DESCRIPTION_MAX = 2000
COMMENT_MAX = 1000
CAPACITY_MAX = 10_000
LONGEST_EVENT = timedelta(days=7)
FURTHEST_AHEAD = timedelta(days=366)
MAX_VIEWERS = 60  # Teams refreshes a card automatically for at most 60 listed users
MAX_ATTEMPTS = 40
FEEDBACK_WINDOW = timedelta(days=7)
REMINDERS: tuple[tuple[str, timedelta], ...] = (("24h", timedelta(hours=24)), ("1h", timedelta(hours=1)))

_EVENT_ID = re.compile(r"^[0-9a-f]{12}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_T = TypeVar("_T")


def is_event_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_EVENT_ID.match(value))


def new_event_id() -> str:
    return secrets.token_hex(6)


def _event_key(event_id: str) -> str:
    return f"e|{event_id}"


def _rsvp_key(event_id: str, aad_id: str) -> str:
    return f"r|{event_id}|{encode_key(aad_id)}"


def _feedback_key(event_id: str, who: str) -> str:
    return f"f|{event_id}|{encode_key(who)}"


def _range(prefix: str) -> list[Where]:
    """RowKeys starting with ``prefix`` (which ends in '|'): '}' sorts right after '|'."""
    return [Where("RowKey", "ge", prefix), Where("RowKey", "lt", prefix[:-1] + "}")]


# -- the form -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A validated event form: times are aware UTC, ``tz`` is where they are shown."""

    title: str
    kind: Kind
    start: datetime
    end: datetime
    tz: str
    link: str = ""
    place: str = ""
    capacity: int | None = None
    audience: Audience = "all"
    description: str = ""
    teams_meeting: bool = False  # make a Teams meeting for it (when the tenant allows; no link given)


@dataclass(frozen=True)
class Invalid:
    """Why a form was refused; ``field`` names the input to fix."""

    reason: str
    field: str


FORM_FIELDS = (
    "title",
    "kind",
    "date",
    "start",
    "end",
    "tz",
    "link",
    "place",
    "capacity",
    "audience",
    "description",
    "teams_meeting",
)


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The form's inputs as trimmed strings (what to show again next to an error)."""
    values: dict[str, str] = {}
    for name in FORM_FIELDS:
        raw = data.get(name)
        if isinstance(raw, bool) or raw is None:
            values[name] = ""
        elif isinstance(raw, int | float | str):
            values[name] = str(raw).strip()[: DESCRIPTION_MAX + 1]
        else:
            values[name] = ""
    return values


def local_time(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The aware moment of a wall-clock time, or None when clocks skip it (the spring-forward gap)."""
    moment = datetime.combine(day, at, tzinfo=tz)
    back = moment.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != moment.replace(tzinfo=None):
        return None
    return moment


def _parsed(pattern: re.Pattern[str], text: str, parse: Callable[[str], _T]) -> _T | None:
    """``parse(text)`` when the text has the expected shape and parses, else None."""
    if not pattern.match(text):
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def validate(values: Mapping[str, str], now: datetime, default_tz: str = "Europe/London") -> Draft | Invalid:
    """Check a submitted event form; pure (takes ``now``)."""
    title = values.get("title", "")
    if len(title) < 3:
        return Invalid("Give the event a title of at least 3 characters.", "title")
    if len(title) > TITLE_MAX:
        return Invalid(f"The title is too long: at most {TITLE_MAX} characters.", "title")
    kind = values.get("kind", "")
    if kind not in KINDS:
        return Invalid("Choose what kind of event this is.", "kind")
    tz_name = values.get("tz", "") or default_tz
    tz = named_zone(tz_name)
    if tz is None:
        return Invalid(f"I don't know the time zone '{tz_name[:64]}'. Use a name like Europe/London.", "tz")
    day_text, start_text, end_text = values.get("date", ""), values.get("start", ""), values.get("end", "")
    day = _parsed(_DATE, day_text, date.fromisoformat)
    if day is None:
        return Invalid("Pick the date of the event.", "date")
    start_at = _parsed(_TIME, start_text, time.fromisoformat)
    if start_at is None:
        return Invalid("Give a start time (HH:MM).", "start")
    end_at = _parsed(_TIME, end_text, time.fromisoformat)
    if end_at is None:
        return Invalid("Give an end time (HH:MM).", "end")
    start = local_time(day, start_at, tz)
    if start is None:
        return Invalid(f"{start_text} doesn't exist on {day_text} in {tz_name}: the clocks go forward.", "start")
    # an end earlier in the day than the start means the event runs past midnight only if it says so: refuse
    end = local_time(day, end_at, tz)
    if end is None:
        return Invalid(f"{end_text} doesn't exist on {day_text} in {tz_name}: the clocks go forward.", "end")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return Invalid("The end time must be after the start time.", "end")
    if end - start > LONGEST_EVENT:
        return Invalid("An event can last at most 7 days.", "end")
    if start <= now:
        return Invalid("That start time is in the past. Pick a time that is still to come.", "start")
    if start - now > FURTHEST_AHEAD:
        return Invalid("That is more than a year away. Pick a date within the next year.", "date")
    link = values.get("link", "")
    if link:
        if len(link) > LINK_MAX:
            return Invalid(f"The link is too long: at most {LINK_MAX} characters.", "link")
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in link):
            return Invalid("The online link must be a web address starting with https:// (or http://).", "link")
    place = values.get("place", "")
    if len(place) > PLACE_MAX:
        return Invalid(f"The place is too long: at most {PLACE_MAX} characters.", "place")
    teams_meeting = values.get("teams_meeting", "") == "true" and not link  # a pasted link wins
    if not link and not place and not teams_meeting:
        return Invalid("Say where it happens: an online link, a place, or both.", "place")
    capacity: int | None = None
    capacity_text = values.get("capacity", "")
    if capacity_text:
        try:
            number = float(capacity_text)
        except ValueError:
            return Invalid("Capacity must be a whole number of people, or empty for no limit.", "capacity")
        if not number.is_integer() or not 1 <= number <= CAPACITY_MAX:
            return Invalid(f"Capacity must be a whole number from 1 to {CAPACITY_MAX}, or empty.", "capacity")
        capacity = int(number)
    audience = values.get("audience", "") or "all"
    if audience not in AUDIENCES:
        return Invalid("Choose who the event is for.", "audience")
    description = values.get("description", "")
    if len(description) > DESCRIPTION_MAX:
        return Invalid(f"The description is too long: at most {DESCRIPTION_MAX} characters.", "description")
    return Draft(
        title=title,
        kind=kind,  # type: ignore[arg-type]
        start=start,
        end=end,
        tz=tz_name,
        link=link,
        place=place,
        capacity=capacity,
        audience=audience,  # type: ignore[arg-type]
        description=description,
        teams_meeting=teams_meeting,
    )


# -- records ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    cop_id: str
    event_id: str
    title: str
    kind: Kind
    start: datetime
    end: datetime
    tz: str
    link: str = ""
    place: str = ""
    capacity: int | None = None
    audience: Audience = "all"
    description: str = ""
    cancelled: bool = False
    sequence: int = 0  # iCalendar SEQUENCE: +1 on every edit and on cancellation
    created_by: str = ""  # AAD id of the lead who created it
    created_by_name: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    announce_reference: dict[str, Any] = field(default_factory=dict)  # where the channel card was posted
    going: int = 0
    waitlist: int = 0
    maybe: int = 0
    no: int = 0
    next_seq: int = 1
    viewers: tuple[str, ...] = ()  # Teams user ids the channel card refreshes for (the latest responders)
    stages_done: tuple[str, ...] = ()  # reminder / feedback rounds fully queued ("24h:<start>", "feedback")
    meeting_id: str = ""  # the Teams meeting Graph made for it (its link is ``link``)
    meeting_state: str = ""  # "", "requested", "ready", or "failed: <why>" (bot/features/event_meetings.py)
    etag: str = ""

    @property
    def key(self) -> str:
        return _event_key(self.event_id)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.tz, ZoneInfo("Europe/London"))

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(self.zone)

    @property
    def full(self) -> bool:
        return self.capacity is not None and self.going >= self.capacity

    def count(self, status: Status) -> int:
        return int(getattr(self, status))

    def closed_reason(self, now: datetime) -> str | None:
        """Why RSVPs are closed, or None when open."""
        if self.cancelled:
            return "cancelled"
        if now >= self.start:
            return "past"
        return None

    def form(self) -> dict[str, str]:
        """The event as form values, for editing."""
        start, end = self.local_start, self.local_end
        return {
            "title": self.title,
            "kind": self.kind,
            "date": start.date().isoformat(),
            "start": start.strftime("%H:%M"),
            "end": end.strftime("%H:%M"),
            "tz": self.tz,
            "link": self.link,
            "place": self.place,
            "capacity": str(self.capacity) if self.capacity else "",
            "audience": self.audience,
            "description": self.description,
        }


@dataclass(frozen=True)
class Rsvp:
    cop_id: str
    event_id: str
    aad_id: str
    user_id: str
    name: str
    status: Status
    at: datetime
    seq: int = 0  # waitlist ticket: lower is earlier
    etag: str = ""


def _event_data(event: Event) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind_": "event",
        "cop_id": event.cop_id,
        "event_id": event.event_id,
        "title": event.title,
        "kind": event.kind,
        "start": event.start,
        "end": event.end,
        "tz": event.tz,
        "link": event.link,
        "place": event.place,
        "capacity": event.capacity or 0,
        "audience": event.audience,
        "description": event.description,
        "cancelled": event.cancelled,
        "sequence": event.sequence,
        "created_by": event.created_by,
        "created_by_name": event.created_by_name,
        "announce_reference": dump_reference(event.announce_reference),
        "going": event.going,
        "waitlist": event.waitlist,
        "maybe": event.maybe,
        "no": event.no,
        "next_seq": event.next_seq,
        "viewers": dumps(list(event.viewers)),
        "stages_done": dumps(list(event.stages_done)),
        "meeting_id": event.meeting_id,
        "meeting_state": event.meeting_state,
    }
    if event.created_at is not None:
        data["created_at"] = event.created_at
    if event.updated_at is not None:
        data["updated_at"] = event.updated_at
    return data


def _event_from_row(row: Row) -> Event:
    get = row.get
    capacity = int(get("capacity", 0) or 0)
    return Event(
        cop_id=str(get("cop_id", "")),
        event_id=str(get("event_id", "")),
        title=str(get("title", "")),
        kind=get("kind", "social") if get("kind") in KINDS else "social",
        start=get("start"),
        end=get("end"),
        tz=str(get("tz", "Europe/London")),
        link=str(get("link", "")),
        place=str(get("place", "")),
        capacity=capacity or None,
        audience=get("audience") if get("audience") in AUDIENCES else "all",
        description=str(get("description", "")),
        cancelled=bool(get("cancelled", False)),
        sequence=int(get("sequence", 0)),
        created_by=str(get("created_by", "")),
        created_by_name=str(get("created_by_name", "")),
        created_at=get("created_at"),
        updated_at=get("updated_at"),
        announce_reference=load_reference(get("announce_reference")),
        going=int(get("going", 0)),
        waitlist=int(get("waitlist", 0)),
        maybe=int(get("maybe", 0)),
        no=int(get("no", 0)),
        next_seq=int(get("next_seq", 1)),
        viewers=tuple(str(v) for v in loads(get("viewers"), [])),
        stages_done=tuple(str(v) for v in loads(get("stages_done"), [])),
        meeting_id=str(get("meeting_id", "") or ""),
        meeting_state=str(get("meeting_state", "") or ""),
        etag=row.etag,
    )


def _rsvp_data(rsvp: Rsvp) -> dict[str, Any]:
    return {
        "kind_": "rsvp",
        "cop_id": rsvp.cop_id,
        "event_id": rsvp.event_id,
        "aad_id": rsvp.aad_id,
        "user_id": rsvp.user_id,
        "name": rsvp.name[:200],
        "status": rsvp.status,
        "at": rsvp.at,
        "seq": rsvp.seq,
    }


def _rsvp_from_row(row: Row) -> Rsvp:
    get = row.get
    status = get("status")
    return Rsvp(
        cop_id=str(get("cop_id", "")),
        event_id=str(get("event_id", "")),
        aad_id=str(get("aad_id", "")),
        user_id=str(get("user_id", "")),
        name=str(get("name", "")),
        status=status if status in STATUSES else "no",
        at=get("at"),
        seq=int(get("seq", 0)),
        etag=row.etag,
    )


# -- outcomes ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RsvpOutcome:
    """What an RSVP did. ``refused`` is "unknown", "cancelled", "past" or "audience" when nothing was written."""

    event: Event | None
    rsvp: Rsvp | None
    changed: bool = False
    previous: Status | None = None
    promoted: tuple[Rsvp, ...] = ()
    refused: str | None = None
    round_trips: int = 0
    attempts: int = 0


class Busy(StorageError):
    """An event kept changing under us for MAX_ATTEMPTS tries (extreme contention)."""


@dataclass(frozen=True)
class Feedback:
    event_id: str
    rating: int
    comment: str
    at: datetime
    aad_id: str = ""  # empty once anonymised
    name: str = ""


def _with_viewer(viewers: Sequence[str], user_id: str, keep: bool) -> tuple[str, ...]:
    rest = [v for v in viewers if v != user_id]
    if keep and user_id:
        rest.append(user_id)
    return tuple(rest[-MAX_VIEWERS:])


def _adjust(event: Event, changes: Mapping[Status, int]) -> Event:
    def counted(status: Status) -> int:
        return max(0, event.count(status) + changes.get(status, 0))

    return replace(
        event, going=counted("going"), waitlist=counted("waitlist"), maybe=counted("maybe"), no=counted("no")
    )


GROUP_MAX = 40  # requests per batch: each writes its row and may promote one person, plus the event row (<= 100)


@dataclass(eq=False)
class _Pending:
    """One queued RSVP waiting for the event's writer."""

    aad_id: str
    user_id: str
    name: str
    choice: Choice | None
    now: datetime
    mine: Rsvp | None  # the person's row as read before queueing (its ETag guards the write)
    allowed: Callable[[Event], Awaitable[bool]] | None
    permitted: tuple[str, bool] | None  # (audience checked, answer)
    done: asyncio.Future[RsvpOutcome] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


@dataclass(eq=False)
class _Queue:
    pending: list[_Pending] = field(default_factory=list)
    writer: asyncio.Task[None] | None = None


@dataclass
class Shared:
    """Per-process state of the events domain (kept in ``services.events``): per event, the queue of RSVPs for
    its single writer, a lock for edits, and the event row as this process last wrote or read it. The copy is
    only ever written back with its ETag, so a stale one costs a retry, never a wrong count."""

    locks: weakref.WeakValueDictionary[str, asyncio.Lock] = field(default_factory=weakref.WeakValueDictionary)
    events: dict[str, Event] = field(default_factory=dict)
    queues: dict[str, _Queue] = field(default_factory=dict)  # RSVPs waiting for their event's writer
    limit: int = 2000

    def queue(self, key: str) -> _Queue:
        found = self.queues.get(key)
        if found is None:
            found = self.queues[key] = _Queue()
        return found

    def remember(self, key: str, event: Event) -> None:
        self.events.pop(key, None)
        if len(self.events) >= self.limit:
            self.events.pop(next(iter(self.events)))
        self.events[key] = event

    def forget(self, key: str) -> None:
        self.events.pop(key, None)


class EventRepo:
    def __init__(self, store: TableStore, shared: Shared | None = None):
        self._store = store
        self._shared = shared if shared is not None else Shared()

    def _lock(self, cop_id: str, event_id: str) -> asyncio.Lock:
        key = f"{cop_id}|{event_id}"
        lock = self._shared.locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._shared.locks[key] = lock
        return lock

    # -- events ---------------------------------------------------------------------------------------------
    async def create(
        self,
        cop_id: str,
        draft: Draft,
        creator_aad: str,
        creator_name: str,
        now: datetime,
        announce_reference: Mapping[str, Any] | None = None,
        event_id: str | None = None,
    ) -> Event:
        """Insert a new event; AlreadyExists if ``event_id`` (pre-allocated by the form) was used already."""
        event = Event(
            cop_id=cop_id,
            event_id=event_id if event_id is not None and is_event_id(event_id) else new_event_id(),
            title=draft.title,
            kind=draft.kind,
            start=draft.start,
            end=draft.end,
            tz=draft.tz,
            link=draft.link,
            place=draft.place,
            capacity=draft.capacity,
            audience=draft.audience,
            description=draft.description,
            created_by=creator_aad,
            created_by_name=creator_name[:200],
            created_at=now,
            updated_at=now,
            announce_reference=reference_without_person(announce_reference or {}),
            meeting_state="requested" if draft.teams_meeting else "",
        )
        row = await self._store.insert(TABLE, encode_key(cop_id), event.key, _event_data(event))
        return replace(event, etag=row.etag)

    async def get(self, cop_id: str, event_id: str) -> Event | None:
        if not is_event_id(event_id):
            return None
        try:
            return _event_from_row(await self._store.get(TABLE, encode_key(cop_id), _event_key(event_id)))
        except NotFound:
            return None

    async def of_cop(self, cop_id: str, *, ending_after: datetime | None = None) -> list[Event]:
        """The CoP's events (optionally only those ending after a moment), soonest first."""
        where = _range("e|")
        if ending_after is not None:
            where.append(Where("end", "gt", ending_after))
        rows = await self._store.query(TABLE, encode_key(cop_id), where)
        return sorted((_event_from_row(r) for r in rows), key=lambda e: (e.start, e.event_id))

    async def between(self, cop_id: str, starts_from: datetime, starts_before: datetime) -> list[Event]:
        where = [*_range("e|"), Where("start", "ge", starts_from), Where("start", "lt", starts_before)]
        rows = await self._store.query(TABLE, encode_key(cop_id), where)
        return sorted((_event_from_row(r) for r in rows), key=lambda e: (e.start, e.event_id))

    async def edit(self, cop_id: str, event_id: str, draft: Draft, now: datetime) -> tuple[Event, tuple[Rsvp, ...]]:
        """Apply an edited form (SEQUENCE + 1). A larger capacity promotes waiting people, earliest first.
        Raises NotFound for an unknown event and ValueError when the capacity is below those already going."""
        async with self._lock(cop_id, event_id):
            for attempt in range(MAX_ATTEMPTS):
                event = await self.get(cop_id, event_id)
                if event is None:
                    raise NotFound(event_id)
                if draft.capacity is not None and draft.capacity < event.going:
                    raise ValueError(f"{event.going} people are already going")
                edited = replace(
                    event,
                    title=draft.title,
                    kind=draft.kind,
                    start=draft.start,
                    end=draft.end,
                    tz=draft.tz,
                    link=draft.link,
                    place=draft.place,
                    capacity=draft.capacity,
                    audience=draft.audience,
                    description=draft.description,
                    sequence=event.sequence + 1,
                    updated_at=now,
                )
                places = (draft.capacity - event.going) if draft.capacity is not None else event.waitlist
                promoted: list[Rsvp] = []
                if places > 0 and event.waitlist > 0:
                    waiting = await self._waiting(cop_id, event_id)
                    promoted = [replace(r, status="going", at=now) for r in waiting[: min(places, 98)]]
                    edited = _adjust(edited, {"going": len(promoted), "waitlist": -len(promoted)})
                ops = [BatchOp("update", event.key, _event_data(edited), event.etag)]
                ops += [BatchOp("update", _rsvp_key(event_id, r.aad_id), _rsvp_data(r), r.etag) for r in promoted]
                try:
                    rows = await self._store.batch(TABLE, encode_key(cop_id), ops)
                except (PreconditionFailed, NotFound):
                    await _backoff(attempt)
                    continue
                first = rows[0]
                self._shared.forget(f"{cop_id}|{event_id}")
                return replace(edited, etag=first.etag if first else ""), tuple(promoted)
        raise Busy(f"event {event_id} kept changing")

    async def mark_stage(self, cop_id: str, event_id: str, stage: str) -> None:
        """Record that a reminder / feedback round was fully queued (an optimisation: keys already dedupe)."""
        async with self._lock(cop_id, event_id):
            for attempt in range(MAX_ATTEMPTS):
                event = await self.get(cop_id, event_id)
                if event is None or stage in event.stages_done:
                    return
                marked = replace(event, stages_done=(*event.stages_done, stage)[-10:])
                try:
                    await self._store.update(TABLE, encode_key(cop_id), event.key, _event_data(marked), etag=event.etag)
                    self._shared.forget(f"{cop_id}|{event_id}")
                    return
                except PreconditionFailed:
                    await _backoff(attempt)
        raise Busy(f"event {event_id} kept changing")

    async def set_meeting(
        self, cop_id: str, event_id: str, state: str, meeting_id: str = "", link: str = ""
    ) -> Event | None:
        """Record what became of the event's Teams meeting: ``ready`` with its id and join link (the link is set
        only where the lead has not given one meanwhile), or ``failed: <why>``. None if the event is gone."""
        async with self._lock(cop_id, event_id):
            for attempt in range(MAX_ATTEMPTS):
                event = await self.get(cop_id, event_id)
                if event is None:
                    return None
                changed = replace(
                    event,
                    meeting_state=state,
                    meeting_id=meeting_id or event.meeting_id,
                    link=event.link or link,
                )
                try:
                    row = await self._store.update(
                        TABLE, encode_key(cop_id), event.key, _event_data(changed), etag=event.etag
                    )
                except PreconditionFailed:
                    await _backoff(attempt)
                    continue
                self._shared.forget(f"{cop_id}|{event_id}")
                return replace(changed, etag=row.etag)
        raise Busy(f"event {event_id} kept changing")

    async def cancel(self, cop_id: str, event_id: str, now: datetime) -> Event | None:
        """Mark cancelled (SEQUENCE + 1); None if unknown. Cancelling twice changes nothing."""
        async with self._lock(cop_id, event_id):
            for attempt in range(MAX_ATTEMPTS):
                event = await self.get(cop_id, event_id)
                if event is None or event.cancelled:
                    return event
                cancelled = replace(event, cancelled=True, sequence=event.sequence + 1, updated_at=now)
                try:
                    row = await self._store.update(
                        TABLE, encode_key(cop_id), event.key, _event_data(cancelled), etag=event.etag
                    )
                except PreconditionFailed:
                    await _backoff(attempt)
                    continue
                self._shared.forget(f"{cop_id}|{event_id}")
                return replace(cancelled, etag=row.etag)
        raise Busy(f"event {event_id} kept changing")

    # -- RSVPs ----------------------------------------------------------------------------------------------
    async def rsvp_of(self, cop_id: str, event_id: str, aad_id: str) -> Rsvp | None:
        try:
            return _rsvp_from_row(await self._store.get(TABLE, encode_key(cop_id), _rsvp_key(event_id, aad_id)))
        except NotFound:
            return None

    async def rsvps(self, cop_id: str, event_id: str, statuses: Sequence[Status] = STATUSES) -> list[Rsvp]:
        rows = await self._store.query(TABLE, encode_key(cop_id), _range(f"r|{event_id}|"))
        found = [_rsvp_from_row(r) for r in rows]
        return [r for r in found if r.status in statuses]

    async def my_rsvps(self, cop_id: str, aad_id: str) -> dict[str, Rsvp]:
        """This person's RSVPs in one CoP, by event id (one query)."""
        rows = await self._store.query(TABLE, encode_key(cop_id), [*_range("r|"), Where("aad_id", "eq", aad_id)])
        return {r.event_id: r for r in (_rsvp_from_row(row) for row in rows)}

    async def _waiting(self, cop_id: str, event_id: str) -> list[Rsvp]:
        rows = await self._store.query(
            TABLE, encode_key(cop_id), [*_range(f"r|{event_id}|"), Where("status", "eq", "waitlist")]
        )
        return sorted((_rsvp_from_row(r) for r in rows), key=lambda r: (r.seq, r.aad_id))

    async def rsvp(
        self,
        cop_id: str,
        event_id: str,
        aad_id: str,
        user_id: str,
        name: str,
        choice: Choice | None,
        now: datetime,
        *,
        allowed: Callable[[Event], Awaitable[bool]] | None = None,
    ) -> RsvpOutcome:
        """Record ``choice`` (None removes the RSVP, for erasure). Idempotent: the same choice twice writes
        nothing. Capacity: "going" beyond it joins the waitlist; a going person dropping out promotes the
        earliest waiting one in the same atomic batch. ``allowed`` may refuse the person ("audience").

        Group commit: the person's row (and the event, unless this process holds a copy) is read first, then
        the request joins the event's queue; one writer per event per process takes everything queued and
        writes it in ONE batch (the RSVP rows, any promoted rows and the event row, all ETag-guarded). So 20
        people answering at once cost one write, not 20 writes in a row; a stale copy only costs a retry."""
        pk = encode_key(cop_id)
        shared_key = f"{cop_id}|{event_id}"
        event = self._shared.events.get(shared_key)
        if event is None:
            event_row, mine_row = await asyncio.gather(
                _get_or_none(self._store, pk, _event_key(event_id)),
                _get_or_none(self._store, pk, _rsvp_key(event_id, aad_id)),
            )
            trips = 2
            if event_row is None:
                return RsvpOutcome(None, None, refused="unknown", round_trips=trips, attempts=0)
            event = _event_from_row(event_row)
            self._shared.remember(shared_key, event)
        else:
            mine_row = await _get_or_none(self._store, pk, _rsvp_key(event_id, aad_id))
            trips = 1
        mine = _rsvp_from_row(mine_row) if mine_row is not None else None
        permitted: tuple[str, bool] | None = None
        if choice is not None:
            refused = event.closed_reason(now)
            if refused == "past" and trips == 1:  # a copy may predate a reschedule on another instance: check
                fresh_row = await _get_or_none(self._store, pk, _event_key(event_id))
                trips += 1
                if fresh_row is None:
                    self._shared.forget(shared_key)
                    return RsvpOutcome(None, None, refused="unknown", round_trips=trips, attempts=0)
                event = _event_from_row(fresh_row)
                self._shared.remember(shared_key, event)
                refused = event.closed_reason(now)
            if refused is not None:  # cancelling is final, and so is having started
                return RsvpOutcome(event, mine, refused=refused, round_trips=trips, attempts=0)
            if allowed is not None:
                permitted = (event.audience, await allowed(event))
                if not permitted[1]:
                    return RsvpOutcome(event, mine, refused="audience", round_trips=trips, attempts=0)
        request = _Pending(aad_id, user_id, name, choice, now, mine, allowed, permitted)
        queue = self._shared.queue(shared_key)
        queue.pending.append(request)
        if queue.writer is None or queue.writer.done():
            queue.writer = asyncio.get_running_loop().create_task(self._write_queued(cop_id, event_id, queue))
        outcome = await asyncio.shield(request.done)
        return replace(outcome, round_trips=outcome.round_trips + trips)

    async def _write_queued(self, cop_id: str, event_id: str, queue: _Queue) -> None:
        """The event's single writer in this process: commits what is queued, group by group."""
        shared_key = f"{cop_id}|{event_id}"
        try:
            while queue.pending:
                group: list[_Pending] = []
                rest: list[_Pending] = []
                people: set[str] = set()
                for request in queue.pending:  # one request per person per batch (a row may appear once)
                    if request.aad_id in people or len(group) >= GROUP_MAX:
                        rest.append(request)
                    else:
                        group.append(request)
                        people.add(request.aad_id)
                queue.pending = rest
                try:
                    outcomes = await self._commit(cop_id, event_id, group)
                except Exception as error:
                    for request in group:
                        if not request.done.done():
                            request.done.set_exception(error)
                    continue
                for request, outcome in zip(group, outcomes, strict=True):
                    if not request.done.done():
                        request.done.set_result(outcome)
        finally:
            if self._shared.queues.get(shared_key) is queue and not queue.pending:
                del self._shared.queues[shared_key]

    async def _commit(self, cop_id: str, event_id: str, group: list[_Pending]) -> list[RsvpOutcome]:
        pk = encode_key(cop_id)
        shared_key = f"{cop_id}|{event_id}"
        event = self._shared.events.get(shared_key)
        originals: dict[str, Rsvp | None] = {r.aad_id: r.mine for r in group}
        trips = 0
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if event is None:  # first time without a copy, or after a conflict: read everything involved again
                rows = await asyncio.gather(
                    _get_or_none(self._store, pk, _event_key(event_id)),
                    *(_get_or_none(self._store, pk, _rsvp_key(event_id, r.aad_id)) for r in group),
                )
                trips += 1
                if rows[0] is None:
                    self._shared.forget(shared_key)
                    return [RsvpOutcome(None, None, refused="unknown", round_trips=trips, attempts=attempt)] * len(
                        group
                    )
                event = _event_from_row(rows[0])
                originals = {
                    r.aad_id: (_rsvp_from_row(row) if row is not None else None)
                    for r, row in zip(group, rows[1:], strict=True)
                }
            state: dict[str, Rsvp | None] = dict(originals)
            waiting_loaded = False
            current = event
            results: list[tuple[Rsvp | None, bool, Status | None, tuple[Rsvp, ...], str | None]] = []
            for request in group:
                mine = state.get(request.aad_id)
                if request.choice is not None:
                    refused = current.closed_reason(request.now)
                    if refused is None and request.allowed is not None:
                        if request.permitted is None or request.permitted[0] != current.audience:
                            request.permitted = (current.audience, await request.allowed(current))
                        if not request.permitted[1]:
                            refused = "audience"
                    if refused is not None:
                        results.append((mine, False, mine.status if mine else None, (), refused))
                        continue
                previous = mine.status if mine else None
                new_status = _next_status(current, previous, request.choice)
                if new_status == previous:
                    results.append((mine, False, previous, (), None))
                    continue
                changes: dict[Status, int] = {}
                if previous is not None:
                    changes[previous] = -1
                if new_status is not None:
                    changes[new_status] = changes.get(new_status, 0) + 1
                seq = mine.seq if mine else 0
                next_seq = current.next_seq
                if new_status == "waitlist":
                    seq, next_seq = next_seq, next_seq + 1
                promoted: tuple[Rsvp, ...] = ()
                frees_a_place = current.capacity is not None and current.going - 1 < current.capacity
                if previous == "going" and current.waitlist > 0 and frees_a_place:
                    if not waiting_loaded:
                        for row in await self._waiting(cop_id, event_id):
                            originals.setdefault(row.aad_id, row)
                            state.setdefault(row.aad_id, row)
                        waiting_loaded = True
                        trips += 1
                    candidates = sorted(
                        (r for r in state.values() if r is not None and r.status == "waitlist"),
                        key=lambda r: (r.seq, r.aad_id),
                    )
                    candidates = [r for r in candidates if r.aad_id != request.aad_id]
                    if candidates:
                        first = replace(candidates[0], status="going", at=request.now)
                        state[first.aad_id] = first
                        promoted = (first,)
                        changes["going"] = changes.get("going", 0) + 1
                        changes["waitlist"] = changes.get("waitlist", 0) - 1
                keep = new_status in ("going", "waitlist", "maybe")
                current = replace(
                    _adjust(current, changes),
                    next_seq=next_seq,
                    viewers=_with_viewer(current.viewers, request.user_id, keep),
                )
                answer = (
                    Rsvp(cop_id, event_id, request.aad_id, request.user_id, request.name, new_status, request.now, seq)
                    if new_status is not None
                    else None
                )
                state[request.aad_id] = answer
                results.append((answer, True, previous, promoted, None))
            ops: list[BatchOp] = []
            for who, now_row in state.items():
                before = originals.get(who)
                if now_row is before:
                    continue
                key = _rsvp_key(event_id, who)
                if now_row is None:
                    if before is not None:
                        ops.append(BatchOp("delete", key, {}, before.etag))
                elif before is None:
                    ops.append(BatchOp("insert", key, _rsvp_data(now_row)))
                else:
                    ops.append(BatchOp("update", key, _rsvp_data(now_row), before.etag))
            if ops or current is not event:
                ops.insert(0, BatchOp("update", event.key, _event_data(current), event.etag))
                trips += 1
                try:
                    written = await self._store.batch(TABLE, pk, ops)
                except (PreconditionFailed, AlreadyExists, NotFound):
                    log.debug("rsvp conflict cop_id=%s event=%s attempt=%d", cop_id, event_id, attempt)
                    self._shared.forget(shared_key)
                    event = None
                    await _backoff(attempt)
                    continue
                etags = {op.row_key: row.etag for op, row in zip(ops, written, strict=True) if row is not None}
                current = replace(current, etag=etags.get(event.key, ""))
                self._shared.remember(shared_key, current)
            else:
                etags = {}
            final = current
            return [
                RsvpOutcome(
                    final,
                    replace(answer, etag=etags.get(_rsvp_key(event_id, answer.aad_id), answer.etag))
                    if answer
                    else None,
                    changed,
                    previous,
                    promoted,
                    refused,
                    trips,
                    attempt,
                )
                for answer, changed, previous, promoted, refused in results
            ]
        raise Busy(f"event {event_id} kept changing")

    # -- feedback -------------------------------------------------------------------------------------------
    async def record_feedback(
        self, cop_id: str, event_id: str, aad_id: str, name: str, rating: int, comment: str, now: datetime
    ) -> None:
        """One feedback per person per event; sending again replaces it."""
        await self._store.upsert(
            TABLE,
            encode_key(cop_id),
            _feedback_key(event_id, aad_id),
            {
                "kind_": "feedback",
                "cop_id": cop_id,
                "event_id": event_id,
                "aad_id": aad_id,
                "name": name[:200],
                "rating": rating,
                "comment": comment[:COMMENT_MAX],
                "at": now,
            },
        )

    async def feedback(self, cop_id: str, event_id: str | None = None) -> list[Feedback]:
        prefix = f"f|{event_id}|" if event_id else "f|"
        rows = await self._store.query(TABLE, encode_key(cop_id), _range(prefix))
        return [
            Feedback(
                event_id=str(r.get("event_id", "")),
                rating=int(r.get("rating", 0)),
                comment=str(r.get("comment", "")),
                at=r.get("at"),
                aad_id=str(r.get("aad_id", "")),
                name=str(r.get("name", "")),
            )
            for r in rows
        ]

    # -- personal data --------------------------------------------------------------------------------------
    async def rows_of_person(self, aad_id: str) -> list[Row]:
        """Every RSVP and feedback row naming this person, across CoPs (a table scan: privacy requests only)."""
        return await self._store.query(TABLE, None, [Where("aad_id", "eq", aad_id)])

    async def events_created_by(self, aad_id: str) -> list[Row]:
        return await self._store.query(TABLE, None, [Where("created_by", "eq", aad_id)])

    async def erase_person(self, aad_id: str, now: datetime) -> int:
        """Delete the person's RSVPs (counts adjusted, waitlist promoted), keep their ratings without them
        (no name, no id, no comment), and remove their name from events they created. Returns rows touched."""
        touched = 0
        for row in await self.rows_of_person(aad_id):
            cop_id = str(row.get("cop_id", ""))
            kind = row.get("kind_")
            if kind == "rsvp" and cop_id:
                # with their Teams id, so that they also leave the card's refresh list ("viewers")
                await self.rsvp(cop_id, str(row.get("event_id")), aad_id, str(row.get("user_id", "")), "", None, now)
                touched += 1
            elif kind == "feedback":
                anonymous = {
                    "kind_": "feedback",
                    "cop_id": cop_id,
                    "event_id": row.get("event_id", ""),
                    "rating": row.get("rating", 0),
                    "at": row.get("at", now),
                    "aad_id": "",
                    "name": "",
                    "comment": "",
                }
                await self._store.batch(
                    TABLE,
                    row.partition_key,
                    [
                        BatchOp("delete", row.row_key),
                        BatchOp("insert", f"f|{row.get('event_id')}|anon-{secrets.token_hex(8)}", anonymous),
                    ],
                )
                touched += 1
        for row in await self.events_created_by(aad_id):
            if await _rewrite(self._store, row, lambda r: {**r.data, "created_by": "", "created_by_name": ""}):
                touched += 1
        return touched

    async def cut_old_references(self) -> int:
        """Rewrite the events whose announcement reference was stored whole, before references were cut down (it
        names whoever's activity made it: the CoP's installer, whose home channel reference it copies, or the
        event's creator). Reading cuts it anyway; this is for erasure, after which no row may name the person.
        A table scan of the event rows: privacy requests only. Returns how many rows were rewritten."""

        def cut(row: Row) -> JSON | None:
            stored = row.get("announce_reference")
            if not written_before_the_cut(stored):
                return None
            return {**row.data, "announce_reference": dump_reference(load_reference(stored))}

        rewritten = 0
        for row in await self._store.query(TABLE, None, [Where("kind_", "eq", "event")]):
            if await _rewrite(self._store, row, cut):
                rewritten += 1
        return rewritten


def _next_status(event: Event, previous: Status | None, choice: Choice | None) -> Status | None:
    if choice is None:
        return None
    if choice == "going":
        if previous in ("going", "waitlist"):
            return previous
        if event.capacity is not None and event.going >= event.capacity:
            return "waitlist"
        return "going"
    return choice


async def _rewrite(store: TableStore, row: Row, change: Callable[[Row], JSON | None]) -> bool:
    """Update ``row`` with ``change(row)`` (None: nothing to do), reading it again and retrying when an RSVP moved
    it meanwhile. True if it was written."""
    for attempt in range(MAX_ATTEMPTS):
        data = change(row)
        if data is None:
            return False
        try:
            await store.update(TABLE, row.partition_key, row.row_key, data, etag=row.etag)
            return True
        except PreconditionFailed:
            await _backoff(attempt)
            fresh = await _get_or_none(store, row.partition_key, row.row_key)
            if fresh is None:
                return False
            row = fresh
        except NotFound:
            return False
    return False


async def _get_or_none(store: TableStore, partition_key: str, row_key: str) -> Row | None:
    try:
        return await store.get(TABLE, partition_key, row_key)
    except NotFound:
        return None


async def _backoff(attempt: int) -> None:
    """Jittered, growing pause after a conflict so competing instances stop colliding in lock-step."""
    await asyncio.sleep(random.uniform(0, 0.004 * min(attempt, 10)))


# -- what governance needs --------------------------------------------------------------------------------


async def lunch_and_learns_between(store: TableStore, cop_id: str, term_start: datetime, term_end: datetime) -> int:
    """Lunch and learns (not cancelled) starting within [term_start, term_end)."""
    events = await EventRepo(store).between(cop_id, term_start, term_end)
    return sum(1 for e in events if e.kind == "lunch_and_learn" and not e.cancelled)


async def last_held(store: TableStore, cop_id: str, kind: Kind, now: datetime) -> datetime | None:
    """When the most recent event of ``kind`` (not cancelled) started, if one has started by ``now``."""
    rows = await store.query(TABLE, encode_key(cop_id), [*_range("e|"), Where("kind", "eq", kind)])
    held = [e.start for e in map(_event_from_row, rows) if not e.cancelled and e.start <= now]
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
            *_range("e|"),
            Where("start", "le", now + REMINDERS[0][1]),
            Where("end", "gt", now - FEEDBACK_WINDOW),
        ]
        rows = await store.query(TABLE, encode_key(cop_id), where)
        for event in map(_event_from_row, rows):
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
