"""Stored-record helpers shared by feature test kits: references and role entries as the bot stores them."""

from __future__ import annotations

from typing import Any

from bot.domain.cops import PersonRef
from tests.kit.activities import BOT_ID, BOT_NAME, TENANT, Team, User


def channel_reference(where: Team | str, service_url: str) -> dict[str, Any]:
    """A serialised ConversationReference of a channel (a team's General channel, or a channel id), as the bot
    stores it at install time."""
    conversation_id = where.general if isinstance(where, Team) else where
    return {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {"id": conversation_id, "conversationType": "channel", "tenantId": TENANT, "isGroup": True},
        "channelId": "msteams",
        "serviceUrl": service_url,
    }


def ref(person: User) -> PersonRef:
    """The role entry (lead, sponsor) of a test user."""
    return PersonRef(person.aad, person.id, person.name)
