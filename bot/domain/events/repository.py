"""Events and their feedback in storage: create, edit, cancel, read, and a person's rows for ``my data`` and
``forget me``. RSVPs are written by :class:`~bot.domain.events.rsvps.RsvpWriter`.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.core.turn import JSON, reference_without_person
from bot.domain.codec import dump_reference, load_reference, written_before_the_cut
from bot.domain.events.form import Draft
from bot.domain.events.records import (
    COMMENT_MAX,
    MAX_ATTEMPTS,
    STATUSES,
    TABLE,
    Choice,
    Event,
    Feedback,
    Rsvp,
    Status,
    event_data,
    event_from_row,
    event_key,
    feedback_key,
    is_event_id,
    key_range,
    new_event_id,
    rsvp_data,
    rsvp_from_row,
    rsvp_key,
)
from bot.domain.events.rsvps import Busy, RsvpOutcome, RsvpWriter, Shared, adjust, backoff, get_or_none
from storage.base import (
    BatchOp,
    NotFound,
    PreconditionFailed,
    Row,
    TableStore,
    Where,
    encode_key,
)


class EventRepo:
    def __init__(self, store: TableStore, shared: Shared | None = None):
        self._store = store
        self._shared = shared if shared is not None else Shared()
        self._writer = RsvpWriter(store, self._shared)

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
            **draft.event_fields(),
            created_by=creator_aad,
            created_by_name=creator_name[:200],
            created_at=now,
            updated_at=now,
            announce_reference=reference_without_person(announce_reference or {}),
            meeting_state="requested" if draft.teams_meeting else "",
        )
        row = await self._store.insert(TABLE, encode_key(cop_id), event.key, event_data(event))
        return replace(event, etag=row.etag)

    async def get(self, cop_id: str, event_id: str) -> Event | None:
        if not is_event_id(event_id):
            return None
        try:
            return event_from_row(await self._store.get(TABLE, encode_key(cop_id), event_key(event_id)))
        except NotFound:
            return None

    async def of_cop(self, cop_id: str, *, ending_after: datetime | None = None) -> list[Event]:
        """The CoP's events (optionally only those ending after a moment), soonest first."""
        where = key_range("e|")
        if ending_after is not None:
            where.append(Where("end", "gt", ending_after))
        rows = await self._store.query(TABLE, encode_key(cop_id), where)
        return sorted((event_from_row(r) for r in rows), key=lambda e: (e.start, e.event_id))

    async def between(self, cop_id: str, starts_from: datetime, starts_before: datetime) -> list[Event]:
        where = [*key_range("e|"), Where("start", "ge", starts_from), Where("start", "lt", starts_before)]
        rows = await self._store.query(TABLE, encode_key(cop_id), where)
        return sorted((event_from_row(r) for r in rows), key=lambda e: (e.start, e.event_id))

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
                    **draft.event_fields(),
                    sequence=event.sequence + 1,
                    updated_at=now,
                )
                places = (draft.capacity - event.going) if draft.capacity is not None else event.waitlist
                promoted: list[Rsvp] = []
                if places > 0 and event.waitlist > 0:
                    waiting = await self._writer.waiting(cop_id, event_id)
                    promoted = [replace(r, status="going", at=now) for r in waiting[: min(places, 98)]]
                    edited = adjust(edited, {"going": len(promoted), "waitlist": -len(promoted)})
                ops = [BatchOp("update", event.key, event_data(edited), event.etag)]
                ops += [BatchOp("update", rsvp_key(event_id, r.aad_id), rsvp_data(r), r.etag) for r in promoted]
                try:
                    rows = await self._store.batch(TABLE, encode_key(cop_id), ops)
                except (PreconditionFailed, NotFound):
                    await backoff(attempt)
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
                    await self._store.update(TABLE, encode_key(cop_id), event.key, event_data(marked), etag=event.etag)
                    self._shared.forget(f"{cop_id}|{event_id}")
                    return
                except PreconditionFailed:
                    await backoff(attempt)
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
                        TABLE, encode_key(cop_id), event.key, event_data(changed), etag=event.etag
                    )
                except PreconditionFailed:
                    await backoff(attempt)
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
                        TABLE, encode_key(cop_id), event.key, event_data(cancelled), etag=event.etag
                    )
                except PreconditionFailed:
                    await backoff(attempt)
                    continue
                self._shared.forget(f"{cop_id}|{event_id}")
                return replace(cancelled, etag=row.etag)
        raise Busy(f"event {event_id} kept changing")

    # -- RSVPs ----------------------------------------------------------------------------------------------
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
        """Record ``choice`` for the person (None removes their RSVP, for erasure): see :meth:`RsvpWriter.rsvp`."""
        return await self._writer.rsvp(cop_id, event_id, aad_id, user_id, name, choice, now, allowed=allowed)

    async def rsvp_of(self, cop_id: str, event_id: str, aad_id: str) -> Rsvp | None:
        try:
            return rsvp_from_row(await self._store.get(TABLE, encode_key(cop_id), rsvp_key(event_id, aad_id)))
        except NotFound:
            return None

    async def rsvps(self, cop_id: str, event_id: str, statuses: Sequence[Status] = STATUSES) -> list[Rsvp]:
        rows = await self._store.query(TABLE, encode_key(cop_id), key_range(f"r|{event_id}|"))
        found = [rsvp_from_row(r) for r in rows]
        return [r for r in found if r.status in statuses]

    async def my_rsvps(self, cop_id: str, aad_id: str) -> dict[str, Rsvp]:
        """This person's RSVPs in one CoP, by event id (one query)."""
        rows = await self._store.query(TABLE, encode_key(cop_id), [*key_range("r|"), Where("aad_id", "eq", aad_id)])
        return {r.event_id: r for r in (rsvp_from_row(row) for row in rows)}

    # -- feedback -------------------------------------------------------------------------------------------
    async def record_feedback(
        self, cop_id: str, event_id: str, aad_id: str, name: str, rating: int, comment: str, now: datetime
    ) -> None:
        """One feedback per person per event; sending again replaces it."""
        await self._store.upsert(
            TABLE,
            encode_key(cop_id),
            feedback_key(event_id, aad_id),
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
        rows = await self._store.query(TABLE, encode_key(cop_id), key_range(prefix))
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
            await backoff(attempt)
            fresh = await get_or_none(store, row.partition_key, row.row_key)
            if fresh is None:
                return False
            row = fresh
        except NotFound:
            return False
    return False
