"""RSVPs with capacity and waitlist, written by one group-committing writer per event per process.

The person's row is read (with the event row, unless this process holds the copy it last wrote), then the request
joins the event's queue; the event's single writer takes everything queued and writes it in ONE batch: the RSVP
rows, any promoted rows and the event row, each guarded by its ETag. Two app instances can never both count the
same place, a stale copy only costs a retry, and twenty people answering at once cost one write, not twenty.
"""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.events.records import (
    MAX_ATTEMPTS,
    MAX_VIEWERS,
    TABLE,
    Choice,
    Event,
    Rsvp,
    Status,
    event_data,
    event_from_row,
    event_key,
    key_range,
    rsvp_data,
    rsvp_from_row,
    rsvp_key,
)
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


class Busy(StorageError):
    """An event kept changing under us for MAX_ATTEMPTS tries (extreme contention)."""


def with_viewer(viewers: Sequence[str], user_id: str, keep: bool) -> tuple[str, ...]:
    rest = [v for v in viewers if v != user_id]
    if keep and user_id:
        rest.append(user_id)
    return tuple(rest[-MAX_VIEWERS:])


def adjust(event: Event, changes: Mapping[Status, int]) -> Event:
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


class RsvpWriter:
    """Records RSVPs for :class:`~bot.domain.events.repository.EventRepo` (which owns the ``Shared`` state)."""

    def __init__(self, store: TableStore, shared: Shared) -> None:
        self._store = store
        self._shared = shared

    async def waiting(self, cop_id: str, event_id: str) -> list[Rsvp]:
        rows = await self._store.query(
            TABLE, encode_key(cop_id), [*key_range(f"r|{event_id}|"), Where("status", "eq", "waitlist")]
        )
        return sorted((rsvp_from_row(r) for r in rows), key=lambda r: (r.seq, r.aad_id))

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
                get_or_none(self._store, pk, event_key(event_id)),
                get_or_none(self._store, pk, rsvp_key(event_id, aad_id)),
            )
            from_copy = False
            if event_row is None:
                return RsvpOutcome(None, None, refused="unknown")
            event = event_from_row(event_row)
            self._shared.remember(shared_key, event)
        else:
            mine_row = await get_or_none(self._store, pk, rsvp_key(event_id, aad_id))
            from_copy = True
        mine = rsvp_from_row(mine_row) if mine_row is not None else None
        permitted: tuple[str, bool] | None = None
        if choice is not None:
            refused = event.closed_reason(now)
            if refused == "past" and from_copy:  # a copy may predate a reschedule on another instance: check
                fresh_row = await get_or_none(self._store, pk, event_key(event_id))
                if fresh_row is None:
                    self._shared.forget(shared_key)
                    return RsvpOutcome(None, None, refused="unknown")
                event = event_from_row(fresh_row)
                self._shared.remember(shared_key, event)
                refused = event.closed_reason(now)
            if refused is not None:  # cancelling is final, and so is having started
                return RsvpOutcome(event, mine, refused=refused)
            if allowed is not None:
                permitted = (event.audience, await allowed(event))
                if not permitted[1]:
                    return RsvpOutcome(event, mine, refused="audience")
        request = _Pending(aad_id, user_id, name, choice, now, mine, allowed, permitted)
        queue = self._shared.queue(shared_key)
        queue.pending.append(request)
        if queue.writer is None or queue.writer.done():
            queue.writer = asyncio.get_running_loop().create_task(self._write_queued(cop_id, event_id, queue))
        return await asyncio.shield(request.done)

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
        for attempt in range(1, MAX_ATTEMPTS + 1):
            if event is None:  # first time without a copy, or after a conflict: read everything involved again
                rows = await asyncio.gather(
                    get_or_none(self._store, pk, event_key(event_id)),
                    *(get_or_none(self._store, pk, rsvp_key(event_id, r.aad_id)) for r in group),
                )
                if rows[0] is None:
                    self._shared.forget(shared_key)
                    return [RsvpOutcome(None, None, refused="unknown")] * len(group)
                event = event_from_row(rows[0])
                originals = {
                    r.aad_id: (rsvp_from_row(row) if row is not None else None)
                    for r, row in zip(group, rows[1:], strict=True)
                }
            state: dict[str, Rsvp | None] = dict(originals)
            waiting_loaded = False
            current = event
            results: list[RsvpOutcome] = []  # per request; the event and the ETags are filled in after the write
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
                        results.append(RsvpOutcome(None, mine, previous=mine.status if mine else None, refused=refused))
                        continue
                previous = mine.status if mine else None
                new_status = next_status(current, previous, request.choice)
                if new_status == previous:
                    results.append(RsvpOutcome(None, mine, previous=previous))
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
                        for row in await self.waiting(cop_id, event_id):
                            originals.setdefault(row.aad_id, row)
                            state.setdefault(row.aad_id, row)
                        waiting_loaded = True
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
                    adjust(current, changes),
                    next_seq=next_seq,
                    viewers=with_viewer(current.viewers, request.user_id, keep),
                )
                answer = (
                    Rsvp(cop_id, event_id, request.aad_id, request.user_id, request.name, new_status, request.now, seq)
                    if new_status is not None
                    else None
                )
                state[request.aad_id] = answer
                results.append(RsvpOutcome(None, answer, changed=True, previous=previous, promoted=promoted))
            ops: list[BatchOp] = []
            for who, now_row in state.items():
                before = originals.get(who)
                if now_row is before:
                    continue
                key = rsvp_key(event_id, who)
                if now_row is None:
                    if before is not None:
                        ops.append(BatchOp("delete", key, {}, before.etag))
                elif before is None:
                    ops.append(BatchOp("insert", key, rsvp_data(now_row)))
                else:
                    ops.append(BatchOp("update", key, rsvp_data(now_row), before.etag))
            if ops or current is not event:
                ops.insert(0, BatchOp("update", event.key, event_data(current), event.etag))
                try:
                    written = await self._store.batch(TABLE, pk, ops)
                except (PreconditionFailed, AlreadyExists, NotFound):
                    log.debug("rsvp conflict cop_id=%s event=%s attempt=%d", cop_id, event_id, attempt)
                    self._shared.forget(shared_key)
                    event = None
                    await backoff(attempt)
                    continue
                etags = {op.row_key: row.etag for op, row in zip(ops, written, strict=True) if row is not None}
                current = replace(current, etag=etags.get(event.key, ""))
                self._shared.remember(shared_key, current)
            else:
                etags = {}
            return [
                replace(
                    result,
                    event=current,
                    rsvp=replace(answer, etag=etags.get(rsvp_key(event_id, answer.aad_id), answer.etag))
                    if (answer := result.rsvp) is not None
                    else None,
                )
                for result in results
            ]
        raise Busy(f"event {event_id} kept changing")


def next_status(event: Event, previous: Status | None, choice: Choice | None) -> Status | None:
    if choice is None:
        return None
    if choice == "going":
        if previous in ("going", "waitlist"):
            return previous
        if event.capacity is not None and event.going >= event.capacity:
            return "waitlist"
        return "going"
    return choice


async def get_or_none(store: TableStore, partition_key: str, row_key: str) -> Row | None:
    try:
        return await store.get(TABLE, partition_key, row_key)
    except NotFound:
        return None


async def backoff(attempt: int) -> None:
    """Jittered, growing pause after a conflict so competing instances stop colliding in lock-step."""
    await asyncio.sleep(random.uniform(0, 0.004 * min(attempt, 10)))
