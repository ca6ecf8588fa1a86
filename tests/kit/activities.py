"""Builders for Teams-shaped activities, as Microsoft documents them for bots in Teams.

Every builder returns a plain dict: the JSON body Teams would POST to /api/messages.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

TENANT = "tenant-1"
BOT_ID = "28:copbot-app-id"
BOT_NAME = "CoP Bot"

_ids = itertools.count(1)


def next_id(prefix: str = "1:") -> str:
    return f"{prefix}{next(_ids):08d}"


@dataclass(frozen=True)
class User:
    id: str  # 29:…
    aad: str
    name: str

    def account(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "aadObjectId": self.aad}


@dataclass(frozen=True)
class Team:
    id: str  # 19:…@thread.tacv2 (also the General channel's id)
    aad_group_id: str
    name: str
    channels: tuple[tuple[str, str], ...] = field(default=())  # (channel id, name) besides General

    @property
    def general(self) -> str:
        return self.id


def user(n: int, name: str | None = None) -> User:
    return User(id=f"29:user-{n}", aad=f"aad-{n:04d}", name=name or f"User {n}")


def team(n: int, name: str | None = None) -> Team:
    return Team(
        id=f"19:team-{n}@thread.tacv2",
        aad_group_id=f"group-{n:04d}",
        name=name or f"CoP {n}",
        channels=((f"19:team-{n}-chan2@thread.tacv2", "Questions"),),
    )


@dataclass
class Activities:
    """Builds activities that all point at one fake connector (service_url)."""

    service_url: str
    tenant: str = TENANT
    bot_id: str = BOT_ID

    def _base(
        self, kind: str, sender: User, conversation: dict[str, Any], channel_data: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "type": kind,
            "id": next_id(),
            "timestamp": datetime.now(UTC).isoformat(),
            "localTimestamp": datetime.now(UTC).isoformat(),
            "serviceUrl": self.service_url,
            "channelId": "msteams",
            "from": sender.account(),
            "conversation": conversation,
            "recipient": {"id": self.bot_id, "name": BOT_NAME},
            "channelData": {"tenant": {"id": self.tenant}, **channel_data},
            "locale": "en-GB",
        }

    def personal_conversation(self, sender: User) -> dict[str, Any]:
        return {"conversationType": "personal", "tenantId": self.tenant, "id": f"a:personal-{sender.id}"}

    def channel_conversation(
        self, where: Team, channel_id: str | None = None, thread: str | None = None
    ) -> dict[str, Any]:
        cid = channel_id or where.general
        if thread:
            cid = f"{cid};messageid={thread}"
        return {"isGroup": True, "conversationType": "channel", "tenantId": self.tenant, "id": cid}

    def team_data(self, where: Team, channel_id: str | None = None) -> dict[str, Any]:
        cid = channel_id or where.general
        name = dict(where.channels).get(cid, "General")
        return {
            "teamsTeamId": where.id,
            "teamsChannelId": cid,
            "team": {"id": where.id, "name": where.name, "aadGroupId": where.aad_group_id},
            "channel": {"id": cid, "name": name},
        }

    # -- messages ---------------------------------------------------------------------------------------
    def personal(self, sender: User, text: str, *, value: dict[str, Any] | None = None) -> dict[str, Any]:
        activity = self._base("message", sender, self.personal_conversation(sender), {})
        activity["text"] = text
        activity["textFormat"] = "plain"
        if value is not None:
            activity["value"] = value
        return activity

    def channel(
        self,
        sender: User,
        where: Team,
        text: str,
        *,
        mention_bot: bool = True,
        mentions: tuple[User, ...] = (),
        channel_id: str | None = None,
        thread: str | None = None,
        value: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A channel post; with mention_bot the text starts with <at>CoP Bot</at> and a mention entity, as
        Teams sends it."""
        activity = self._base(
            "message", sender, self.channel_conversation(where, channel_id, thread), self.team_data(where, channel_id)
        )
        entities: list[dict[str, Any]] = []
        body = text
        for person in mentions:
            tag = f"<at>{person.name}</at>"
            body = body.replace(f"@{person.name}", tag) if f"@{person.name}" in body else f"{body} {tag}"
            entities.append({"type": "mention", "text": tag, "mentioned": {"id": person.id, "name": person.name}})
        if mention_bot:
            tag = f"<at>{BOT_NAME}</at>"
            body = f"{tag} {body}"
            entities.insert(0, {"type": "mention", "text": tag, "mentioned": {"id": self.bot_id, "name": BOT_NAME}})
        activity["text"] = body
        activity["textFormat"] = "plain"
        activity["entities"] = entities
        if thread:
            activity["replyToId"] = thread
        if value is not None:
            activity["value"] = value
        return activity

    def submit(
        self, sender: User, value: dict[str, Any], *, where: Team | None = None, reply_to: str = "act-card"
    ) -> dict[str, Any]:
        """Action.Submit from a card: a message with no text and the card data in value."""
        if where is None:
            activity = self._base("message", sender, self.personal_conversation(sender), {})
        else:
            activity = self._base("message", sender, self.channel_conversation(where), self.team_data(where))
        activity["value"] = value
        activity["replyToId"] = reply_to
        return activity

    def execute(
        self,
        sender: User,
        verb: str,
        data: dict[str, Any] | None = None,
        *,
        where: Team | None = None,
        reply_to: str = "act-card",
    ) -> dict[str, Any]:
        """Action.Execute: an adaptiveCard/action invoke (Universal Actions)."""
        if where is None:
            activity = self._base("invoke", sender, self.personal_conversation(sender), {})
        else:
            activity = self._base("invoke", sender, self.channel_conversation(where), self.team_data(where))
        activity["name"] = "adaptiveCard/action"
        activity["value"] = {
            "action": {"type": "Action.Execute", "verb": verb, "data": {"verb": verb, **(data or {})}},
            "trigger": "manual",
        }
        activity["replyToId"] = reply_to
        return activity

    def refresh(self, sender: User, card: dict[str, Any], *, where: Team | None = None) -> dict[str, Any]:
        """The invoke Teams sends when a card with a ``refresh`` clause is shown to someone it refreshes for
        (Universal Actions): the refresh action, with ``trigger: automatic``."""
        action = card["refresh"]["action"]
        activity = self.execute(sender, action["verb"], where=where)
        activity["value"]["action"]["data"] = dict(action["data"])
        activity["value"]["trigger"] = "automatic"
        return activity

    # -- message extension (compose box search) ---------------------------------------------------------
    def group_chat_conversation(self, chat_id: str = "19:group-chat-1@thread.v2") -> dict[str, Any]:
        return {"isGroup": True, "conversationType": "groupChat", "tenantId": self.tenant, "id": chat_id}

    def _compose(self, sender: User, name: str, value: dict[str, Any], where: Team | None) -> dict[str, Any]:
        if where is None:
            activity = self._base("invoke", sender, self.group_chat_conversation(), {})
        else:
            activity = self._base("invoke", sender, self.channel_conversation(where), self.team_data(where))
        activity["name"] = name
        activity["value"] = value
        activity["channelData"]["source"] = {"name": "compose"}
        return activity

    def compose_query(
        self,
        sender: User,
        command: str,
        text: str = "",
        *,
        where: Team | None = None,
        skip: int = 0,
        count: int = 25,
        initial_run: bool = False,
    ) -> dict[str, Any]:
        """composeExtension/query: a search typed in the message extension (in a group chat, or a team's channel
        with ``where``); ``initial_run`` as Teams sends it when the extension opens with nothing typed."""
        parameters = [{"name": "initialRun", "value": "true"}] if initial_run else [{"name": "query", "value": text}]
        value = {"commandId": command, "parameters": parameters, "queryOptions": {"skip": skip, "count": count}}
        return self._compose(sender, "composeExtension/query", value, where)

    def compose_select(self, sender: User, value: dict[str, Any], *, where: Team | None = None) -> dict[str, Any]:
        """composeExtension/selectItem: a result picked from the list; ``value`` is its preview's tap value."""
        return self._compose(sender, "composeExtension/selectItem", value, where)

    # -- conversation updates ---------------------------------------------------------------------------
    def installed_in_team(self, installer: User, where: Team) -> dict[str, Any]:
        activity = self._base("conversationUpdate", installer, self.channel_conversation(where), self.team_data(where))
        activity["membersAdded"] = [{"id": self.bot_id}]
        activity["channelData"]["eventType"] = "teamMemberAdded"
        activity.pop("text", None)
        return activity

    def uninstalled_from_team(self, remover: User, where: Team) -> dict[str, Any]:
        activity = self._base("conversationUpdate", remover, self.channel_conversation(where), self.team_data(where))
        activity["membersRemoved"] = [{"id": self.bot_id}]
        activity["channelData"]["eventType"] = "teamMemberRemoved"
        return activity

    def members_added(self, actor: User, where: Team, *people: User) -> dict[str, Any]:
        activity = self._base("conversationUpdate", actor, self.channel_conversation(where), self.team_data(where))
        activity["membersAdded"] = [{"id": p.id, "aadObjectId": p.aad} for p in people]
        activity["channelData"]["eventType"] = "teamMemberAdded"
        return activity

    def members_removed(self, actor: User, where: Team, *people: User) -> dict[str, Any]:
        activity = self._base("conversationUpdate", actor, self.channel_conversation(where), self.team_data(where))
        activity["membersRemoved"] = [{"id": p.id, "aadObjectId": p.aad} for p in people]
        activity["channelData"]["eventType"] = "teamMemberRemoved"
        return activity

    def personal_install(self, sender: User) -> dict[str, Any]:
        activity = self._base("conversationUpdate", sender, self.personal_conversation(sender), {})
        activity["membersAdded"] = [{"id": self.bot_id}]
        return activity
