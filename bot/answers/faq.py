"""FAQ entries: the programme-wide FAQ shipped with the bot and the shape shared with per-CoP FAQs.

The programme FAQ lives in ``programme_faq.json`` beside this module (package data) and carries a
``version`` integer: storage keeps copies of the entries, and a higher version in the file tells the loader
that those copies must be replaced. Validation is plain code (no runtime schema library): every problem is
reported with the path of the offending value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

PROGRAMME_SCOPE = "programme"
PROGRAMME_SOURCE = "programme_faq.json"
PROGRAMME_FAQ_RESOURCE = "programme_faq.json"

MAX_ANSWER_CHARS = 800
MAX_QUESTION_CHARS = 300
MIN_ALTERNATIVES = 2
MAX_ALTERNATIVES = 45  # the programme FAQ has 32-43 per entry; a CoP's own entries are held to 5 (bot/domain/faq.py)
MAX_TAGS = 10

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class FaqFormatError(ValueError):
    """The FAQ data is malformed; the message names the offending path (e.g. ``entries[3].answer``)."""


@dataclass(frozen=True, slots=True)
class FaqEntry:
    """One question and its answer.

    ``scope`` is ``"programme"`` for the programme-wide FAQ or a CoP id for a CoP's own FAQ; ``source`` says
    where the entry came from (the programme file, a lead's edit, an answered thread, a CSV import...).
    """

    entry_id: str
    question: str
    answer: str
    alternatives: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    scope: str = PROGRAMME_SCOPE
    source: str = ""

    @property
    def is_programme(self) -> bool:
        return self.scope == PROGRAMME_SCOPE

    @property
    def phrasings(self) -> tuple[str, ...]:
        """The question followed by its alternative phrasings."""
        return (self.question, *self.alternatives)


def load_programme_faq() -> tuple[int, list[FaqEntry]]:
    """Read and validate the programme FAQ shipped with the package: ``(version, entries)``."""
    resource = resources.files(__package__ or "bot.answers").joinpath(PROGRAMME_FAQ_RESOURCE)
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FaqFormatError(f"{PROGRAMME_FAQ_RESOURCE}: cannot be read: {exc}") from exc
    return parse_faq_json(text, scope=PROGRAMME_SCOPE, source=PROGRAMME_SOURCE, name=PROGRAMME_FAQ_RESOURCE)


def parse_faq_json(text: str, *, scope: str, source: str, name: str = "FAQ") -> tuple[int, list[FaqEntry]]:
    """Parse FAQ JSON text (``{"version": int, "entries": [...]}``); ``name`` prefixes error messages."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FaqFormatError(f"{name}: not valid JSON: {exc}") from exc
    return parse_faq(data, scope=scope, source=source, name=name)


def parse_faq(data: object, *, scope: str, source: str, name: str = "FAQ") -> tuple[int, list[FaqEntry]]:
    """Validate decoded FAQ data and build the entries; raises :class:`FaqFormatError` on the first problem."""
    if not isinstance(data, Mapping):
        raise FaqFormatError(f"{name}: the top level must be an object with 'version' and 'entries'")
    _no_unknown_keys(data, {"version", "entries"}, name)
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise FaqFormatError(f"{name}.version: must be an integer >= 1, got {version!r}")
    raw_entries = data.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise FaqFormatError(f"{name}.entries: must be a non-empty list")
    entries: list[FaqEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_entries):
        path = f"{name}.entries[{i}]"
        entry = entry_from_dict(raw, scope=scope, source=source, path=path)
        if entry.entry_id in seen:
            raise FaqFormatError(f"{path}.id: duplicate id {entry.entry_id!r}")
        seen.add(entry.entry_id)
        entries.append(entry)
    return version, entries


def entry_from_dict(raw: object, *, scope: str, source: str, path: str = "entry") -> FaqEntry:
    """Validate one entry object (``id``, ``question``, ``alternatives``, ``answer``, ``tags``)."""
    if not isinstance(raw, Mapping):
        raise FaqFormatError(f"{path}: must be an object")
    _no_unknown_keys(raw, {"id", "question", "alternatives", "answer", "tags"}, path)
    entry_id = _slug(raw.get("id"), f"{path}.id")
    question = _text(raw.get("question"), f"{path}.question", MAX_QUESTION_CHARS)
    answer = _text(raw.get("answer"), f"{path}.answer", MAX_ANSWER_CHARS)
    alternatives = _text_list(raw.get("alternatives"), f"{path}.alternatives", MIN_ALTERNATIVES, MAX_ALTERNATIVES)
    for j, alternative in enumerate(alternatives):
        if len(alternative) > MAX_QUESTION_CHARS:
            raise FaqFormatError(f"{path}.alternatives[{j}]: longer than {MAX_QUESTION_CHARS} characters")
    tags_raw = raw.get("tags", [])
    tags = _text_list(tags_raw, f"{path}.tags", 0, MAX_TAGS)
    for j, tag in enumerate(tags):
        _slug(tag, f"{path}.tags[{j}]")
    return FaqEntry(
        entry_id=entry_id,
        question=question,
        answer=answer,
        alternatives=tuple(alternatives),
        tags=tuple(tags),
        scope=scope,
        source=source,
    )


def entry_to_dict(entry: FaqEntry) -> dict[str, Any]:
    """The JSON shape :func:`entry_from_dict` reads (scope and source are kept by the caller)."""
    return {
        "id": entry.entry_id,
        "question": entry.question,
        "alternatives": list(entry.alternatives),
        "answer": entry.answer,
        "tags": list(entry.tags),
    }


def _no_unknown_keys(data: Mapping[Any, Any], allowed: set[str], path: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise FaqFormatError(f"{path}: unknown field(s) {', '.join(unknown)}")


def _slug(value: object, path: str) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise FaqFormatError(f"{path}: must be a slug of lowercase letters, digits and '-', got {value!r}")
    return value


def _text(value: object, path: str, max_chars: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise FaqFormatError(f"{path}: must be a non-empty string")
    if len(value) > max_chars:
        raise FaqFormatError(f"{path}: longer than {max_chars} characters ({len(value)})")
    return value.strip()


def _text_list(value: object, path: str, min_items: int, max_items: int) -> list[str]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise FaqFormatError(f"{path}: must be a list of strings")
    if not min_items <= len(value) <= max_items:
        raise FaqFormatError(f"{path}: must have {min_items} to {max_items} items, got {len(value)}")
    out: list[str] = []
    for j, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise FaqFormatError(f"{path}[{j}]: must be a non-empty string")
        out.append(item.strip())
    return out
