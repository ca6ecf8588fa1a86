"""Questions that name a CoP: "how do I leave the Events Management CoP?" is about leaving, not about the CoP.

The programme FAQ has one directory entry per CoP (id ``cop-…``, tag ``directory``: "Is there a CoP for events?",
answered with the CoP's name in bold, its practice area, sponsor and status). A CoP's name is rare in the FAQ, so
both BM25 and the sentence vectors pull any question that names it towards that entry. When a directory entry
comes first, the ranker ranks the question again with the CoP's name taken out, and takes that ranking instead
when its best entry is a general one (how to leave, who leads, where CoPs meet…), except when the question asks
whether such a CoP exists ("is there…"), the general entry is one the directory entry answers as well (the list
of CoPs, sponsors, and "What is a CoP?": "what is the X CoP?" is about X), or the question without the name is
unsure.

Measured at ebf83bb, with the confidence model refitted: top-1 on the 700 fitting questions 89.8 % → 91.4 % (9
moved to the right entry, none away), cross-validated right with confidence 75.1 % → 76.9 % at ≤ 3 % wrong; on a
fresh set written for the decision (holdout-11, rule set before scoring) top-1 90.8 % → 93.4 %, right 64.5 % →
65.8 %, wrong unchanged (5.2 %). See tests/answers/test_calibration.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.answers.faq import FaqEntry
from bot.answers.text import words

DIRECTORY_TAG = "directory"
DIRECTORY_PREFIX = "cop-"
# general entries a directory entry answers too: the directory lists the CoPs, names each one's sponsor, and says
# what the named CoP is ("what is the Events CoP?" without the name is "what is a CoP?")
ANSWERED_BY_DIRECTORY = frozenset({"list-of-cops", "sponsor-role", "what-is-a-cop"})

_BOLD = re.compile(r"\*\*(.+?)\*\*")
_TOKEN = re.compile(r"\S+")
_EXISTENCE = re.compile(r"\b(?:is|are) there\b", re.IGNORECASE)
_JOINERS = frozenset({"and"})


def directory_names(entries: Sequence[FaqEntry]) -> dict[int, frozenset[str]]:
    """By position in ``entries``: the words of the CoP name of each directory entry (the first bold text of its
    answer, without "and")."""
    names: dict[int, frozenset[str]] = {}
    for position, entry in enumerate(entries):
        if DIRECTORY_TAG not in entry.tags or not entry.entry_id.startswith(DIRECTORY_PREFIX):
            continue
        bold = _BOLD.search(entry.answer)
        name = frozenset(words(bold.group(1))) - _JOINERS if bold else frozenset()
        if name:
            names[position] = name
    return names


def without_name(question: str, name: frozenset[str]) -> str | None:
    """``question`` without the words of ``name``; None when the rule does not apply: the question asks whether
    something exists, names none of those words, or is nothing but the name."""
    if _EXISTENCE.search(question):
        return None
    kept = [token for token in _TOKEN.findall(question) if not (set(words(token)) and set(words(token)) <= name)]
    masked = " ".join(kept)
    if len(kept) == len(_TOKEN.findall(question)) or not words(masked):
        return None
    return masked


def is_general(entry: FaqEntry) -> bool:
    """Whether a question that named a CoP may be answered with ``entry`` instead of the CoP's directory entry."""
    return DIRECTORY_TAG not in entry.tags and entry.entry_id not in ANSWERED_BY_DIRECTORY
