"""Every card the bot can send, built with representative data, for validation in tests.

Each card module exposes ``examples() -> Iterable[tuple[str, Card]]``; list the module here when you add one.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator

from bot.core.turn import Card

CARD_MODULES: tuple[str, ...] = (
    "cards.help",
    "cards.membership",
    "cards.setup",
    "cards.directory",
    "cards.events",
    "cards.compose_search",
    "cards.projects",
    "cards.resources",
    "cards.faq",
    "cards.queries",
    "cards.digest",
    "cards.delivery_report",
    "cards.governance",
    "cards.records",
    "cards.practice_areas",
    "cards.proposals",
    "cards.health",
    "cards.survey",
    "cards.programme",
    "cards.programme_note",
    "cards.audit",
    "cards.privacy",
    "cards.imports",
    "cards.invitations",
)


def all_examples() -> Iterator[tuple[str, Card]]:
    for name in CARD_MODULES:
        module = importlib.import_module(name)
        for label, example in module.examples():
            yield f"{name}:{label}", example
