"""The CoP's shared repertoire: guides, templates, recordings, slides and tools that members share.

Table ``resources``, partition = the CoP id (encoded), one row per resource (row key ``r|<id>``). A Lunch and
Learn's recording and slides are resources too, with deterministic ids (``ev-<event id>-recording``), so
attaching them again replaces the earlier link instead of adding a second one.

Finding them (:func:`rank`) reuses the FAQ's text analysis (bot/answers/text.py: lower-casing, phrase rules,
stop words, synonyms, stemming): a word in the title counts three times, in a tag twice, in the "why it helps"
line once, each weighted by how rare it is among the CoP's resources, so "template" in every title says little.
"""

from __future__ import annotations

import functools
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.answers.text import generic_stems, tokenize
from bot.domain.codec import dumps, loads
from bot.domain.validation import BadInput, clean_tags, clean_text
from bot.domain.web_links import clean_link
from storage.base import AlreadyExists, NotFound, Row, TableStore, Where, encode_key

TABLE = "resources"
PREFIX = "r|"
Kind = Literal["guide", "template", "recording", "slides", "tool"]
KINDS: dict[str, str] = {
    "guide": "Guide",
    "template": "Template",
    "recording": "Recording",
    "slides": "Slides",
    "tool": "Tool",
}
TITLE_MAX = 120
WHY_MAX = 300
TAGS_MAX = 8
MAX_PER_COP = 500
TITLE_WEIGHT, TAG_WEIGHT, WHY_WEIGHT = 3.0, 2.0, 1.0


@dataclass(frozen=True)
class Resource:
    cop_id: str
    resource_id: str
    title: str
    url: str
    kind: Kind
    tags: tuple[str, ...] = ()
    why: str = ""
    shared_by: str = ""  # AAD id of whoever shared it ("" once they asked to be forgotten)
    shared_by_name: str = ""
    shared_at: datetime | None = None
    event_id: str = ""  # the Lunch and Learn it was recorded at, if any
    etag: str = ""


@dataclass(frozen=True)
class Draft:
    title: str
    url: str
    kind: Kind
    tags: tuple[str, ...]
    why: str


def new_resource_id() -> str:
    return secrets.token_hex(6)


def event_resource_id(event_id: str, kind: Kind) -> str:
    return f"ev-{event_id}-{kind}"


def is_resource_id(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 80 and all(c.isalnum() or c == "-" for c in value)


def draft_from(data: Mapping[str, Any]) -> Draft:
    """The resource a share card submitted, or BadInput naming what is wrong (nothing is stored then)."""
    title = clean_text(data.get("title"), "Title", TITLE_MAX, required=True)
    url = clean_link(data.get("url"), "Link", required=True)
    kind = clean_text(data.get("kind"), "Kind", 20)
    if kind not in KINDS:
        raise BadInput("Please choose what kind of resource it is from the list.")
    tags = clean_tags(data.get("tags"), "Tags")
    if len(tags) > TAGS_MAX:
        raise BadInput(f"Tags: at most {TAGS_MAX}, not {len(tags)}.")
    why = clean_text(data.get("why"), "Why it helps", WHY_MAX)
    return Draft(title, url, kind, tags, why)  # type: ignore[arg-type]  # checked against KINDS above


def _to_row(r: Resource) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cop_id": r.cop_id,
        "resource_id": r.resource_id,
        "title": r.title,
        "url": r.url,
        "kind": r.kind,
        "tags": dumps(list(r.tags)),
        "why": r.why,
        "shared_by": r.shared_by,
        "shared_by_name": r.shared_by_name,
        "event_id": r.event_id,
    }
    if r.shared_at is not None:
        data["shared_at"] = r.shared_at
    return data


def _from_row(row: Row) -> Resource:
    get = row.get
    kind = get("kind", "guide")
    tags = loads(get("tags"), [])
    return Resource(
        cop_id=str(get("cop_id", "")),
        resource_id=str(get("resource_id", "")),
        title=str(get("title", "")),
        url=str(get("url", "")),
        kind=kind if kind in KINDS else "guide",
        tags=tuple(str(t) for t in tags) if isinstance(tags, list) else (),
        why=str(get("why", "")),
        shared_by=str(get("shared_by", "")),
        shared_by_name=str(get("shared_by_name", "")),
        shared_at=get("shared_at"),
        event_id=str(get("event_id", "")),
        etag=row.etag,
    )


class TooMany(Exception):
    """The CoP already holds :data:`MAX_PER_COP` resources."""


class Taken(Exception):
    """Someone else already shared a resource with this form (its id is theirs)."""


class ResourceRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def of_cop(self, cop_id: str) -> list[Resource]:
        rows = await self._store.query(TABLE, encode_key(cop_id))
        return [_from_row(row) for row in rows if row.row_key.startswith(PREFIX)]

    async def get(self, cop_id: str, resource_id: str) -> Resource | None:
        try:
            return _from_row(await self._store.get(TABLE, encode_key(cop_id), PREFIX + encode_key(resource_id)))
        except NotFound:
            return None

    async def add(self, resource: Resource, *, existing: int | None = None, replace: bool = False) -> Resource:
        """Store a new resource. The same share form sent twice stores it once; a form someone else already used
        raises :class:`Taken`. ``replace``: overwrite the one with the same id (an event's recording attached
        again)."""
        if existing is None:
            existing = len(await self.of_cop(resource.cop_id))
        if existing >= MAX_PER_COP:
            raise TooMany
        partition, key = encode_key(resource.cop_id), PREFIX + encode_key(resource.resource_id)
        if replace:
            return _from_row(await self._store.upsert(TABLE, partition, key, _to_row(resource)))
        try:
            return _from_row(await self._store.insert(TABLE, partition, key, _to_row(resource)))
        except AlreadyExists:
            found = await self.get(resource.cop_id, resource.resource_id)
            if found is None or found.shared_by != resource.shared_by:
                raise Taken from None
            return found

    async def remove(self, cop_id: str, resource_id: str) -> bool:
        try:
            await self._store.delete(TABLE, encode_key(cop_id), PREFIX + encode_key(resource_id))
        except NotFound:
            return False
        return True

    async def of_event(self, cop_id: str, event_id: str) -> list[Resource]:
        return [r for r in await self.of_cop(cop_id) if r.event_id == event_id]

    # -- personal data (table scans: privacy requests only) -----------------------------------------------------
    async def shared_by(self, aad_id: str) -> list[Resource]:
        if not aad_id:
            return []
        rows = await self._store.query(TABLE, None, [Where("shared_by", "eq", aad_id)])
        return [_from_row(row) for row in rows]

    async def forget_sharer(self, aad_id: str) -> int:
        """The person's resources stay the CoP's, without their id or name (the link and its description are the
        CoP's repertoire, not about the person). Returns rows rewritten."""
        touched = 0
        for r in await self.shared_by(aad_id):
            try:
                await self._store.update(
                    TABLE,
                    encode_key(r.cop_id),
                    PREFIX + encode_key(r.resource_id),
                    {**_to_row(r), "shared_by": "", "shared_by_name": ""},
                )
                touched += 1
            except NotFound:
                continue
        return touched


# -- finding ------------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _terms(text: str) -> frozenset[str]:
    return frozenset(tokenize(text))


def _fields(r: Resource) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    return _terms(r.title), _terms(" ".join(r.tags) + " " + KINDS[r.kind]), _terms(r.why)


def query_terms(words: str) -> frozenset[str]:
    """The content terms of what someone typed, without words too general to tell resources apart."""
    return _terms(words[:500]) - generic_stems()


def rank(
    resources: Sequence[Resource], words: str, *, limit: int = 10, strong_only: bool = False
) -> list[tuple[Resource, float]]:
    """Resources that share a term with ``words``, best first. ``strong_only``: only those matched in their title
    or tags (what ``ask`` offers beside an answer; the "why" line alone is too loose a fit)."""
    wanted = query_terms(words)
    if not wanted or not resources:
        return []
    fields = [_fields(r) for r in resources]
    count = len(resources)
    rarity = {
        t: math.log(1 + count / (1 + sum(1 for f in fields if t in f[0] or t in f[1] or t in f[2]))) for t in wanted
    }
    scored: list[tuple[Resource, float]] = []
    for r, (title, tags, why) in zip(resources, fields, strict=True):
        strong = sum(
            (TITLE_WEIGHT if t in title else TAG_WEIGHT) * rarity[t] for t in wanted if t in title or t in tags
        )
        score = strong + sum(WHY_WEIGHT * rarity[t] for t in wanted if t in why and t not in title and t not in tags)
        if score > 0 and (strong > 0 or not strong_only):
            scored.append((r, score))
    scored.sort(key=lambda pair: (-pair[1], pair[0].title.lower()))
    return scored[:limit]


def newest_first(resources: Sequence[Resource]) -> list[Resource]:
    return sorted(resources, key=lambda r: (r.shared_at is not None, r.shared_at), reverse=True)
