"""Input limits every turn passes before routing: a backstop behind each feature's own field checks.

Message text gets a length limit with a clear reply (nothing is changed), and control and bidirectional-override
characters are removed from it before command matching. Card-submitted values get size limits only: each
feature validates its own fields and refuses control characters with its own wording (cards.elements.safe()
removes them on display anyway). Channel messages not addressed to the bot are cleaned but never answered.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from bot.routing.router import Turn

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 28_000  # Teams' own message limit; features apply tighter limits with their own wording
MAX_FIELD_CHARS = 8000  # one card input (FAQ answers, event descriptions); cards set tighter maxLength
MAX_FIELDS = 60
MAX_ACTION_BYTES = 64 * 1024

# C0/C1 controls except tab and newlines, zero-width and bidirectional override characters
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")

TOO_LONG = "That message is {n:,} characters long; I can take at most {limit:,}. Please shorten it and send it again."
FIELD_TOO_LONG = (
    "One of the fields you sent is {n:,} characters long; the limit is {limit:,}. Please shorten it. Nothing was "
    "changed."
)
TOO_MUCH = "That card sent more data than I accept, so I ignored it. Nothing was changed."

Next = Callable[[], Awaitable[None]]


def clean(text: str) -> str:
    return _UNSAFE.sub("", text)


def _longest_string(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return max((_longest_string(v) for v in value), default=0)
    if isinstance(value, dict):
        return max((_longest_string(v) for v in value.values()), default=0)
    return 0


def _action_problem(data: Mapping[str, Any]) -> str | None:
    if len(data) > MAX_FIELDS:
        return TOO_MUCH
    try:
        size = len(json.dumps(data, default=str))
    except (TypeError, ValueError):
        return TOO_MUCH
    if size > MAX_ACTION_BYTES:
        return TOO_MUCH
    longest = _longest_string(dict(data))
    if longest > MAX_FIELD_CHARS:
        return FIELD_TOO_LONG.format(n=longest, limit=MAX_FIELD_CHARS)
    return None


async def input_limits(turn: Turn, next_: Next) -> None:
    request = turn.request
    if request.action is not None:
        problem = _action_problem(request.action.data)
        if problem is not None:
            log.info("refused an oversized card action activity_id=%s", request.activity_id)
            await turn.tell(problem)
            return
    addressed = request.kind == "message" and (request.place.is_personal or request.mentioned_bot or request.submitted)
    if addressed and request.action is None and len(request.text) > MAX_MESSAGE_CHARS:
        log.info("refused an oversized message chars=%d activity_id=%s", len(request.text), request.activity_id)
        await turn.respond.reply(TOO_LONG.format(n=len(request.text), limit=MAX_MESSAGE_CHARS))
        return
    text = clean(request.text)
    if text != request.text:
        turn.request = replace(request, text=text)
    await next_()
