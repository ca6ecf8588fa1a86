"""Small helpers to keep structured values in table properties (JSON strings within the 32 K limit)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.core.turn import JSON, reference_without_person


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def loads(text: Any, default: Any) -> Any:
    if not isinstance(text, str) or not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def dump_reference(reference: Mapping[str, Any] | None) -> str:
    """A conversation reference as stored: cut down to where to post and as whom, never naming the person whose
    activity it came from (whatever the caller passed)."""
    return dumps(reference_without_person(reference or {}))


def load_reference(text: Any) -> JSON:
    """A stored conversation reference, cut down on the way out too: rows written before references were cut
    down still hold the ``user`` of the activity that made them, and later sends must not carry it on."""
    stored = loads(text, None)
    return reference_without_person(stored) if isinstance(stored, Mapping) else {}


def written_before_the_cut(text: Any) -> bool:
    """True for a stored reference that still holds more than :func:`dump_reference` keeps (a ``user``, an
    ``activityId``): erasure rewrites such rows, since reading them cut down does not remove the person."""
    stored = loads(text, None)
    return isinstance(stored, Mapping) and dict(stored) != reference_without_person(stored)
