"""``help``: the commands available to this caller in this place."""

from __future__ import annotations

from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.help import help_card


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("help", help="What I can do for you here")
    async def show_help(turn: Turn) -> None:
        commands = router.commands_for(turn.role, turn.request.place.kind)
        await turn.respond.reply(help_card(commands, turn.role, turn.request.place.kind))

    @router.action("help.show")
    async def refresh_help(turn: Turn) -> None:
        commands = router.commands_for(turn.role, turn.request.place.kind)
        turn.respond.answer_action(help_card(commands, turn.role, turn.request.place.kind))
