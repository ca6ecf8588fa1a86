"""Open queries: questions the bot could not answer, or channel questions it watches, until someone answers.

Table ``queries``: partition = the encoded CoP id, so a CoP's list, its metrics and the escalation pass are one
partition query each. Rows:
- a query per row, row key ``<created ms, 13 digits><4 hex>``: sorts oldest first and is the query's id;
- ``t|<thread root id>`` → the query watched in that channel thread (one point read per thread reply).

A query names its asker (AAD id, Teams id, name) and where they asked (a serialised conversation reference
and the thread root), which is personal data: :func:`erase_person` anonymises it (see its docstring).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from bot.core.turn import JSON, Person, reference_without_person
from bot.domain.codec import dump_reference, load_reference
from storage.base import (
    AlreadyExists,
    BatchOp,
    NotFound,
    PreconditionFailed,
    Row,
    TableStore,
    Where,
    encode_key,
)

TABLE = "queries"
THREAD_PREFIX = "t|"
MAX_TEXT_CHARS = 4000
MAX_ANSWER_CHARS = 4000
FORMER_MEMBER = "former member"
NAME_REMOVED = "[name removed]"

Status = Literal["open", "answered"]
Origin = Literal["ask", "not_helpful", "channel"]
Where_ = Literal["personal", "channel", "groupChat"]

# (label, lower bound) of the age buckets of open queries, youngest first
AGE_BUCKETS: tuple[tuple[str, timedelta], ...] = (
    ("under 1 day", timedelta(0)),
    ("1 to 2 days", timedelta(days=1)),
    ("2 to 7 days", timedelta(days=2)),
    ("over 7 days", timedelta(days=7)),
)


class QueryClosed(Exception):
    """The query was already answered (by ``query.answered_by_name`` at ``query.answered_at``)."""

    def __init__(self, query: Query) -> None:
        super().__init__(query.query_id)
        self.query = query


@dataclass(frozen=True)
class Query:
    query_id: str
    cop_id: str
    text: str
    created_at: datetime
    asker_aad: str
    asker_user_id: str
    asker_name: str
    place_kind: Where_
    reference: JSON  # the conversation where it was asked (for the answer), {} once the asker is erased
    thread_root_id: str = ""  # the channel thread the question started, when asked in a channel
    origin: Origin = "ask"
    status: Status = "open"
    first_response_at: datetime | None = None
    first_responder_aad: str = ""
    first_responder_name: str = ""
    answered_at: datetime | None = None
    answered_by_aad: str = ""
    answered_by_name: str = ""
    answer_text: str = ""
    escalated: bool = False
    escalated_at: datetime | None = None
    etag: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def age(self, now: datetime) -> timedelta:
        return now - self.created_at

    def answer_reference(self) -> JSON:
        """Where an answer goes: the question's channel thread (conversation id ``…;messageid=<root>``), or
        the conversation it was asked in."""
        if not self.reference:
            return {}
        reference = reference_without_person(self.reference)
        conversation = dict(reference.get("conversation") or {})
        if self.place_kind == "channel" and self.thread_root_id and conversation.get("id"):
            base = str(conversation["id"]).split(";messageid=", 1)[0]
            conversation["id"] = f"{base};messageid={self.thread_root_id}"
        reference["conversation"] = conversation
        return reference

    @property
    def asker(self) -> Person | None:
        if not self.asker_user_id:
            return None
        return Person(self.asker_user_id, self.asker_aad, self.asker_name)


def _new_id(now: datetime) -> str:
    """Milliseconds (so ids sort by age) and 48 random bits: a burst of questions in one CoP in one millisecond
    does not collide (16 bits did: 40 channel questions at once collided about once in 20 bursts)."""
    return f"{int(now.timestamp() * 1000):013d}{secrets.token_hex(6)}"


def _data(q: Query) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cop_id": q.cop_id,
        "text": q.text,
        "created_at": q.created_at,
        "asker_aad": q.asker_aad,
        "asker_user_id": q.asker_user_id,
        "asker_name": q.asker_name,
        "place_kind": q.place_kind,
        "reference": dump_reference(q.reference),
        "thread_root_id": q.thread_root_id,
        "origin": q.origin,
        "status": q.status,
        "first_responder_aad": q.first_responder_aad,
        "first_responder_name": q.first_responder_name,
        "answered_by_aad": q.answered_by_aad,
        "answered_by_name": q.answered_by_name,
        "answer_text": q.answer_text,
        "escalated": q.escalated,
    }
    for name in ("first_response_at", "answered_at", "escalated_at"):
        value = getattr(q, name)
        if value is not None:
            data[name] = value
    return data


def _from_row(row: Row) -> Query:
    get = row.get
    place = str(get("place_kind", "personal"))
    origin = str(get("origin", "ask"))
    return Query(
        query_id=row.row_key,
        cop_id=str(get("cop_id", "")),
        text=str(get("text", "")),
        created_at=get("created_at"),
        asker_aad=str(get("asker_aad", "")),
        asker_user_id=str(get("asker_user_id", "")),
        asker_name=str(get("asker_name", "")),
        place_kind=place if place in ("personal", "channel", "groupChat") else "personal",  # type: ignore[arg-type]
        reference=load_reference(get("reference")),
        thread_root_id=str(get("thread_root_id", "")),
        origin=origin if origin in ("ask", "not_helpful", "channel") else "ask",  # type: ignore[arg-type]
        status="answered" if get("status") == "answered" else "open",
        first_response_at=get("first_response_at"),
        first_responder_aad=str(get("first_responder_aad", "")),
        first_responder_name=str(get("first_responder_name", "")),
        answered_at=get("answered_at"),
        answered_by_aad=str(get("answered_by_aad", "")),
        answered_by_name=str(get("answered_by_name", "")),
        answer_text=str(get("answer_text", "")),
        escalated=bool(get("escalated", False)),
        escalated_at=get("escalated_at"),
        etag=row.etag,
    )


def _is_query_key(row_key: str) -> bool:
    return bool(row_key) and row_key[0].isdigit()


def _thread_key(root_id: str) -> str:
    return THREAD_PREFIX + encode_key(root_id)


class QueryRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    # -- reads ----------------------------------------------------------------------------------------
    async def get(self, cop_id: str, query_id: str) -> Query | None:
        if not cop_id or not query_id or not _is_query_key(query_id) or len(query_id) > 40:
            return None
        try:
            return _from_row(await self._store.get(TABLE, encode_key(cop_id), encode_key(query_id)))
        except NotFound:
            return None

    async def by_thread(self, cop_id: str, root_id: str) -> Query | None:
        if not root_id:
            return None
        try:
            pointer = await self._store.get(TABLE, encode_key(cop_id), _thread_key(root_id))
        except NotFound:
            return None
        return await self.get(cop_id, str(pointer.get("query_id", "")))

    async def of_cop(self, cop_id: str, *, open_only: bool = False, since: datetime | None = None) -> list[Query]:
        """The CoP's queries, oldest first."""
        where = [Where("RowKey", "lt", THREAD_PREFIX)]
        if open_only:
            where.append(Where("status", "eq", "open"))
        if since is not None:
            where.append(Where("created_at", "ge", since))
        rows = await self._store.query(TABLE, encode_key(cop_id), where)
        return [_from_row(row) for row in rows if _is_query_key(row.row_key)]

    async def involving(self, aad_id: str) -> list[Query]:
        """Every query the person asked, answered or first responded to (all CoPs; rare: privacy requests)."""
        found: dict[tuple[str, str], Query] = {}
        for field in ("asker_aad", "answered_by_aad", "first_responder_aad"):
            for row in await self._store.query(TABLE, None, [Where(field, "eq", aad_id)]):
                if _is_query_key(row.row_key):
                    query = _from_row(row)
                    found[(query.cop_id, query.query_id)] = query
        return sorted(found.values(), key=lambda q: q.created_at)

    # -- writes ---------------------------------------------------------------------------------------
    async def open(
        self,
        cop_id: str,
        asker: Person,
        text: str,
        now: datetime,
        *,
        place_kind: Where_,
        reference: Mapping[str, Any],
        thread_root_id: str = "",
        origin: Origin = "ask",
    ) -> Query:
        """Record a new open query (and its thread pointer, atomically). A second query for the same thread is
        not created: the existing one is returned. If the store says the new id exists, either the store's own
        retry re-sent an insert that had landed (that row is this question: it is returned) or two ids collided
        (another is drawn)."""
        for _ in range(3):
            query = Query(
                query_id=_new_id(now),
                cop_id=cop_id,
                text=text[:MAX_TEXT_CHARS],
                created_at=now,
                asker_aad=asker.aad_id,
                asker_user_id=asker.user_id,
                asker_name=asker.name[:200],
                place_kind=place_kind,
                reference=reference_without_person(reference),
                thread_root_id=thread_root_id,
                origin=origin,
            )
            ops = [BatchOp("insert", query.query_id, _data(query))]
            if thread_root_id:
                ops.append(BatchOp("insert", _thread_key(thread_root_id), {"query_id": query.query_id}))
            try:
                rows = await self._store.batch(TABLE, encode_key(cop_id), ops)
            except AlreadyExists:
                existing = await self.by_thread(cop_id, thread_root_id) if thread_root_id else None
                if existing is None:
                    existing = await self.get(cop_id, query.query_id)
                    if existing is None or (existing.asker_aad, existing.text) != (query.asker_aad, query.text):
                        continue  # a collision with someone else's query: draw another id
                return existing
            row = rows[0]
            return replace(query, etag=row.etag if row is not None else "")
        raise AlreadyExists(f"no free query id in {cop_id} after 3 attempts")

    async def _change(self, query: Query, edit: Callable[[Query], Query], attempts: int = 5) -> Query:
        """Conditional read-modify-write; ``edit(query) -> Query`` may raise to refuse the change."""
        current = query
        for _ in range(attempts):
            changed = edit(current)
            try:
                row = await self._store.update(
                    TABLE, encode_key(changed.cop_id), encode_key(changed.query_id), _data(changed), etag=current.etag
                )
            except PreconditionFailed:
                fresh = await self.get(query.cop_id, query.query_id)
                if fresh is None:
                    raise NotFound(query.query_id) from None
                current = fresh
                continue
            return replace(changed, etag=row.etag)
        raise PreconditionFailed(f"query {query.query_id} kept changing")

    async def record_first_response(self, query: Query, responder: Person, now: datetime) -> Query:
        def edit(q: Query) -> Query:
            if q.first_response_at is not None:
                return q
            return replace(
                q,
                first_response_at=now,
                first_responder_aad=responder.aad_id,
                first_responder_name=responder.name[:200],
            )

        if query.first_response_at is not None:
            return query
        return await self._change(query, edit)

    async def close(self, query: Query, by: Person, now: datetime, answer_text: str = "") -> Query:
        """Mark answered (with the lead's answer, if any). Raises QueryClosed if it already was."""

        def edit(q: Query) -> Query:
            if not q.is_open:
                raise QueryClosed(q)
            first = q.first_response_at
            return replace(
                q,
                status="answered",
                answered_at=now,
                answered_by_aad=by.aad_id,
                answered_by_name=by.name[:200],
                answer_text=answer_text[:MAX_ANSWER_CHARS],
                first_response_at=first if first is not None else now,
                first_responder_aad=q.first_responder_aad if first is not None else by.aad_id,
                first_responder_name=q.first_responder_name if first is not None else by.name[:200],
            )

        return await self._change(query, edit)

    async def mark_escalated(self, query: Query, now: datetime) -> Query:
        return await self._change(query, lambda q: replace(q, escalated=True, escalated_at=now))

    async def erase_person(self, aad_id: str, name: str) -> int:
        """Anonymise a person in every query: as asker, their name becomes "former member" and their ids and the
        conversation reference (which names them) are dropped; as responder or answerer, their name and id are
        replaced the same way. The question text, answer and timings stay for the CoP's aggregate metrics, with
        the person's name (full name, and each part of 3+ letters) replaced by "[name removed]" wherever it
        appears in them. Returns how many queries changed."""
        changed = 0
        for query in await self.involving(aad_id):

            def edit(q: Query) -> Query:
                out = replace(q, text=redact_name(q.text, name), answer_text=redact_name(q.answer_text, name))
                if q.asker_aad == aad_id:
                    out = replace(out, asker_aad="", asker_user_id="", asker_name=FORMER_MEMBER, reference={})
                if q.first_responder_aad == aad_id:
                    out = replace(out, first_responder_aad="", first_responder_name=FORMER_MEMBER)
                if q.answered_by_aad == aad_id:
                    out = replace(out, answered_by_aad="", answered_by_name=FORMER_MEMBER)
                return out

            with contextlib.suppress(NotFound):
                await self._change(query, edit)
                changed += 1
        return changed


def redact_name(text: str, name: str) -> str:
    if not text or not name.strip():
        return text
    parts = sorted({name.strip(), *(p for p in re.split(r"\s+", name.strip()) if len(p) >= 3)}, key=len, reverse=True)
    pattern = re.compile("|".join(rf"\b{re.escape(p)}\b" for p in parts), re.IGNORECASE)
    return pattern.sub(NAME_REMOVED, text)


def export_query(query: Query, aad_id: str) -> dict[str, Any]:
    """What a person sees of a query in their data export."""
    roles = [
        role
        for role, holder in (
            ("asked", query.asker_aad),
            ("first responded", query.first_responder_aad),
            ("answered", query.answered_by_aad),
        )
        if holder == aad_id
    ]
    return {
        "cop_id": query.cop_id,
        "your_part": roles,
        "question": query.text,
        "asked_at": query.created_at.isoformat(),
        "asked_in": query.place_kind,
        "status": query.status,
        "answered_at": query.answered_at.isoformat() if query.answered_at else None,
        "answered_by": query.answered_by_name or None,
        "answer": query.answer_text or None,
    }


# -- metrics for the digest and the health scorecard -------------------------------------------------------


@dataclass(frozen=True)
class QueryMetrics:
    asked: int
    responded: int
    response_rate: float | None  # share of queries with a first response (None when nothing was asked)
    median_first_response: timedelta | None
    open_by_age: dict[str, int]
    overdue: int  # open longer than the CoP's answer target


def response_rate(queries: Sequence[Query]) -> float | None:
    if not queries:
        return None
    return sum(1 for q in queries if q.first_response_at is not None) / len(queries)


def median_first_response(queries: Iterable[Query]) -> timedelta | None:
    delays = [(q.first_response_at - q.created_at).total_seconds() for q in queries if q.first_response_at]
    if not delays:
        return None
    return timedelta(seconds=statistics.median(delays))


def open_by_age(queries: Iterable[Query], now: datetime) -> dict[str, int]:
    counts = {label: 0 for label, _ in AGE_BUCKETS}
    for query in queries:
        if not query.is_open:
            continue
        age = query.age(now)
        label = AGE_BUCKETS[0][0]
        for name, bound in AGE_BUCKETS:
            if age >= bound:
                label = name
        counts[label] += 1
    return counts


async def metrics(
    store: TableStore, cop_id: str, now: datetime, *, since: datetime | None = None, answer_target_hours: int = 48
) -> QueryMetrics:
    """Response figures of the queries asked since ``since`` (all when None) and the open queries by age (all
    open queries, whenever asked)."""
    everything = await QueryRepo(store).of_cop(cop_id)
    recent = [q for q in everything if since is None or q.created_at >= since]
    target = timedelta(hours=answer_target_hours)
    return QueryMetrics(
        asked=len(recent),
        responded=sum(1 for q in recent if q.first_response_at is not None),
        response_rate=response_rate(recent),
        median_first_response=median_first_response(recent),
        open_by_age=open_by_age(everything, now),
        overdue=sum(1 for q in everything if q.is_open and q.age(now) > target),
    )
