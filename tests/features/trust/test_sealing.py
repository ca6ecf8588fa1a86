"""Sealing a card on its way out (bot/security/sealing.py): every button that names a verb is sealed wherever it
sits in the card, the caller's card is left as it was, and nothing the sealed card holds on the way to a seal is
shared with it."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from bot.core.turn import Card
from bot.security.sealing import SEAL, check_action, seal_card
from bot.security.signing import Signer

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
SIGNER = Signer("a signing key of the tests, long enough")


def _execute(verb: str, **data: str) -> dict[str, Any]:
    return {"type": "Action.Execute", "title": verb, "verb": verb, "data": {"verb": verb, **data}}


def _card() -> dict[str, Any]:
    return {
        "type": "AdaptiveCard",
        "version": "1.5",
        "body": [
            {"type": "TextBlock", "text": "Hello"},
            {"type": "ActionSet", "actions": [_execute("rsvp.yes", cop_id="c1", id="e1")]},
            {
                "type": "ColumnSet",
                "columns": [
                    {"type": "Column", "items": [{"type": "TextBlock", "text": "x"}]},
                    {"type": "Column", "items": [], "selectAction": _execute("health.show", cop_id="c1")},
                ],
            },
        ],
        "actions": [
            {"type": "Action.OpenUrl", "title": "Open", "url": "https://example.org/"},
            {"type": "Action.Submit", "title": "Send", "data": {"verb": "faq.helped", "entry": "e"}},
            {
                "type": "Action.ShowCard",
                "title": "More",
                "card": {"type": "AdaptiveCard", "actions": [_execute("join.core", cop_id="c2")]},
            },
        ],
    }


def _buttons(node: Any) -> list[dict[str, Any]]:
    """Every Action.Execute or Action.Submit in ``node``, in document order."""
    if isinstance(node, list):
        return [b for item in node for b in _buttons(item)]
    if not isinstance(node, dict):
        return []
    own = [node] if node.get("type") in ("Action.Execute", "Action.Submit") else []
    return own + [b for value in node.values() for b in _buttons(value)]


def test_every_button_with_a_verb_is_sealed_wherever_it_sits_and_the_seal_checks() -> None:
    sealed = seal_card(Card(_card()), SIGNER, NOW)
    assert isinstance(sealed, Card)
    buttons = _buttons(sealed.content)
    assert [b["data"]["verb"] for b in buttons] == ["rsvp.yes", "health.show", "faq.helped", "join.core"]
    for button in buttons:
        assert SEAL in button["data"]
        assert check_action(button["data"]["verb"], button["data"], SIGNER, NOW) is None
    assert sealed.content["actions"][0] == _card()["actions"][0]  # a link has nothing to seal


def test_the_callers_card_is_left_as_it_was_and_shares_nothing_on_the_way_to_a_seal() -> None:
    card = _card()
    before = copy.deepcopy(card)
    sealed = seal_card(Card(card), SIGNER, NOW)
    assert isinstance(sealed, Card)
    assert card == before
    assert not any(SEAL in b["data"] for b in _buttons(card))
    # the dicts and lists leading to a sealed button are the sealed card's own: changing them changes nothing here
    sealed.content["body"][1]["actions"][0]["data"]["id"] = "changed"
    sealed.content["body"][2]["columns"][1]["selectAction"]["title"] = "changed"
    sealed.content["actions"][2]["card"]["actions"].append({"type": "TextBlock"})
    assert card == before


def test_a_card_without_buttons_is_returned_as_it_came() -> None:
    content = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "no buttons"}]}
    sealed = seal_card(Card(content, "summary"), SIGNER, NOW)
    assert isinstance(sealed, Card)
    assert sealed.content is content
    assert sealed.summary == "summary"
    assert seal_card("plain text", SIGNER, NOW) == "plain text"
