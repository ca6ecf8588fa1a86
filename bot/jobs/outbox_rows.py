"""The outbox's rows: where they live, how a message and a person are stored in one, what broadcast and target
an item belongs to, a person's rows for ``my data`` and ``forget me``, and the 30-day retention."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.core.turn import Card, Person, Reply
from bot.domain.codec import dumps, loads
from bot.domain.delivery import OUTBOX_PARTITION, OUTBOX_TABLE, run_of
from storage import paging
from storage.base import BatchOp, NotFound, PreconditionFailed, TableStore, Where

TABLE = OUTBOX_TABLE
PARTITION = OUTBOX_PARTITION
DEAD_TABLE = "outboxdead"
DEAD_PARTITION = "t"
RETENTION = timedelta(days=30)


def encode_message(message: Reply) -> str:
    if isinstance(message, Card):
        return dumps({"card": message.content, "summary": message.summary})
    return dumps({"text": message})


def decode_message(text: Any) -> Reply:
    data = loads(text, {})
    if "card" in data:
        return Card(content=data["card"], summary=str(data.get("summary", "")))
    return str(data.get("text", ""))


def person_json(person: Person) -> str:
    return dumps({"user_id": person.user_id, "aad_id": person.aad_id, "name": person.name})


def person_of(text: Any) -> Person | None:
    data = loads(text, None)
    if not isinstance(data, dict):
        return None
    return Person(str(data.get("user_id", "")), str(data.get("aad_id", "")), str(data.get("name", "")))


def broadcast_of(key: str, personal_for: Person | None) -> str:
    """The broadcast an item belongs to (:func:`bot.domain.delivery.run_of`), naming no recipient: a personal item's
    recipient ids are taken out even where its kind keeps them elsewhere in the key (ids only; names never reach
    a key)."""
    run = run_of(key)
    for identifier in (personal_for.aad_id, personal_for.user_id) if personal_for is not None else ():
        if identifier:
            run = run.replace(identifier, "~")
    return run


def target_of(reference: Mapping[str, Any], personal_for: Person | None = None) -> str:
    """What pacing and dead-marking apply to: the person's 1:1 chat, or the conversation (thread replies
    count against their channel)."""
    if personal_for is not None:
        return "personal:" + personal_for.key
    conversation = reference.get("conversation")
    conversation_id = str(conversation.get("id") or "") if isinstance(conversation, dict) else ""
    return conversation_id.split(";messageid=")[0]


async def export_person(store: TableStore, aad_id: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    async for rows, _ in paging.pages(store, TABLE, PARTITION, [Where("person", "eq", aad_id)]):
        out.extend(
            {"key": row.get("key"), "status": row.get("status"), "created": str(row.get("created"))} for row in rows
        )
    return out


async def erase_person(store: TableStore, aad_id: str) -> int:
    """Drop personal messages queued for or sent to this person (channel posts expire after 30 days). A page
    at a time, each page its own storage deadline."""
    removed = 0
    async for rows, _ in paging.pages(store, TABLE, PARTITION, [Where("person", "eq", aad_id)]):
        for row in rows:
            with contextlib.suppress(PreconditionFailed, NotFound):
                await store.delete(TABLE, PARTITION, row.row_key, etag=row.etag)
                removed += 1
    return removed


async def purge(store: TableStore, now: datetime, older_than: timedelta = RETENTION) -> int:
    """Delete finished items (sent, dead, unknown) created more than ``older_than`` ago, a page at a time."""
    removed = 0
    cutoff = now - older_than
    for status in ("sent", "dead", "unknown"):
        while True:
            rows = await store.query(
                TABLE, PARTITION, [Where("status", "eq", status), Where("created", "lt", cutoff)], limit=100
            )
            if not rows:
                break
            try:
                await store.batch(TABLE, PARTITION, [BatchOp("delete", row.row_key, etag=row.etag) for row in rows])
                removed += len(rows)
            except (PreconditionFailed, NotFound):
                for row in rows:
                    with contextlib.suppress(PreconditionFailed, NotFound):
                        await store.delete(TABLE, PARTITION, row.row_key, etag=row.etag)
                        removed += 1
            if len(rows) < 100:
                break
    return removed
