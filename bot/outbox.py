"""Durable outbox for proactive messages: write first, deliver after.

Every proactive message (lead notifications, welcome cards, reminders, digests, survey invitations) is
enqueued under an idempotency key; enqueuing the same key twice is a no-op, so a job that is re-run after a
crash cannot duplicate what it already queued. ``flush()`` delivers what is due.

NOTE: this is the first version (deliver in order, give up on 403/404, retry later on anything else). The
scheduling issue replaces ``flush`` with a rate-limited, lease-based sender; the ``enqueue`` API stays.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.domain.codec import dumps, loads
from bot.sealing import seal_card
from bot.signing import Signer
from bot.turn import Card, Person, Proactive, Reply
from storage.base import AlreadyExists, PreconditionFailed, TableStore, Where, encode_key

log = logging.getLogger(__name__)

TABLE = "outbox"
PARTITION = "q"


def _encode_message(message: Reply) -> str:
    if isinstance(message, Card):
        return dumps({"card": message.content, "summary": message.summary})
    return dumps({"text": message})


def _decode_message(text: Any) -> Reply:
    data = loads(text, {})
    if "card" in data:
        return Card(content=data["card"], summary=str(data.get("summary", "")))
    return str(data.get("text", ""))


class Outbox:
    def __init__(self, store: TableStore, proactive: Proactive, signer: Signer) -> None:
        self._store = store
        self._proactive = proactive
        self._signer = signer

    async def enqueue(
        self,
        key: str,
        reference: Mapping[str, Any],
        message: Reply,
        now: datetime,
        *,
        cop_id: str = "",
        personal_for: Person | None = None,
        mention: Person | None = None,
        not_before: datetime | None = None,
        fallback_reference: Mapping[str, Any] | None = None,
        fallback_message: Reply | None = None,
    ) -> bool:
        """Queue one message. ``reference`` is the target conversation, or (with ``personal_for``) any
        reference of the same tenant from which to open a 1:1 chat. Returns False if ``key`` was queued before.
        With ``fallback_reference``, a personal message that cannot be delivered (403/404) is replaced by
        ``fallback_message`` posted there, mentioning the person (e.g. in the CoP's channel)."""
        sealed = seal_card(message, self._signer, now)
        data: dict[str, Any] = {
            "key": key,
            "reference": dumps(dict(reference)),
            "message": _encode_message(sealed),
            "status": "pending",
            "attempts": 0,
            "due": not_before or now,
            "created": now,
            "cop_id": cop_id,
        }
        if personal_for is not None:
            data["personal_for"] = dumps(
                {"user_id": personal_for.user_id, "aad_id": personal_for.aad_id, "name": personal_for.name}
            )
        if personal_for is not None and fallback_reference is not None and fallback_message is not None:
            data["fallback"] = dumps(
                {"reference": dict(fallback_reference), "message": _encode_message(fallback_message)}
            )
        if mention is not None:
            data["mention"] = dumps({"user_id": mention.user_id, "aad_id": mention.aad_id, "name": mention.name})
        try:
            await self._store.insert(TABLE, PARTITION, encode_key(key), data)
        except AlreadyExists:
            return False
        return True

    async def pending(self, now: datetime) -> int:
        rows = await self._store.query(TABLE, PARTITION, [Where("status", "eq", "pending"), Where("due", "le", now)])
        return len(rows)

    async def flush(self, now: datetime) -> int:
        """Deliver every due item once; returns how many were sent."""
        from bot.teams import DeliveryError

        sent = 0
        rows = await self._store.query(TABLE, PARTITION, [Where("status", "eq", "pending"), Where("due", "le", now)])
        for row in rows:
            # claim first, so two instances never send the same item
            try:
                claimed = await self._store.update(
                    TABLE, PARTITION, row.row_key, {**row.data, "status": "sending"}, etag=row.etag
                )
            except PreconditionFailed:
                continue
            reference = loads(row.get("reference"), {})
            message = _decode_message(row.get("message"))
            try:
                person = loads(row.get("personal_for"), None)
                if person:
                    reference = await self._proactive.open_personal_chat(
                        reference, Person(person["user_id"], person["aad_id"], person["name"])
                    )
                mention_data = loads(row.get("mention"), None)
                mention = Person(**mention_data) if mention_data else None
                activity_id = await self._proactive.send(reference, message, mention=mention)
            except DeliveryError as error:
                dead = error.status in (403, 404)
                attempts = int(row.get("attempts", 0)) + 1
                await self._store.update(
                    TABLE,
                    PARTITION,
                    row.row_key,
                    {
                        **row.data,
                        "status": "dead" if dead else "pending",
                        "attempts": attempts,
                        "due": now + timedelta(seconds=error.retry_after or min(2**attempts, 300)),
                        "error": str(error.status),
                    },
                    etag=claimed.etag,
                )
                log.warning("outbox delivery failed key=%s status=%s", row.get("key"), error.status)
                if dead:
                    await self._fall_back(row.data, now)
                continue
            await self._store.update(
                TABLE,
                PARTITION,
                row.row_key,
                {**row.data, "status": "sent", "activity_id": activity_id, "sent_at": now},
                etag=claimed.etag,
            )
            sent += 1
        return sent

    async def _fall_back(self, data: Mapping[str, Any], now: datetime) -> None:
        """Queue the fallback of an undeliverable personal message (delivered by the next flush)."""
        fallback = loads(data.get("fallback"), None)
        person = loads(data.get("personal_for"), None)
        if not fallback or not person:
            return
        await self.enqueue(
            f"{data.get('key')}|fallback",
            fallback.get("reference") or {},
            _decode_message(fallback.get("message")),
            now,
            cop_id=str(data.get("cop_id") or ""),
            mention=Person(person["user_id"], person["aad_id"], person["name"]),
        )

    async def sent_activity_id(self, key: str) -> str | None:
        """The activity id a delivered item got (e.g. to update an event announcement in place)."""
        from storage.base import NotFound

        try:
            row = await self._store.get(TABLE, PARTITION, encode_key(key))
        except NotFound:
            return None
        value = row.get("activity_id")
        return str(value) if value else None
