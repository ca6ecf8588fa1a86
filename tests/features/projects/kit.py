"""Set-up for the project and resource tests: one CoP with a lead, core and wider members, and an outsider."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from tests.features.health.kit import NOW, Cast, join, make_cop
from tests.kit.activities import User, team
from tests.kit.connector import Call
from tests.kit.harness import BotUnderTest, find_action

C = Cast()
LEAD = C.leads[0]
CORE = Cast.member(1)
WIDER = Cast.member(2)
CORE2 = Cast.member(3)
OUTSIDER = C.outsider
TEAM = team(1, "Data and Insight")
OTHER = team(2, "Finance")


async def setup(bot: BotUnderTest) -> None:
    store = bot.services.store
    await make_cop(store, bot.connector.url, TEAM, NOW, leads=[LEAD], sponsor=C.sponsor)
    await make_cop(store, bot.connector.url, OTHER, NOW, leads=[C.leads[1]])
    await join(store, TEAM, {CORE: ("core", "central"), WIDER: ("wider", "faculty"), CORE2: ("core", "vpo")}, NOW)


def to(bot: BotUnderTest, person: User) -> list[Call]:
    """Messages delivered into ``person``'s 1:1 chat."""
    return [
        call
        for call in bot.connector.calls
        if call.method == "POST"
        and "/activities" in call.path
        and call.conversation_id in bot.connector.personal_chats
        and bot.connector.recipient(call) == person.id
    ]


def buttons(card: dict[str, Any] | None) -> set[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type", "").startswith("Action.") and node.get("title"):
                found.add(str(node["title"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


def has_button(card: dict[str, Any] | None, title: str) -> bool:
    try:
        find_action(card or {}, title)
    except AssertionError:
        return False
    return True


async def my_data(bot: BotUnderTest, person: User) -> dict[str, Any]:
    posted = await bot.say(person, "my data")
    card = posted.card or {}
    url = next(a["url"] for a in card.get("actions", []) if a.get("type") == "Action.OpenUrl")
    status, body, _ = await bot.get(urlsplit(url).path)
    assert status == 200
    data: dict[str, Any] = json.loads(body)
    return data


async def forget(bot: BotUnderTest, person: User) -> None:
    confirm = await bot.say(person, "forget me")
    done = await bot.press(person, confirm.card, "Erase my data")
    assert "Your data has been erased" in str(done.body)
