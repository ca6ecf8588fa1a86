"""What happened before, and outside, the bot: past activities, meetings held elsewhere and their actions (table
``records``, one partition per CoP, ``encode_key(cop_id)``).

- ``m|<id>`` a record: a past Lunch and Learn, core members' meeting, workshop, social or lead-sponsor meeting
  (its day, title, attendance count, who attended, notes). Never announced; it counts in the health scorecard, the
  governance checks and the programme view like an event the bot announced (:func:`held_between`).
- ``a|<id>`` an action agreed at a recorded meeting: what, its owner, its due day, open or closed, and whether
  its owner was reminded on the due day.

A record has a day, not a time: it counts as held at noon of that day in the CoP's time zone.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from bot.domain.codec import dumps, loads
from bot.domain.cops import PersonRef
from bot.domain.validation import BadInput, chosen_people, clean_text
from storage.base import NotFound, PreconditionFailed, Row, TableStore, Where, encode_key

TABLE = "records"
Kind = Literal["lunch_and_learn", "core_meeting", "lead_sponsor", "workshop", "social"]
KINDS: dict[str, str] = {
    "lunch_and_learn": "Lunch and learn",
    "core_meeting": "Core members' meeting",
    "lead_sponsor": "Lead\N{EN DASH}sponsor meeting",
    "workshop": "Workshop",
    "social": "Social",
}
MEETING_KINDS: tuple[Kind, ...] = ("core_meeting", "lead_sponsor")
EARLIEST = date(2010, 1, 1)  # the programme began in 2017; older dates are typing slips
TITLE_MAX = 120
NOTES_MAX = 2000
ACTION_MAX = 300
ATTENDANCE_MAX = 10_000
ATTENDEES_MAX = 60
ACTIONS_PER_MEETING = 3
DUE_AHEAD = timedelta(days=366)
FORMER = PersonRef("", "", "former member")
_ID_LEN = 12


def new_id() -> str:
    return secrets.token_hex(_ID_LEN // 2)


def is_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == _ID_LEN and all(c in "0123456789abcdef" for c in value)


def noon(day: date, tz: ZoneInfo) -> datetime:
    """When a record of ``day`` counts as held: noon of that day in the CoP's time zone, in UTC."""
    return datetime.combine(day, time(12, 0), tzinfo=tz).astimezone(UTC)


def parse_day(value: Any, label: str) -> date:
    text = clean_text(value, label, 10, required=True)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{label} must be a date such as 2026-10-14.") from None


def past_day(value: Any, today: date, label: str = "Date") -> date:
    """A day on or before ``today`` and not before 2010: future events go through **event new**."""
    day = parse_day(value, label)
    if day > today:
        raise BadInput(
            f"{label} is in the future ({day.isoformat()}). Record only what already happened; "
            "plan a future event with **event new**."
        )
    if day < EARLIEST:
        raise BadInput(f"{label} is before {EARLIEST.year}; please check the year.")
    return day


@dataclass(frozen=True)
class Record:
    record_id: str
    cop_id: str
    kind: Kind
    day: date
    held_at: datetime  # noon of ``day`` in the CoP's time zone (UTC)
    title: str
    attendance: int | None  # a head count (past events); None when not given
    attendees: tuple[PersonRef, ...]  # named attendees (meetings held elsewhere)
    notes: str
    by: PersonRef
    recorded_at: datetime

    @property
    def label(self) -> str:
        return self.title or KINDS[self.kind]


@dataclass(frozen=True)
class Action:
    action_id: str
    cop_id: str
    record_id: str
    text: str
    owner: PersonRef
    due: date
    status: Literal["open", "closed"]
    created_at: datetime
    created_by: PersonRef
    closed_at: datetime | None = None
    closed_by: PersonRef | None = None
    reminded: bool = False
    etag: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"


def _person(value: Any) -> PersonRef:
    found = PersonRef.from_json(value)
    return found if found is not None else FORMER


def _record_data(r: Record) -> dict[str, Any]:
    return {
        "kind_of": "record",
        "record_id": r.record_id,
        "cop_id": r.cop_id,
        "kind": r.kind,
        "day": r.day.isoformat(),
        "held_at": r.held_at,
        "title": r.title,
        "attendance": -1 if r.attendance is None else r.attendance,
        "attendees": dumps([p.as_json() for p in r.attendees]),
        "people": " ".join(sorted({p.aad_id for p in (*r.attendees, r.by) if p.aad_id})),
        "notes": r.notes,
        "by": dumps(r.by.as_json()),
        "recorded_at": r.recorded_at,
    }


def _record(row: Row) -> Record:
    get = row.get
    attendance = int(get("attendance", -1))
    kind = str(get("kind", "social"))
    return Record(
        record_id=str(get("record_id", "")),
        cop_id=str(get("cop_id", "")),
        kind=kind if kind in KINDS else "social",  # type: ignore[arg-type]
        day=date.fromisoformat(str(get("day"))),
        held_at=get("held_at"),  # type: ignore[arg-type]
        title=str(get("title", "")),
        attendance=None if attendance < 0 else attendance,
        attendees=tuple(p for p in (PersonRef.from_json(x) for x in loads(get("attendees"), [])) if p is not None),
        notes=str(get("notes", "")),
        by=_person(loads(get("by"), None)),
        recorded_at=get("recorded_at"),  # type: ignore[arg-type]
    )


def _action_data(a: Action) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind_of": "action",
        "action_id": a.action_id,
        "cop_id": a.cop_id,
        "record_id": a.record_id,
        "text": a.text,
        "owner": dumps(a.owner.as_json()),
        "owner_aad": a.owner.aad_id,
        "created_by_aad": a.created_by.aad_id,
        "due": a.due.isoformat(),
        "status": a.status,
        "created_at": a.created_at,
        "created_by": dumps(a.created_by.as_json()),
        "closed_by": dumps(a.closed_by.as_json() if a.closed_by else None),
        "reminded": a.reminded,
    }
    if a.closed_at is not None:
        data["closed_at"] = a.closed_at
    return data


def _action(row: Row) -> Action:
    get = row.get
    closer = loads(get("closed_by"), None)
    return Action(
        action_id=str(get("action_id", "")),
        cop_id=str(get("cop_id", "")),
        record_id=str(get("record_id", "")),
        text=str(get("text", "")),
        owner=_person(loads(get("owner"), None)),
        due=date.fromisoformat(str(get("due"))),
        status="closed" if get("status") == "closed" else "open",
        created_at=get("created_at"),  # type: ignore[arg-type]
        created_by=_person(loads(get("created_by"), None)),
        closed_at=get("closed_at"),  # type: ignore[arg-type]
        closed_by=_person(closer) if closer else None,
        reminded=bool(get("reminded", False)),
        etag=row.etag,
    )


def _range(prefix: str) -> list[Where]:
    return [Where("RowKey", "ge", prefix), Where("RowKey", "lt", prefix[:-1] + chr(ord(prefix[-1]) + 1))]


class RecordRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def add(self, record: Record, actions: Sequence[Action] = ()) -> None:
        pk = encode_key(record.cop_id)
        await self._store.insert(TABLE, pk, "m|" + record.record_id, _record_data(record))
        for action in actions:
            await self._store.insert(TABLE, pk, "a|" + action.action_id, _action_data(action))

    async def of_cop(self, cop_id: str) -> list[Record]:
        rows = await self._store.query(TABLE, encode_key(cop_id), _range("m|"))
        return sorted((_record(r) for r in rows), key=lambda r: r.held_at)

    async def actions_of(self, cop_id: str, *, open_only: bool = True) -> list[Action]:
        where = _range("a|") + ([Where("status", "eq", "open")] if open_only else [])
        rows = await self._store.query(TABLE, encode_key(cop_id), where)
        return sorted((_action(r) for r in rows), key=lambda a: (a.due, a.created_at))

    async def open_actions_due(self, day: date) -> list[Action]:
        """Open actions of every CoP due on or before ``day`` whose owner was not reminded yet."""
        rows = await self._store.query(
            TABLE,
            None,
            [Where("kind_of", "eq", "action"), Where("status", "eq", "open"), Where("due", "le", day.isoformat())],
        )
        return [a for a in map(_action, rows) if not a.reminded]

    async def remove(self, cop_id: str, record_id: str) -> Record | None:
        """Delete a record entered by mistake, with its actions (None if it is gone already)."""
        pk = encode_key(cop_id)
        try:
            found = _record(await self._store.get(TABLE, pk, "m|" + record_id))
        except NotFound:
            return None
        for action in await self.actions_of(cop_id, open_only=False):
            if action.record_id == record_id:
                with contextlib.suppress(NotFound):
                    await self._store.delete(TABLE, pk, "a|" + action.action_id)
        with contextlib.suppress(NotFound):
            await self._store.delete(TABLE, pk, "m|" + record_id)
        return found

    async def action(self, cop_id: str, action_id: str) -> Action | None:
        try:
            return _action(await self._store.get(TABLE, encode_key(cop_id), "a|" + action_id))
        except NotFound:
            return None

    async def save_action(self, action: Action) -> Action:
        """Conditional replace (PreconditionFailed when it changed since it was read)."""
        row = await self._store.update(
            TABLE, encode_key(action.cop_id), "a|" + action.action_id, _action_data(action), etag=action.etag or None
        )
        return replace(action, etag=row.etag)

    async def close(self, cop_id: str, action_id: str, by: PersonRef, now: datetime) -> Action | None:
        """Close an open action (None if unknown); an action closed already is returned as it is."""
        for _ in range(5):
            found = await self.action(cop_id, action_id)
            if found is None or not found.is_open:
                return found
            try:
                return await self.save_action(replace(found, status="closed", closed_at=now, closed_by=by))
            except PreconditionFailed:
                continue
        raise PreconditionFailed(f"action {action_id} kept changing")

    async def mark_reminded(self, action: Action) -> None:
        # closed or changed meanwhile: the outbox key keeps the reminder single anyway
        with contextlib.suppress(PreconditionFailed, NotFound):
            await self.save_action(replace(action, reminded=True))

    # -- personal data ------------------------------------------------------------------------------------
    async def rows_of_person(self, aad_id: str) -> tuple[list[Record], list[Action]]:
        if not aad_id:
            return [], []  # "former member" rows hold an empty id: they are nobody's
        rows = await self._store.query(TABLE, None)
        records = [
            _record(r) for r in rows if r.get("kind_of") == "record" and aad_id in str(r.get("people", "")).split()
        ]
        actions = [
            a
            for a in (_action(r) for r in rows if r.get("kind_of") == "action")
            if aad_id in (a.owner.aad_id, a.created_by.aad_id, a.closed_by.aad_id if a.closed_by else None)
        ]
        return records, actions

    async def erase_person(self, aad_id: str) -> int:
        """Take the person out of every record and action: out of attendee lists; "former member" where they
        recorded, owned or closed something. Head counts, days and notes stay (they describe the CoP)."""
        records, actions = await self.rows_of_person(aad_id)
        changed = 0
        for r in records:
            cleaned = replace(
                r,
                attendees=tuple(p for p in r.attendees if p.aad_id != aad_id),
                by=FORMER if r.by.aad_id == aad_id else r.by,
            )
            await self._store.upsert(TABLE, encode_key(r.cop_id), "m|" + r.record_id, _record_data(cleaned))
            changed += 1
        for a in actions:

            def gone(p: PersonRef) -> PersonRef:
                return FORMER if p.aad_id == aad_id else p

            cleaned_action = replace(
                a,
                owner=gone(a.owner),
                created_by=gone(a.created_by),
                closed_by=gone(a.closed_by) if a.closed_by is not None else None,
            )
            await self._store.upsert(TABLE, encode_key(a.cop_id), "a|" + a.action_id, _action_data(cleaned_action))
            changed += 1
        return changed


def export_record(r: Record, aad_id: str) -> dict[str, Any]:
    return {
        "cop_id": r.cop_id,
        "kind": r.kind,
        "day": r.day.isoformat(),
        "title": r.title,
        "you": [
            role
            for role, yes in (
                ("attended", any(p.aad_id == aad_id for p in r.attendees)),
                ("recorded it", r.by.aad_id == aad_id),
            )
            if yes
        ],
    }


def export_action(a: Action) -> dict[str, Any]:
    return {
        "cop_id": a.cop_id,
        "action": a.text,
        "owner": a.owner.name,
        "due": a.due.isoformat(),
        "status": a.status,
        "created_by": a.created_by.name,
        "closed_by": a.closed_by.name if a.closed_by else None,
    }


def held_between(records: Sequence[Record], kind: str, since: datetime, until: datetime) -> list[datetime]:
    return [r.held_at for r in records if r.kind == kind and since <= r.held_at <= until]


def choose_people(values: Any, known: Mapping[str, PersonRef], label: str) -> tuple[PersonRef, ...]:
    """The people a multi-select input named, each one we offered, at most ``ATTENDEES_MAX``."""
    return chosen_people(values, known, label, ATTENDEES_MAX)
