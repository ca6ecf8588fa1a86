"""Every membership card example is a well-formed Adaptive Card 1.5 whose buttons carry a verb."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cards import directory, membership, setup
from cards.catalog import CARD_MODULES
from cards.membership import CopChoice, join_card

MODULES = (membership, setup, directory)


def actions(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        if node.get("type") in ("Action.Execute", "Action.Submit"):
            found.append(node)
        for value in node.values():
            found.extend(actions(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(actions(value))
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_card_examples_are_valid(module: Any) -> None:
    assert module.__name__ in CARD_MODULES
    for label, card in module.examples():
        content = card.content
        assert content["type"] == "AdaptiveCard", label
        assert content["version"] == "1.5", label
        assert len(json.dumps(content)) < 28_000, label  # Teams' card size limit
        for action in actions(content):
            assert action["data"]["verb"], label
            if action["type"] == "Action.Execute":
                assert action["verb"] == action["data"]["verb"], label


def test_cop_names_are_escaped_in_cards() -> None:
    card = join_card(CopChoice("19:x", "**Evil** <at>Everyone</at>"), None, prefill=False)
    text = json.dumps(card.content)
    assert "<at>" not in text
    assert "\\\\*\\\\*Evil" in text
