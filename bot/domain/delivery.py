"""What the outbox promises for each kind of proactive message: at most once, or at least once.

A send can end without an answer that says whether Teams accepted the message: the connector timed out or the
connection dropped after the request went out, it answered 500/502/504, or the sending process died between
claiming the item and recording the result. Nothing in the Bot Connector API lets a bot ask afterwards whether
a message arrived, and a resent activity is a second message, so each kind of message picks its risk:

- **at most once**: an ambiguous send is recorded as ``unknown`` and never repeated. A duplicate would be noise
  in front of a whole team, or a second copy of something that cannot be taken back (a digest, an announcement
  whose card is later updated in place, an invitation, a reminder); a rare loss costs less and is visible as
  ``unknown`` in the outbox.
- **at least once**: an ambiguous send is retried until Teams confirms it (or the item gives up after the
  policy's failure limit and is recorded ``dead``). Losing it leaves someone uninformed where it matters (a
  question nobody is told about, an answer that never reaches the asker, a waitlist place or a cancellation the
  person never hears of); a rare second copy does no harm.

Both promises hold only for what could be ambiguous: a send that certainly failed (429, 503, 401, no
connection, no token) is retried for every kind, and a target that is gone (403/404) is never retried.

Kinds are named by the first word of the outbox key (``digest|<cop>|<week>`` → ``digest``). A kind not listed
here is at most once: the outbox's older promise, so a new kind must choose to risk duplicates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

OUTBOX_TABLE = "outbox"  # where the outbox (bot/jobs/outbox.py) keeps its items, one row each
OUTBOX_PARTITION = "q"


class Promise(StrEnum):
    AT_MOST_ONCE = "at most once"
    AT_LEAST_ONCE = "at least once"


@dataclass(frozen=True)
class Kind:
    name: str  # what people call it (docs, bench report)
    promise: Promise
    prefixes: tuple[str, ...]  # first words of the outbox keys of this kind


KINDS: tuple[Kind, ...] = (
    Kind("digest", Promise.AT_MOST_ONCE, ("digest", "programmenote")),
    Kind("event announcement", Promise.AT_MOST_ONCE, ("event",)),
    Kind("invitation", Promise.AT_MOST_ONCE, ("welcome", "invite", "survey", "imported")),
    Kind(
        "reminder",
        Promise.AT_MOST_ONCE,
        ("reminder", "feedback", "survey-remind", "governance", "action", "leadsponsor"),
    ),
    Kind("project notice", Promise.AT_MOST_ONCE, ("project",)),
    Kind("RSVP notice", Promise.AT_LEAST_ONCE, ("promoted", "changed", "cancelled")),
    Kind("escalation", Promise.AT_LEAST_ONCE, ("query",)),
    Kind("report to leads", Promise.AT_LEAST_ONCE, ("invite-report", "import-result", "digest-preview", "meeting")),
    Kind("proposal", Promise.AT_LEAST_ONCE, ("proposal",)),
)
DEFAULT = Kind("other", Promise.AT_MOST_ONCE, ())

_FIRST_WORD = re.compile(r"[|:]")


def kind_of(key: str) -> Kind:
    """The kind of the outbox item with ``key`` (a fallback post, ``<key>|fallback``, keeps its item's kind)."""
    first = _FIRST_WORD.split(key, maxsplit=1)[0]
    for kind in KINDS:
        if first in kind.prefixes:
            return kind
    return DEFAULT


def promise_of(key: str) -> Promise:
    return kind_of(key).promise


# The broadcast a message belongs to: its key without the person it went to. Parts are separated by "|" or ":"
# as the features write them; the listed kinds end in (or, for reminders, carry) the recipient's id.
_PERSON_PART: dict[str, int] = {  # first word -> index of the recipient's part among the key's parts
    "welcome": 2,  # welcome|<cop>|<person>
    "invite": 2,  # invite|<cop>|<person>
    "imported": 2,  # imported|<cop>|<person>
    "survey": 2,  # survey|<round>|<person>
    "survey-remind": 2,  # survey-remind|<round>|<person>
    "reminder": 3,  # reminder:<event>:<24h|1h>:<person>:<start>
    "feedback": 2,  # feedback:<event>:<person>
    "promoted": 2,  # promoted:<event>:<person>:<seq>
    "changed": 3,  # changed:<event>:<sequence>:<person>
    "cancelled": 2,  # cancelled:<event>:<person>
    "governance": 3,  # governance|<cop>|<period>|<person>
    "project": 4,  # project|<cop>|<project>|<stamp>|<person>
    "leadsponsor": 3,  # leadsponsor|<cop>|<day>|<person>
    "query": 4,  # query|<new|escalated>|<cop>|<query>|<lead or "channel">
    "meeting": 4,  # meeting|<cop>|<event>|<outcome>|<organiser>
    "programmenote": 2,  # programmenote|<week>|<admin>
}


def run_of(key: str) -> str:
    """The broadcast of the outbox item ``key``: one digest post, one event's announcement, one reminder round,
    one CoP's invitations: the key with the recipient's part left out (``reminder:e1:24h:<person>:<start>`` →
    ``reminder:e1:24h:<start>``). A fallback post belongs to its item's broadcast."""
    key = key.removesuffix("|fallback")
    found = _FIRST_WORD.search(key)
    if found is None:
        return key
    sep = found.group()  # a key's parts are split by the separator after its first word only (ids hold ':')
    parts = key.split(sep)
    index = _PERSON_PART.get(parts[0])
    if index is None or index >= len(parts):
        return key
    return sep.join(parts[:index] + parts[index + 1 :])
