"""What people did with what the bot sent: which sent message a button press came from, and who pressed what.

Two tables:

- ``sentmessages``, partition ``m``: one row per message the outbox delivered, keyed by its conversation (a
  channel's root conversation, without ``;messageid=``) and the activity id Teams gave it, holding the broadcast it
  belongs to (``run``, :func:`bot.domain.delivery.run_of`), its CoP and its kind. A card's buttons, pressed
  later, arrive with that activity id (``replyToId``), even after the card was updated in place, so a press is
  attributed without putting anything into the card. Kept as long as the outbox keeps sent items (30 days).
- ``engagement``, one partition per CoP: one row per person, broadcast and what they did (a card verb, or the
  digest's "useful" / "not useful"), inserted once: a press Teams redelivers, or a second press of the same
  button, is not counted again. Rows name the person (their Entra object id) so that ``my data`` and ``forget me``
  can find them; reports show counts only.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.turn import Card, Reply
from storage import paging
from storage.base import AlreadyExists, NotFound, PreconditionFailed, TableStore, Value, Where, encode_key

SENT_TABLE = "sentmessages"
SENT_PARTITION = "m"
TABLE = "engagement"
FEEDBACK = "feedback"  # the action of a digest's "useful" / "not useful" answer (one per person, the latest counts)
_SEP = "\x1f"


SENT_MARK = "_sent"  # in a button's data: its card went out through the outbox (presses are worth looking up)


def mark_sent(message: Reply) -> Reply:
    """A copy of the card whose buttons say it was sent by the outbox, so that a press costs a lookup only when it
    can be attributed (the mark is not sealed: a forged one costs one read and counts nothing)."""
    if not isinstance(message, Card):
        return message
    return Card(content=_marked(message.content), summary=message.summary)


def _marked(node: Any) -> Any:
    if isinstance(node, dict):
        copied = {key: _marked(value) for key, value in node.items()}
        data = copied.get("data")
        if copied.get("type") in ("Action.Execute", "Action.Submit") and isinstance(data, dict) and "verb" in data:
            data[SENT_MARK] = 1
        return copied
    if isinstance(node, list):
        return [_marked(value) for value in node]
    return node


def conversation_root(conversation_id: str) -> str:
    """A channel thread's conversation id names its root post (``…;messageid=…``); the sent message is keyed by
    the channel's."""
    return conversation_id.split(";messageid=")[0]


@dataclass(frozen=True)
class SentMessage:
    run: str
    cop_id: str
    kind: str


@dataclass
class RunEngagement:
    """People per action for one broadcast, and the digest feedback (latest answer per person)."""

    actions: Counter[str]
    useful: int = 0
    not_useful: int = 0

    @property
    def people(self) -> int:
        return max(self.actions.values(), default=0)


class EngagementRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    # -- what was sent --------------------------------------------------------------------------------
    async def remember_sent(self, conversation_id: str, activity_id: str, message: SentMessage, now: datetime) -> None:
        if not conversation_id or not activity_id:
            return
        row = encode_key(f"{conversation_root(conversation_id)}{_SEP}{activity_id}")
        data: dict[str, Value] = {"run": message.run, "cop_id": message.cop_id, "kind": message.kind, "at": now}
        await self._store.upsert(SENT_TABLE, SENT_PARTITION, row, data)

    async def sent_message(self, conversation_id: str, activity_id: str) -> SentMessage | None:
        if not conversation_id or not activity_id or len(activity_id) > 200 or len(conversation_id) > 1000:
            return None
        row_key = encode_key(f"{conversation_root(conversation_id)}{_SEP}{activity_id}")
        try:
            row = await self._store.get(SENT_TABLE, SENT_PARTITION, row_key)
        except NotFound:
            return None
        return SentMessage(str(row.get("run", "")), str(row.get("cop_id", "")), str(row.get("kind", "")))

    # -- what people did ------------------------------------------------------------------------------
    async def record(self, cop_id: str, run: str, action: str, aad_id: str, now: datetime) -> bool:
        """Count ``aad_id`` once for ``action`` on ``run``; False when they were counted already."""
        if not aad_id or not run:
            return False
        data: dict[str, Value] = {"run": run, "action": action[:80], "person": aad_id, "at": now}
        try:
            await self._store.insert(TABLE, encode_key(cop_id or "-"), self._key(run, action, aad_id), data)
        except AlreadyExists:
            return False
        return True

    async def set_feedback(self, cop_id: str, run: str, aad_id: str, useful: bool, now: datetime) -> None:
        """The person's answer to "was this useful?" for ``run``: one per person, a changed mind replaces it."""
        data: dict[str, Value] = {"run": run, "action": FEEDBACK, "person": aad_id, "useful": useful, "at": now}
        await self._store.upsert(TABLE, encode_key(cop_id or "-"), self._key(run, FEEDBACK, aad_id), data)

    async def by_run(self, cop_id: str) -> dict[str, RunEngagement]:
        """Every broadcast of the CoP that anyone acted on: people per action, and the feedback."""
        out: dict[str, RunEngagement] = {}
        async for rows, _ in paging.pages(self._store, TABLE, encode_key(cop_id or "-"), []):
            for row in rows:
                run = str(row.get("run", ""))
                entry = out.setdefault(run, RunEngagement(Counter()))
                action = str(row.get("action", ""))
                if action == FEEDBACK:
                    if row.get("useful"):
                        entry.useful += 1
                    else:
                        entry.not_useful += 1
                else:
                    entry.actions[action] += 1
        return out

    @staticmethod
    def _key(run: str, action: str, aad_id: str) -> str:
        return encode_key(f"{run}{_SEP}{action}{_SEP}{aad_id}")

    # -- personal data --------------------------------------------------------------------------------
    async def export_person(self, aad_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for rows, _ in paging.pages(self._store, TABLE, None, [Where("person", "eq", aad_id)]):
            for row in rows:
                item = {"message": row.get("run"), "what": row.get("action"), "at": str(row.get("at"))}
                if row.get("action") == FEEDBACK:
                    item["useful"] = bool(row.get("useful"))
                out.append(item)
        return out

    async def erase_person(self, aad_id: str) -> int:
        removed = 0
        async for rows, _ in paging.pages(self._store, TABLE, None, [Where("person", "eq", aad_id)]):
            for row in rows:
                with contextlib.suppress(NotFound, PreconditionFailed):
                    await self._store.delete(TABLE, row.partition_key, row.row_key, etag=row.etag)
                    removed += 1
        return removed

    # -- retention ------------------------------------------------------------------------------------
    async def purge(self, now: datetime, older_than: timedelta) -> int:
        """Forget which message was which once the outbox has forgotten it too (engagement counts stay)."""
        removed = 0
        cutoff = now - older_than
        async for rows, _ in paging.pages(self._store, SENT_TABLE, SENT_PARTITION, [Where("at", "lt", cutoff)]):
            for row in rows:
                with contextlib.suppress(NotFound, PreconditionFailed):
                    await self._store.delete(SENT_TABLE, SENT_PARTITION, row.row_key, etag=row.etag)
                    removed += 1
        return removed
