"""Shared set-up of the FAQ and queries tests: registered CoPs with leads, members, and outbox helpers."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from bot.core.clock import FakeClock
from bot.domain.cops import Cop, CopRepo, PersonRef
from bot.domain.members import MembershipRepo, Profile
from tests.kit.activities import BOT_ID, BOT_NAME, TENANT, Team, User, team, user
from tests.kit.connector import Call
from tests.kit.harness import BotUnderTest

LEAD = user(10, "Lee Lead")
LEAD_B = user(11, "Lou Lead")
OTHER_LEAD = user(12, "Ola Otherlead")
ASKER = user(1, "Alice Adams")
BOB = user(2, "Bob Brown")
STRANGER = user(3, "Sam Stranger")
TEAM = team(1, "Data & Insight")
TEAM_B = team(2, "Comms")

UNANSWERABLE = "is the printer on floor 3 broken?"
ANSWERABLE = "how do I join a CoP?"


def channel_reference(bot: BotUnderTest, where: Team, channel_id: str | None = None) -> dict[str, Any]:
    return {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {
            "id": channel_id or where.general,
            "isGroup": True,
            "conversationType": "channel",
            "tenantId": TENANT,
        },
        "channelId": "msteams",
        "serviceUrl": bot.acts.service_url,
    }


def ref(person: User) -> PersonRef:
    return PersonRef(person.aad, person.id, person.name)


async def make_cop(
    bot: BotUnderTest,
    where: Team = TEAM,
    *,
    leads: tuple[User, ...] = (LEAD, LEAD_B),
    members: tuple[User, ...] = (ASKER, BOB),
    lead_channel: bool = False,
    answer_target_hours: int = 48,
) -> Cop:
    """A registered CoP (as the install flow would leave it) with leads and members."""
    now = bot.services.clock.now()
    cop = Cop(
        cop_id=where.id,
        name=where.name,
        tenant_id=TENANT,
        service_url=bot.acts.service_url,
        aad_group_id=where.aad_group_id,
        status="launched",
        leads=tuple(ref(p) for p in leads),
        home_channel_id=where.general,
        home_reference=channel_reference(bot, where),
        answer_target_hours=answer_target_hours,
        created_at=now,
    )
    if lead_channel:
        cop = replace(cop, lead_channel_reference=channel_reference(bot, where, where.channels[0][0]))
    cop = await CopRepo(bot.services.store).create(cop)
    repo = MembershipRepo(bot.services.store)
    for person in (*members, *leads):
        await repo.join(where.id, Profile(person.aad, person.id, person.name), "wider", now)
    return cop


def clock(bot: BotUnderTest) -> FakeClock:
    value = bot.services.clock
    assert isinstance(value, FakeClock)
    return value


def advance(bot: BotUnderTest, **delta: float) -> None:
    clock(bot).advance(timedelta(**delta))


async def flush(bot: BotUnderTest) -> list[Call]:
    """Deliver everything the outbox holds; returns the messages the connector received meanwhile."""
    before = len(bot.connector.calls)
    await bot.services.outbox.flush(bot.services.clock.now())
    return [c for c in bot.connector.calls[before:] if c.method == "POST" and "/activities" in c.path]


def with_text(calls: list[Call], needle: str) -> list[Call]:
    return [c for c in calls if needle in c.everything]


def displayed(card: dict[str, Any] | None) -> str:
    """The text a person sees on a card (TextBlocks, facts, input values and labels), not button data."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if kind == "TextBlock":
                out.append(str(node.get("text", "")))
            elif kind == "FactSet":
                out.extend(f"{f.get('title')}: {f.get('value')}" for f in node.get("facts", []))
            elif isinstance(kind, str) and kind.startswith("Input."):
                out.append(str(node.get("label", "")))
            for key, value in node.items():
                if key != "data":
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(out)
