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

This module holds the records, their rows and the events' limits; ``form`` turns a card's fields into a draft,
``rsvps`` writes RSVPs, ``repository`` everything else, ``history`` what governance, health and reminders read.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.core.clock import zone
from bot.domain.codec import dump_reference, dumps, load_reference, loads
from storage.base import (
    Row,
    Where,
    encode_key,
)

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


def is_event_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_EVENT_ID.match(value))


def new_event_id() -> str:
    return secrets.token_hex(6)


def event_key(event_id: str) -> str:
    return f"e|{event_id}"


def rsvp_key(event_id: str, aad_id: str) -> str:
    return f"r|{event_id}|{encode_key(aad_id)}"


def feedback_key(event_id: str, who: str) -> str:
    return f"f|{event_id}|{encode_key(who)}"


def key_range(prefix: str) -> list[Where]:
    """RowKeys starting with ``prefix`` (which ends in '|'): '}' sorts right after '|'."""
    return [Where("RowKey", "ge", prefix), Where("RowKey", "lt", prefix[:-1] + "}")]


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
        return event_key(self.event_id)

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


def event_data(event: Event) -> dict[str, Any]:
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


def event_from_row(row: Row) -> Event:
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


def rsvp_data(rsvp: Rsvp) -> dict[str, Any]:
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


def rsvp_from_row(row: Row) -> Rsvp:
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


@dataclass(frozen=True)
class Feedback:
    event_id: str
    rating: int
    comment: str
    at: datetime
    aad_id: str = ""  # empty once anonymised
    name: str = ""
