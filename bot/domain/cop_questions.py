"""Questions the bot's own CoP directory answers: "who are the leads of Internal Communications?", "who sponsors
Data and Insight?", "when is the Events Management CoP's next event?".

The FAQ says what leads and sponsors do, not who they are; the directory (``bot/domain/cops.py``) knows each
installed CoP's leads, sponsor and status, and its events. A question is read as one of these when it asks one of
the four things (leads, sponsor, next event, status) *and* names a CoP:

- an installed CoP, by its name as staff type it (:mod:`bot.domain.cop_names`: "Data & Insight", "the PPM CoP",
  "internal comms"): the whole name, two or more of its words in order, or one word followed by "CoP" or
  "community" ("the Events CoP");
- a CoP the programme lists that is not installed (the programme FAQ's directory entries,
  :mod:`bot.answers.naming`), or any "<name> CoP" the bot does not know: then it is not on CoP Bot yet.

Everything else ("who leads a CoP?", "what do leads do?") is left to the FAQ. Reading a question costs two regular
expressions; the directory is read only when both the question's kind and a CoP-like name are there.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bot.answers.text import words
from bot.domain.cop_names import contains_run, initials, name_words
from bot.domain.cops import Cop
from bot.domain.programme_list import programme_listing

Fact = Literal["leads", "sponsor", "next_event", "status"]

_LEADS = re.compile(
    r"\bwho(?:'s|\s+is|\s+are)?\b.{0,40}\b(?:leads?|leaders?|leading|runs?|running|in charge|organis(?:es|ers?|ing)|"
    r"co-?leads?|coordinat\w*)\b|\b(?:names?|contact|email)\b.{0,30}\b(?:leads?|leaders?|organisers?|co-?leads?)\b|"
    r"\b(?:current|the)\s+(?:co-?)?leads?\s+(?:of|for|in|at)\b|"
    # "who should I contact about the Digital Communications CoP?": its leads (with a CoP named, as every fact)
    r"\bwho(?:m)?\b.{0,25}\b(?:contact|get in touch with|speak to|talk to)\b",
    re.IGNORECASE,
)
# "what do the leads of X do?" asks about the role (the FAQ's), not who holds it
_ROLE = re.compile(
    r"\b(?:what|how)\b.{0,60}\b(?:do|does|role|responsib\w*|duties|job|involve\w*|expected)\b", re.IGNORECASE
)
_WHO = re.compile(r"\b(?:who|whom|names?)\b", re.IGNORECASE)
_SPONSOR = re.compile(r"\bsponsor(?:s|ed|ing)?\b", re.IGNORECASE)
_EVENT = re.compile(
    r"\b(?:when|what date|what time|next|upcoming|coming up)\b.{0,60}\b(?:events?|meetings?|meet|meetups?|"
    r"lunch\s*(?:and|&|n'?)\s*learns?|l&ls?|sessions?|get-?togethers?|workshops?|socials?)\b|"
    r"\b(?:events?|meetings?|meetups?|lunch\s*(?:and|&|n'?)\s*learns?|l&ls?|sessions?)\b.{0,30}\b(?:next|upcoming)\b",
    re.IGNORECASE,
)
_STATUS = re.compile(
    r"\b(?:status|launched|up and running|live yet|in preparation|still being set up)\b", re.IGNORECASE
)
# "<name> CoP", "the <name> community (of practice)"; the name is up to five words before the marker
_NAMED = re.compile(
    r"((?:[\w&'-]+\s+){0,4}?[\w&'-]+)\s+(?:cop|community of practice|community|communities of practice)\b",
    re.IGNORECASE,
)
# words that come before "CoP" without naming one ("which CoP", "a community", "my CoP")
_NOT_A_NAME = frozenset(
    {
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "this",
        "that",
        "their",
        "its",
        "each",
        "every",
        "any",
        "one",
        "new",
        "which",
        "what",
        "whose",
        "some",
        "another",
        "other",
        "same",
        "whole",
        "his",
        "her",
        "is",
        "of",
        "in",
        "for",
        "to",
        "who",
        "are",
        "leads",
        "lead",
        "sponsor",
        "sponsors",
        "runs",
        "leading",
        "next",
        "when",
        "s",
        "and",
        "at",
        "on",
        "does",
        "do",
        "current",
        "names",
        "name",
        "me",
        "about",
        "from",
        "with",
        "tell",
        "give",
        "please",
        "pls",
        "i",
        "you",
        "we",
        "it",
        "be",
        "there",
        "cop",
        "cops",
        "by",
        "was",
        "has",
    }
)
_ABBREVIATIONS = {"comms": "communications", "comm": "communications", "mgmt": "management", "mgt": "management"}


@dataclass(frozen=True, slots=True)
class CopQuestion:
    """What was asked (``fact``), and about which CoP: installed ones (``cops``), else a name the bot does not
    have (``unknown``, as the programme lists it or as typed)."""

    fact: Fact
    cops: tuple[Cop, ...] = ()
    unknown: str = ""


def fact_asked(question: str) -> Fact | None:
    """Which directory fact the question asks for, if any (before any CoP name is looked for)."""
    if _SPONSOR.search(question) and re.search(r"\b(?:who|whom|which|name|sponsor of|sponsor for)\b", question, re.I):
        return "sponsor"
    if _LEADS.search(question) and not (_ROLE.search(question) and not _WHO.search(question)):
        return "leads"
    if _EVENT.search(question):
        return "next_event"
    if _STATUS.search(question):
        return "status"
    return None


@functools.lru_cache(maxsize=4096)  # CoP names, compared with every question that may name one
def _expanded(text: str) -> tuple[str, ...]:
    return tuple(_ABBREVIATIONS.get(w, w) for w in name_words(text))


def _runs_before_marker(question: str) -> list[str]:
    """The words written right before "CoP"/"community", up to the first that cannot be part of a name ("who
    leads the Digital Comms CoP" -> "Digital Comms")."""
    runs: list[str] = []
    for match in _NAMED.finditer(question):
        run: list[str] = []
        for word in reversed(match.group(1).split()):
            if not words(word) or set(words(word)) <= _NOT_A_NAME:
                break
            run.insert(0, word)
        if run:
            runs.append(" ".join(run).strip(" '"))
    return runs


_initials = functools.lru_cache(maxsize=1024)(initials)


@dataclass(frozen=True, slots=True)
class _Asked:
    """A question read once for comparing it with many CoP names: its words, the names written before "CoP", and
    the tokens that could be initials ("PPM", "D&I")."""

    text: str
    words: tuple[str, ...]
    pairs: frozenset[tuple[str, str]]  # each two words in a row
    runs: tuple[tuple[str, ...], ...]
    initials: frozenset[str]

    @classmethod
    def read(cls, question: str) -> _Asked:
        tokens = re.findall(r"[A-Za-z&]{2,7}", question)
        asked = _expanded(question)
        return cls(
            " ".join(question.casefold().split()),
            asked,
            frozenset(itertools.pairwise(asked)),
            tuple(_expanded(run) for run in _runs_before_marker(question)),
            frozenset(t.replace("&", "").lower() for t in tokens if t.isupper() or "&" in t),
        )


def _names(asked: _Asked, name: str) -> bool:
    """Whether the question read as ``asked`` names the CoP called ``name``."""
    wanted = _expanded(name)
    if not wanted:
        return False
    if not any(ch.isalpha() for word in wanted for ch in word):
        # a name that is only numbers once "CoP" is set aside ("CoP 60"): a number in a question ("storeroom 60")
        # is not that name; only the whole name is
        return " ".join(name.casefold().split()) in asked.text
    if len(wanted) >= 2 and any(pair in asked.pairs for pair in itertools.pairwise(wanted)):
        return True  # two of its words in order (and so the whole name, when it has two or more)
    if len(wanted) == 1 and wanted[0] in asked.words:
        return True
    if any(contains_run(wanted, run) for run in asked.runs):  # "the Events CoP"
        return True
    letters = _initials(name)
    return len(letters) >= 2 and letters in asked.initials


def installed_named(question: str, cops: Sequence[Cop]) -> list[Cop]:
    """The installed CoPs the question names (the longest names first, so "Internal Communications" wins over a
    shorter name it contains)."""
    asked = _Asked.read(question)
    named = [cop for cop in cops if _names(asked, cop.name)]
    exact = [cop for cop in named if contains_run(asked.words, _expanded(cop.name))]
    return sorted(exact or named, key=lambda c: -len(name_words(c.name)))


def programme_names() -> tuple[str, ...]:
    """The names of the CoPs the programme lists (:mod:`bot.domain.programme_list`)."""
    return tuple(listed.name for listed in programme_listing())


def unknown_named(question: str, cops: Sequence[Cop]) -> str:
    """A CoP name the question uses that no installed CoP has: one the programme lists, or "<name> CoP"."""
    asked = _Asked.read(question)
    for name in programme_names():
        if _names(asked, name) and not any(_expanded(c.name) == _expanded(name) for c in cops):
            return name
    runs = _runs_before_marker(question)
    return runs[0] if runs else ""


def read_cop_question(question: str, cops: Sequence[Cop]) -> CopQuestion | None:
    """The directory question ``question`` asks, or None when it is not one (left to the FAQ)."""
    fact = fact_asked(question)
    if fact is None:
        return None
    named = installed_named(question, cops)
    if named:
        return CopQuestion(fact, tuple(named[:3]))
    unknown = unknown_named(question, cops)
    if unknown and fact != "status":  # "is the X CoP launched?" is the programme FAQ's (its directory entries)
        return CopQuestion(fact, unknown=unknown)
    return None
