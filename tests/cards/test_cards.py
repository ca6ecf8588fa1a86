"""Every card the bot can send (cards.catalog.all_examples) passes the official schema, the official renderer and
Teams' size limit; and the checker demonstrably catches broken cards.

All cards — the catalog's and the deliberately broken ones below — go through ONE check_cards call per session,
so node starts once however many cards there are.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from cards.catalog import all_examples
from tests.kit.cards_check import MAX_CARD_BYTES, card_bytes, check_cards

CATALOG: dict[str, dict[str, Any]] = {card_id: card.content for card_id, card in all_examples()}

_TEXT = {"type": "TextBlock", "text": "Hello", "wrap": True}


def _card(body: list[dict[str, Any]], actions: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": body,
        **extra,
    }
    if actions is not None:
        card["actions"] = actions
    return card


# Deliberately good and broken cards, with a fragment each expected problem must contain ("" = must pass).
PROBES: dict[str, tuple[dict[str, Any], list[str]]] = {
    "good-execute": (
        _card(
            [_TEXT, {"type": "Input.Text", "id": "q", "label": "Question", "isRequired": True, "errorMessage": "Ask"}],
            [{"type": "Action.Execute", "title": "Send", "verb": "ask", "data": {"verb": "ask"}}],
            msteams={"width": "Full"},
        ),
        [],
    ),
    "unknown-element": (_card([_TEXT, {"type": "Carousel", "pages": []}]), ["unknown or misplaced type", "Unknown"]),
    "unknown-action": (_card([_TEXT], [{"type": "Action.Teleport", "title": "Go"}]), ["UnknownActionType"]),
    "missing-text": (_card([{"type": "TextBlock", "wrap": True}]), ["'text' is a required property"]),
    "input-without-id": (_card([{"type": "Input.Text", "label": "Name"}]), ["'id' is a required property"]),
    "duplicate-ids": (
        _card([{"type": "Input.Text", "id": "a", "label": "A"}, {"type": "Input.Text", "id": "a", "label": "B"}]),
        ["DuplicateId"],
    ),
    "bad-enum": (_card([{**_TEXT, "size": "enormous"}]), ["'enormous'", "InvalidPropertyValue"]),
    "too-new": (_card([_TEXT], version="1.6"), ["newer than 1.5"]),
    "bad-msteams": (_card([_TEXT], msteams={"width": "Half", "colour": "red"}), ["msteams"]),
    "oversize": (_card([{**_TEXT, "text": "x" * (MAX_CARD_BYTES + 1)}]), ["size:"]),
}


@pytest.fixture(scope="session")
def results() -> dict[str, list[str]]:
    batch = {f"catalog:{card_id}": card for card_id, card in CATALOG.items()}
    batch.update({f"probe:{name}": card for name, (card, _) in PROBES.items()})
    return check_cards(copy.deepcopy(batch))


def test_catalog_is_not_empty() -> None:
    assert CATALOG, "cards.catalog.all_examples() yielded nothing"


@pytest.mark.parametrize("card_id", sorted(CATALOG))
def test_card_is_valid(card_id: str, results: dict[str, list[str]]) -> None:
    problems = results[f"catalog:{card_id}"]
    assert not problems, f"{card_id}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("card_id", sorted(CATALOG))
def test_card_leaves_room_in_a_message(card_id: str) -> None:
    # The limit is for the whole activity; keep a margin for the envelope (ids, summary, mentions).
    assert card_bytes(CATALOG[card_id]) <= MAX_CARD_BYTES - 2048


@pytest.mark.parametrize("name", sorted(PROBES))
def test_checker_verdict(name: str, results: dict[str, list[str]]) -> None:
    _, expected = PROBES[name]
    problems = results[f"probe:{name}"]
    if not expected:
        assert problems == [], problems
        return
    for fragment in expected:
        assert any(fragment in p for p in problems), f"{name}: no problem mentions {fragment!r}: {problems}"


def test_both_schema_and_renderer_see_an_unknown_element(results: dict[str, list[str]]) -> None:
    problems = results["probe:unknown-element"]
    assert any(p.startswith("schema at body/1") for p in problems), problems
    assert any(p.startswith("renderer: Parse/UnknownElementType") for p in problems), problems


def test_empty_batch() -> None:
    assert check_cards({}) == {}
