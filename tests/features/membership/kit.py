"""Shared steps for the membership tests: install a team, join through the real cards, read what is stored."""

from __future__ import annotations

from typing import Any

from bot.domain.cops import Cop, CopRepo
from bot.domain.members import MembershipRepo, PersonState
from tests.kit.activities import Team, User
from tests.kit.connector import Member
from tests.kit.harness import BotUnderTest, Posted

PROFILE = {
    "org_area": "central",
    "org_unit": "Planning",
    "job_family": "Professional services",
    "interests": "data visualisation, Power BI",
}


def member(person: User) -> Member:
    return Member(person.id, person.aad, person.name)


async def install(bot: BotUnderTest, installer: User, team: Team, *roster: User) -> Posted:
    """Add the bot to ``team`` as ``installer``; the connector knows the team's details and roster."""
    bot.connector.teams[team.id] = {"id": team.id, "name": team.name, "aadGroupId": team.aad_group_id}
    bot.connector.rosters[team.id] = [member(p) for p in (installer, *roster)]
    posted = await bot.post(bot.acts.installed_in_team(installer, team))
    assert posted.status == 200
    return posted


async def join(
    bot: BotUnderTest, person: User, team: Team, tier: str = "wider", inputs: dict[str, Any] | None = None
) -> Posted:
    """``@CoP Bot join`` in the team's channel, then press the tier's button with a profile."""
    shown = await bot.say_in(person, team, "join")
    return await bot.press(person, shown.card, f"Join as {tier}", {**PROFILE, **(inputs or {})}, where=team)


async def cop(bot: BotUnderTest, team: Team) -> Cop:
    found = await CopRepo(bot.services.store).get(team.id)
    assert found is not None
    return found


async def state(bot: BotUnderTest, person: User) -> PersonState:
    return await MembershipRepo(bot.services.store).person(person.aad)


def answer(posted: Posted) -> str:
    """The text of an invoke answer: the message, or every string of the card that replaced the clicked one."""
    body = posted.body
    if isinstance(body, dict) and isinstance(body.get("value"), str):
        return str(body["value"])
    card = posted.card
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(out)
