"""Checks for what people type into cards: a clear reason when input is refused, and nothing stored then."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.core.turn import Person
from bot.domain.cops import PersonRef
from bot.domain.members import ORG_AREAS, Profile

# C0/C1 controls, line/paragraph separators and bidirectional overrides (which can disguise names)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_TAG_SPLIT = re.compile(r"[,;\n]")

ORG_UNIT_MAX = 120
JOB_FAMILY_MAX = 80
TAG_MAX = 40
TAGS_MAX = 15
INTERESTS_INPUT_MAX = 600
ORG_AREA_KEYS = frozenset(key for key, _ in ORG_AREAS)


class BadInput(ValueError):
    """Input a person typed that we refuse; ``str(error)`` is the message to show them."""


def clean_text(value: Any, label: str, limit: int, *, multiline: bool = False, required: bool = False) -> str:
    """Stripped text, or BadInput if it is not text, is too long or holds control characters."""
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BadInput(f"{label} must be text.")
    cleaned: str = value.strip()
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(cleaned):
        raise BadInput(f"{label} contains control characters; please type it again as plain text.")
    if len(cleaned) > limit:
        raise BadInput(f"{label} is too long: {len(cleaned)} characters, at most {limit}.")
    if required and not cleaned:
        raise BadInput(f"{label} is required.")
    return cleaned


def clean_tags(value: Any, label: str = "Capabilities and interests") -> tuple[str, ...]:
    """Comma-separated tags, de-duplicated case-insensitively, in the order given."""
    text = clean_text(value, label, INTERESTS_INPUT_MAX, multiline=True)
    tags: list[str] = []
    seen: set[str] = set()
    for raw in _TAG_SPLIT.split(text):
        tag = " ".join(raw.split())
        if not tag:
            continue
        if len(tag) > TAG_MAX:
            raise BadInput(f"The tag '{tag[:20]}…' is too long: at most {TAG_MAX} characters per tag.")
        if tag.lower() not in seen:
            seen.add(tag.lower())
            tags.append(tag)
    if len(tags) > TAGS_MAX:
        raise BadInput(f"{label}: at most {TAGS_MAX} tags, not {len(tags)}.")
    return tuple(tags)


def profile_from_inputs(data: Mapping[str, Any], person: Person, existing: Profile | None, *, merge: bool) -> Profile:
    """The profile a card submitted. With ``merge``, empty fields keep what was saved before (cards that are
    not prefilled, like the welcome card and channel join cards); otherwise the inputs replace it."""
    org_area = clean_text(data.get("org_area"), "Organisational area", 20)
    if org_area and org_area not in ORG_AREA_KEYS:
        raise BadInput("Please choose your organisational area from the list.")
    org_unit = clean_text(data.get("org_unit"), "Your function, department or office", ORG_UNIT_MAX)
    job_family = clean_text(data.get("job_family"), "Job family", JOB_FAMILY_MAX)
    interests = clean_tags(data.get("interests"))
    if merge and existing is not None:
        org_area = org_area or existing.org_area
        org_unit = org_unit or existing.org_unit
        job_family = job_family or existing.job_family
        interests = interests or existing.interests
    return Profile(
        aad_id=person.aad_id,
        user_id=person.user_id,
        name=person.name or (existing.name if existing else ""),
        org_area=org_area,
        org_unit=org_unit,
        job_family=job_family,
        interests=interests,
    )


def chosen_people(value: Any, known: Mapping[str, PersonRef], label: str, limit: int) -> tuple[PersonRef, ...]:
    """The people a multi-select input named (comma-separated Entra ids), each one the card offered, at most
    ``limit``, each once."""
    text = clean_text(value, label, 40 * limit * 2)
    chosen: list[PersonRef] = []
    for raw in text.split(","):
        aad = raw.strip()
        if not aad:
            continue
        person = known.get(aad)
        if person is None:
            raise BadInput(f"{label}: please choose people from the list.")
        if person not in chosen:
            chosen.append(person)
    if len(chosen) > limit:
        raise BadInput(f"{label}: at most {limit} people.")
    return tuple(chosen)
