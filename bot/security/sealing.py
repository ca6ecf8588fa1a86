"""Card actions carry a signed, expiring seal binding verb, CoP and object id.

Every card the bot sends is sealed on the way out (:func:`seal_card`): each Action.Execute / Action.Submit
gets ``_seal`` over its ``verb``, ``cop_id`` and ``id``. The router checks the seal before any handler runs
(:func:`check_action`), so a tampered field, a verb copied onto another button, a CoP id swapped for another
CoP's, or an expired card is refused. Roles are still resolved from storage: a seal proves the bot made the
button, not that the clicker may use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.core.turn import Card, Reply, SearchResult
from bot.security.signing import BadSignature, Expired, Signer

PURPOSE = "action"
SEAL = "_seal"
TTL = timedelta(days=120)  # event announcements and FAQ cards stay clickable for a term and a bit


def _bound(data: Mapping[str, Any]) -> dict[str, str]:
    return {"v": str(data.get("verb", "")), "c": str(data.get("cop_id", "")), "i": str(data.get("id", ""))}


def seal_card(message: Reply, signer: Signer, now: datetime) -> Reply:
    """A copy of the card with every button sealed (the caller's card is left as it was)."""
    if not isinstance(message, Card):
        return message
    return Card(content=_sealed(message.content, signer, now), summary=message.summary)


_CONTAINERS = (dict, list)  # a tuple: ``dict | list`` would build a union object on every check


def _sealed(node: Any, signer: Signer, now: datetime) -> Any:
    """``node`` with its buttons' data sealed: the dicts and lists on the way to a sealed button are copies, the
    rest is shared with ``node``, which is left as it was. Copying the whole card was most of the cost of sending
    a large one (the health scorecard: 0.42 ms of a ~7 ms turn)."""
    if isinstance(node, dict):
        children: Iterable[tuple[Any, Any]] = node.items()
    elif isinstance(node, list):
        children = enumerate(node)
    else:
        return node
    copied = None  # made at the first child that changed
    for key, value in children:
        if isinstance(value, _CONTAINERS):
            sealed = _sealed(value, signer, now)
            if sealed is not value:
                if copied is None:
                    copied = node.copy()
                copied[key] = sealed
    result = node if copied is None else copied
    data = node.get("data") if isinstance(node, dict) else None
    if isinstance(data, dict) and "verb" in data and node.get("type") in ("Action.Execute", "Action.Submit"):
        result = {**result, "data": {**result["data"], SEAL: signer.sign(PURPOSE, _bound(data), now=now, ttl=TTL)}}
    return result


def check_action(verb: str, data: Mapping[str, Any], signer: Signer, now: datetime) -> str | None:
    """None if the action's seal is genuine and current, else the reason to show the user."""
    token = data.get(SEAL)
    if not isinstance(token, str):
        return "That button didn't come from me, so I ignored it. Type **help** to start again."
    try:
        fields = signer.verify(PURPOSE, token, now=now)
    except Expired:
        return "That card has expired. Type **help** to get a fresh one."
    except BadSignature:
        return "That button didn't come from me, so I ignored it. Type **help** to start again."
    if fields != _bound({**data, "verb": verb}):
        return "That button has been altered, so I ignored it. Type **help** to start again."
    return None


class SealingResponder:
    """Wraps the seam's responder so every card sent, updated or returned from an invoke is sealed."""

    def __init__(self, inner: Any, services: Any) -> None:
        self._inner = inner
        self._services = services

    def _seal(self, message: Reply) -> Reply:
        return seal_card(message, self._services.signer, self._services.clock.now())

    async def reply(self, message: Reply, *, mention: Any = None) -> str | None:
        result: str | None = await self._inner.reply(self._seal(message), mention=mention)
        return result

    async def update(self, activity_id: str, message: Reply) -> None:
        await self._inner.update(activity_id, self._seal(message))

    async def delete(self, activity_id: str) -> None:
        await self._inner.delete(activity_id)

    def answer_action(self, card: Card | None = None, *, message: str | None = None) -> None:
        sealed = self._seal(card) if card is not None else None
        self._inner.answer_action(sealed if isinstance(sealed, Card) else None, message=message)

    def answer_search(self, results: Sequence[SearchResult], *, message: str | None = None) -> None:
        now = self._services.clock.now()
        sealed = [
            replace(r, card=Card(_sealed(r.card.content, self._services.signer, now), r.card.summary)) for r in results
        ]
        self._inner.answer_search(sealed, message=message)

    async def team_members(self) -> Any:
        return await self._inner.team_members()

    async def team_details(self) -> Any:
        return await self._inner.team_details()
