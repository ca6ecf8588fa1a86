"""Command matching is by whole words, longest command first; never by substring."""

from __future__ import annotations

import pytest

from bot.core.turn import Role
from bot.routing.router import Router, Turn


def _router() -> Router:
    router = Router()

    async def handler(_: Turn) -> None:
        return None

    router.command("faq", help="list")(handler)
    router.command("faq add", help="add", role=Role.LEAD)(handler)
    router.command("digest schedule", help="schedule", role=Role.LEAD)(handler)
    return router


@pytest.mark.parametrize(
    ("text", "command", "args"),
    [
        ("faq", "faq", ""),
        ("FAQ add", "faq add", ""),
        ("faq add how do I join?", "faq add", "how do I join?"),
        ("faq remove 3", "faq", "remove 3"),
        ("digest schedule mon 09:00", "digest schedule", "mon 09:00"),
    ],
)
def test_longest_whole_word_match(text: str, command: str, args: str) -> None:
    matched = _router().match_command(text)
    assert matched is not None
    assert matched[0].name == command
    assert matched[1] == args


@pytest.mark.parametrize("text", ["faqs", "what is the faq", "digest", "", "   "])
def test_no_substring_matching(text: str) -> None:
    assert _router().match_command(text) is None


def test_duplicate_registration_is_an_error() -> None:
    router = _router()

    async def handler(_: Turn) -> None:
        return None

    with pytest.raises(ValueError, match="twice"):
        router.command("faq", help="again")(handler)


def test_commands_for_filters_by_role_and_place() -> None:
    router = _router()
    assert [c.name for c in router.commands_for(Role.MEMBER, "personal")] == ["faq"]
    assert [c.name for c in router.commands_for(Role.LEAD, "channel")] == ["digest schedule", "faq", "faq add"]
