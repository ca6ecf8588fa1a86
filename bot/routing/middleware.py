"""The middleware chain every turn runs through: correlation logging, error boundary, redelivery dedupe."""

from __future__ import annotations

import contextvars
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.core import logsafe, messages
from bot.core.turn import Request
from bot.routing.limits import input_limits
from bot.routing.router import Turn
from bot.teams.errors import DeliveryError
from storage.base import AlreadyExists, NotFound, StorageError, TableStore, Unavailable, Where, encode_key

log = logging.getLogger(__name__)

DEDUPE_TABLE = "dedupe"
DEDUPE_RETENTION = timedelta(days=2)

# The activity being handled, for log records emitted deep inside handlers.
current_activity: contextvars.ContextVar[str] = contextvars.ContextVar("current_activity", default="-")

Next = Callable[[], Awaitable[None]]


async def correlation(turn: Turn, next_: Next) -> None:
    request = turn.request
    token = current_activity.set(request.activity_id or "-")
    started = time.perf_counter()
    try:
        await next_()
    finally:
        log.info(
            "turn kind=%s activity_id=%s conversation=%s tenant=%s cop_id=%s ms=%.1f",
            request.kind,
            request.activity_id,
            logsafe.conversation(request.place.conversation_id),  # a personal chat's is the person's
            request.place.tenant_id,
            turn.cop_id,
            (time.perf_counter() - started) * 1000,
        )
        current_activity.reset(token)


async def error_boundary(turn: Turn, next_: Next) -> None:
    """No stack trace reaches a user: log it with a reference id and apologise with that id, but only to a
    person who addressed the bot (see :func:`addressed_the_bot`)."""
    try:
        await next_()
    except DeliveryError as error:
        # the conversation's Bot Connector failed (the seam logged the call): not a bug, and an apology would go
        # the same way. Release the claim, so that Teams' retry is answered.
        log.warning(
            "turn ended: the Bot Connector failed status=%d activity_id=%s cop_id=%s",
            error.status,
            turn.request.activity_id,
            turn.cop_id,
        )
        await _forget_delivery(turn)
        if turn.request.kind == "action":
            turn.respond.answer_action(message=messages.CONNECTOR_DOWN)
        elif turn.request.search is not None:
            turn.respond.answer_search([], message=messages.CONNECTOR_DOWN)
    except Exception as error:
        ref = secrets.token_hex(4)
        log.exception("turn failed ref=%s activity_id=%s cop_id=%s", ref, turn.request.activity_id, turn.cop_id)
        await _forget_delivery(turn)
        text = (messages.STORAGE_DOWN if isinstance(error, Unavailable) else messages.APOLOGY).format(ref=ref)
        if turn.request.kind == "action":
            turn.respond.answer_action(message=text)
            return
        if turn.request.search is not None:
            turn.respond.answer_search([], message=text)
            return
        if turn.request.kind == "message" and addressed_the_bot(turn.request):
            try:
                await turn.respond.reply(text)
            except Exception:
                log.warning("could not deliver the apology ref=%s", ref, exc_info=True)


def addressed_the_bot(request: Request) -> bool:
    """A personal chat, an @mention of the bot or a card button: someone is waiting for an answer. A channel or
    group chat message the bot only watches (question tracking) is not: during an outage every such message
    would otherwise get an apology nobody asked for."""
    return request.place.is_personal or request.mentioned_bot or request.action is not None or request.submitted


def _dedupe_keys(conversation_id: str, activity_id: str) -> tuple[str, str]:
    """Teams message ids are unique within a conversation, not across conversations, so the claim is on both.

    The conversation id is hashed, not stored: a personal chat's id is as good as a person's id, and the claims
    table has no eraser (it needs none: a row holds a time and expires after two days). The partition is one of
    256 buckets of that hash, so a conversation's claims sit together and claims spread as before; the activity
    id stays readable for whoever looks at a row."""
    digest = hashlib.sha256(conversation_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return digest[:2], encode_key(f"{digest}|{activity_id}")


async def dedupe(turn: Turn, next_: Next) -> None:
    """Teams may deliver an activity twice: the first delivery claims the (conversation, activity id) pair with an
    insert, later ones stop.

    Card actions registered ``idempotent=True`` (e.g. an RSVP: choosing Going twice writes nothing) skip the
    claim: running them again is harmless, and the insert would be a storage round trip on every click."""
    request = turn.request
    activity_id = request.activity_id
    action = request.action
    # a search reads and answers only: a redelivery must get its results too
    read_only = request.search is not None
    if not activity_id or read_only or (action is not None and turn.services.router.is_idempotent(action.verb)):
        await next_()
        return
    pk, rk = _dedupe_keys(request.place.conversation_id, activity_id)
    turn.services.router.start_role(turn)  # the role's reads and the claim: one round trip of waiting, not two
    try:
        await turn.services.store.insert(DEDUPE_TABLE, pk, rk, {"at": request.received_at})
    except AlreadyExists:
        log.info("duplicate delivery ignored activity_id=%s", activity_id)
        if request.kind == "action":
            turn.respond.answer_action(message="Already done.")
        return
    turn.dedupe_claimed = True
    await next_()


async def _forget_delivery(turn: Turn) -> None:
    """A failed turn releases its claim so that Teams' retry is processed."""
    if not turn.dedupe_claimed:
        return
    pk, rk = _dedupe_keys(turn.request.place.conversation_id, turn.request.activity_id)
    try:
        await turn.services.store.delete(DEDUPE_TABLE, pk, rk)
    except (NotFound, StorageError):
        log.warning("could not release dedupe claim activity_id=%s", turn.request.activity_id)


async def purge_dedupe(store: TableStore, now: datetime) -> int:
    """Retention: drop dedupe claims older than two days (Teams redelivers within minutes); whatever their keys,
    so claims made under an earlier key scheme go too."""
    removed = 0
    for row in await store.query(DEDUPE_TABLE, None, [Where("at", "lt", now - DEDUPE_RETENTION)]):
        try:
            await store.delete(DEDUPE_TABLE, row.partition_key, row.row_key, etag=row.etag)
            removed += 1
        except StorageError:
            continue
    return removed


def install(router_use: Callable[[Callable[[Turn, Next], Awaitable[None]]], None]) -> None:
    """Order matters: log everything, catch everything, drop redeliveries, then enforce input limits."""
    router_use(correlation)
    router_use(error_boundary)
    router_use(dedupe)
    router_use(input_limits)
