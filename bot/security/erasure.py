"""Erasure by identity: what ``forget me`` may change in records that other people also own.

A person is found by their ids (Entra object id, Teams user id 29:…) compared whole, never by a substring of
someone else's data: a short display name ("Al") must not rewrite "Alison", a conversation id, a button seal
or a URL. Only in text meant for display (a TextBlock, a fact, a button title, a message's summary) may the
person's display name be replaced, and then only as a whole word (see docs/security.md, "Exporting and
erasing personal data").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cards.elements import safe

FORMER_MEMBER = "former member"
MIN_NAME = 2  # shorter "names" (an initial) are too likely to be something else, even as whole words

# Adaptive Card properties whose string value is shown to people. Everything else (ids, verbs, button data and
# its seals, URLs, choice values, styles) is never touched.
DISPLAY_KEYS = frozenset(
    {"text", "title", "placeholder", "label", "altText", "fallbackText", "speak", "tooltip", "errorMessage"}
)
NEVER_INTO = frozenset({"data", "selectAction", "msteams", "refresh", "authentication", "metadata"})


@dataclass(frozen=True)
class Identity:
    """The person being erased: their ids and the display names they were known by."""

    aad_id: str
    user_id: str = ""
    names: frozenset[str] = frozenset()

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(i for i in (self.aad_id, self.user_id) if i)

    def is_id(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.ids

    def is_person(self, account: Any) -> bool:
        """A stored person or account (``{"aad_id", "user_id"}`` or a Teams ``{"id", "aadObjectId"}``) is them."""
        if not isinstance(account, Mapping):
            return False
        return any(self.is_id(account.get(k)) for k in ("aad_id", "user_id", "aadObjectId", "id"))


def _pattern(words: Iterable[str]) -> re.Pattern[str] | None:
    alternatives = sorted({w for w in words if len(w.strip()) >= MIN_NAME}, key=len, reverse=True)
    if not alternatives:
        return None
    return re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w) for w in alternatives) + r")(?![\w-])")


def name_pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """The display names as whole words (case as written), also as :func:`cards.elements.safe` escaped them."""
    words: set[str] = set()
    for name in names:
        name = name.strip()
        if len(name) >= MIN_NAME:
            words |= {name, safe(name, 10_000)}
    return _pattern(words)


def id_pattern(ids: Iterable[str]) -> re.Pattern[str] | None:
    """Ids as whole tokens (an id is never a part of a longer id, a word or a URL path segment)."""
    return _pattern(ids)


def replace_whole(text: str, pattern: re.Pattern[str] | None, by: str = FORMER_MEMBER) -> str:
    return pattern.sub(by, text) if pattern is not None else text


def display_text_replaced(node: Any, replace: Callable[[str], str]) -> Any:
    """``node`` (an Adaptive Card, or any part of one) with ``replace`` applied to the strings shown to people,
    and to nothing else. Returns the same object when nothing changed."""
    return _replaced(node, replace, frozenset())


def _replaced(node: Any, replace: Callable[[str], str], shown: frozenset[str]) -> Any:
    if isinstance(node, list):
        items = [_replaced(item, replace, shown) for item in node]
        return items if any(a is not b for a, b in zip(items, node, strict=True)) else node
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    changed = False
    for key, value in node.items():
        if key in NEVER_INTO:
            new = value
        elif isinstance(value, str):
            new = replace(value) if key in DISPLAY_KEYS or key in shown else value
            new = value if new == value else new
        else:
            # a fact's value is shown ({"title", "value"} in a FactSet's facts), a prefilled text input's too; a
            # choice's value, a toggle's or a date's is what the button submits
            inner = frozenset({"value"}) if key == "facts" and node.get("type") == "FactSet" else frozenset()
            new = _replaced(value, replace, inner)
        changed = changed or new is not value
        out[key] = new
    if node.get("type") == "Input.Text" and isinstance(out.get("value"), str):
        prefilled = replace(out["value"])
        if prefilled != out["value"]:
            out["value"], changed = prefilled, True
    return out if changed else node
