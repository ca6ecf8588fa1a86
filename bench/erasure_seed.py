"""A big audit log and outbox with one person's rows among them, for ``forget me`` at size.

Rows are written in batches of 100 per partition (one round trip each), which is what makes 150,000 rows on
Azurite take minutes rather than the better part of an hour. The person's rows are spread evenly through both
tables: audit entries they made and entries about them, messages queued for them, and lead notifications queued
for others that @mention and name them.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.domain.codec import dumps
from bot.jobs import outbox
from bot.security import audit
from storage.base import MAX_BATCH, BatchOp, TableStore, encode_key

AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
REFERENCE = dumps(
    {
        "serviceUrl": "https://smba.example/emea/",
        "channelId": "msteams",
        "conversation": {"id": "19:general@thread.tacv2", "tenantId": "tenant-1", "conversationType": "channel"},
        "bot": {"id": "28:bot", "name": "CoP Bot"},
    }
)


@dataclass(frozen=True)
class Person:
    aad_id: str = "aad-zelda-5e1f"
    user_id: str = "29:zelda-5e1f"
    name: str = "Zelda Quintero"

    @property
    def needles(self) -> tuple[str, ...]:
        return (self.aad_id, self.user_id, self.name)

    def account(self) -> str:
        return dumps({"user_id": self.user_id, "aad_id": self.aad_id, "name": self.name})


def _spread(total: int, theirs: int) -> Iterator[bool]:
    """``total`` flags, ``theirs`` of them true, evenly spread."""
    step = total / theirs if theirs else 0
    marks = {int(i * step) for i in range(theirs)}
    return (i in marks for i in range(total))


def _audit_row(i: int, mine: bool, person: Person) -> tuple[str, dict[str, Any]]:
    at = AT - timedelta(seconds=i)
    row_key = f"{audit.MAX_TS - int(at.timestamp() * 1000):013d}-{secrets.token_hex(6)}"
    data: dict[str, Any] = {"at": at, "actor_aad_id": f"aad-lead-{i % 97}", "actor_name": f"Lead {i % 97}"}
    data |= {"action": "event.create", "detail": f"Event {i}: brown-bag lunch on research software"}
    if mine and i % 2:
        data |= {"actor_aad_id": person.aad_id, "actor_name": person.name}
    elif mine:
        data |= {"action": "lead.add", "detail": f"added {person.name} as a lead", "subject_aad_id": person.aad_id}
    return row_key, data


def _outbox_row(i: int, mine: bool, person: Person) -> tuple[str, dict[str, Any]]:
    key = f"bench|{i:06d}|aad-member-{i}"
    card = {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [{"type": "TextBlock", "text": f"Weekly digest {i}: three new questions, two events." * 4}],
    }
    data: dict[str, Any] = {
        "key": key,
        "reference": REFERENCE,
        "message": dumps({"card": card, "summary": f"Weekly digest {i}"}),
        "status": "sent",
        "attempts": 1,
        "failures": 0,
        "due": AT,
        "created": AT,
        "cop_id": f"cop-{i % 10}",
        "target": "19:general@thread.tacv2",
    }
    if mine and i % 2:  # queued for them
        data |= {"key": key.replace(f"aad-member-{i}", person.aad_id), "person": person.aad_id}
        data["personal_for"] = person.account()
        key = data["key"]
    elif mine:  # a lead's notification naming them
        data["message"] = dumps({"text": f"{person.name} asked a question", "summary": f"{person.name} asked"})
        data["mention"] = person.account()
    return encode_key(key), data


async def _write(store: TableStore, table: str, partition: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    for start in range(0, len(rows), MAX_BATCH):
        ops = [BatchOp("upsert", rk, data) for rk, data in rows[start : start + MAX_BATCH]]
        await store.batch(table, partition, ops)


async def seed(
    store: TableStore,
    person: Person,
    *,
    audit_rows: int,
    person_audit_rows: int,
    outbox_rows: int,
    person_outbox_rows: int,
    partitions: int = 10,
) -> None:
    """``audit_rows`` entries over ``partitions`` CoPs (``person_audit_rows`` of them the person's) and
    ``outbox_rows`` items (``person_outbox_rows`` of them naming the person)."""
    by_partition: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for i, mine in enumerate(_spread(audit_rows, person_audit_rows)):
        by_partition.setdefault(encode_key(f"cop-{i % partitions}"), []).append(_audit_row(i, mine, person))
    for partition, rows in by_partition.items():
        await _write(store, audit.TABLE, partition, rows)
    items = [_outbox_row(i, mine, person) for i, mine in enumerate(_spread(outbox_rows, person_outbox_rows))]
    await _write(store, outbox.TABLE, outbox.PARTITION, items)


async def rows_naming(store: TableStore, person: Person) -> int:
    """Rows of the audit log and the outbox that still hold the person's ids or name (read a page at a time)."""
    from storage import paging

    found = 0
    for table, partition in ((audit.TABLE, None), (outbox.TABLE, outbox.PARTITION)):
        async for rows, _ in paging.pages(store, table, partition):
            for row in rows:
                text = f"{row.partition_key} {row.row_key} {dict(row.data)!r}".lower()
                found += any(needle.lower() in text for needle in person.needles)
    return found
