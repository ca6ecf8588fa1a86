"""What of a key or a conversation may go into a log line: never a person.

Logs carry activity, CoP and tenant ids for correlation (docs/security.md). Outbox keys often end in a person's
Entra object id (``welcome|<cop>|<aad id>``), personal targets are ``personal:<aad id>``, and a personal chat's
conversation id is that person's. These helpers keep what helps an operator (the kind of item, a channel's id)
and put a short hash in place of the rest: the same value always gets the same hash, so one item's log lines
still correlate, and an operator who knows the key can compute it (:func:`short_hash`).
"""

from __future__ import annotations

import hashlib
import re

_CHANNEL = re.compile(r"19:[^;@\s]+@thread\.(?:tacv2|skype)(?:;messageid=\d+)?")
_KIND = re.compile(r"[a-z]{2,16}(?:-[a-z]{2,16})?")  # a word, never an id (ids hold digits)


def short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def key(value: object) -> str:
    """An outbox key as logged: its kind (the first word, e.g. ``welcome``, ``query``) and a hash of the rest."""
    text = str(value or "")
    if not text:
        return "-"
    first = re.split(r"[|:]", text, maxsplit=1)[0]
    kind = first if _KIND.fullmatch(first) else "item"
    return f"{kind}#{short_hash(text)}"


def conversation(value: object) -> str:
    """A conversation id or an outbox target as logged: a team channel's (or its thread's) id as it is; a
    personal chat's, a group chat's or a personal target's (``personal:<aad id>``) only as a hash."""
    text = str(value or "")
    if not text:
        return "-"
    if _CHANNEL.fullmatch(text):
        return text[:80]
    return f"{'personal' if text.startswith('personal:') else 'chat'}#{short_hash(text)}"
