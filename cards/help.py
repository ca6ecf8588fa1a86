"""The help card: commands grouped by who may use them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.turn import Card, PlaceKind, Role
from bot.routing.router import Command
from cards.elements import card, execute, facts, heading, text

INTRO = {
    "personal": "Here is what you can ask me in this chat. You can also just type a question.",
    "channel": "Mention me (@CoP Bot) followed by one of these. You can also just ask a question.",
    "groupChat": "Mention me (@CoP Bot) followed by one of these.",
}
SECTION = {
    Role.ANYONE: "Everyone",
    Role.MEMBER: "Members",
    Role.SPONSOR: "Sponsors",
    Role.LEAD: "Leads",
    Role.ADMIN: "Programme team",
}


def help_card(commands: Sequence[Command], role: Role, place: PlaceKind) -> Card:
    body = [heading("CoP Bot"), text(INTRO[place], subtle=True)]
    for section_role in sorted({c.role for c in commands}):
        rows = [(c.name + (f" {c.usage}" if c.usage else ""), c.help) for c in commands if c.role == section_role]
        body.append(text(SECTION[section_role], weight="bolder", spacing="medium"))
        body.append(facts(rows))
    return card(body, [execute("Refresh", "help.show")], summary="What I can do")


def examples() -> Iterable[tuple[str, Card]]:
    async def noop(_: object) -> None:
        return None

    sample = [
        Command(("help",), noop, "What I can do for you here", Role.ANYONE, frozenset({"personal"})),
        Command(("faq", "add"), noop, "Add an FAQ entry", Role.LEAD, frozenset({"channel"})),
    ]
    yield "personal", help_card(sample[:1], Role.MEMBER, "personal")
    yield "lead-channel", help_card(sample, Role.LEAD, "channel")
