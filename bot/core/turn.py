"""The project's own small types for one incoming activity and the ways to answer it.

Nothing here imports botbuilder: ``bot/teams.py`` converts SDK turns into these, so handlers stay
SDK-independent and a move to the Microsoft 365 Agents SDK touches one module.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

JSON = dict[str, Any]

PlaceKind = Literal["personal", "channel", "groupChat"]
RequestKind = Literal[
    "message",  # text, possibly with an Action.Submit value (then action is set)
    "action",  # adaptiveCard/action invoke (Action.Execute); must be answered with a card within 5 s
    "installed",  # the bot was added to a team / chat
    "uninstalled",  # the bot was removed
    "members_added",  # people (not the bot) joined the team / chat
    "members_removed",
    "search",  # composeExtension/query: a message extension search; answered with results within 5 s
    "search_pick",  # composeExtension/selectItem: a result picked from the list; answered with its card
    "other",
]


class Role(enum.IntEnum):
    """Who the caller is in the place they speak from; higher includes lower for command gating."""

    ANYONE = 0
    MEMBER = 1
    SPONSOR = 2
    LEAD = 3
    ADMIN = 4


@dataclass(frozen=True, slots=True)
class Person:
    """A Teams user. ``aad_id`` is the stable identity we key people by; ``user_id`` (29:…) is what the
    connector needs to mention or message them."""

    user_id: str
    aad_id: str
    name: str

    @property
    def key(self) -> str:
        return self.aad_id or self.user_id


@dataclass(frozen=True, slots=True)
class Place:
    """Where the activity came from."""

    kind: PlaceKind
    tenant_id: str
    conversation_id: str
    service_url: str
    team_id: str | None = None  # the team's thread id (19:…@thread.skype) when in a team
    channel_id: str | None = None
    team_aad_group_id: str | None = None
    team_name: str | None = None

    @property
    def is_personal(self) -> bool:
        return self.kind == "personal"


@dataclass(frozen=True, slots=True)
class CardAction:
    """A card button press: Action.Submit (message with value) or Action.Execute (invoke)."""

    verb: str
    data: Mapping[str, Any]
    via_invoke: bool


@dataclass(frozen=True, slots=True)
class FileOffer:
    """A file a person sent the bot in personal chat: Teams stores it in their OneDrive and hands the bot a
    short-lived, pre-authorised ``download_url`` (attachment ``application/vnd.microsoft.teams.file.download.info``)."""

    name: str
    download_url: str
    file_type: str = ""


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """One member of a team's roster as the Bot Connector lists it (email and UPN may be empty, e.g. guests)."""

    person: Person
    email: str = ""
    upn: str = ""


@dataclass(frozen=True, slots=True)
class Search:
    """A message extension search (``composeExtension/query``) or a picked result (``composeExtension/selectItem``).
    Everything here is what the person typed or what their client sent back: untrusted."""

    command: str  # the manifest's command id
    text: str = ""  # the search box
    skip: int = 0  # paging: results already shown
    count: int = 25  # paging: results wanted
    initial_run: bool = False  # opened with nothing typed yet
    picked: Mapping[str, Any] = field(default_factory=dict)  # selectItem: the picked preview's tap value


@dataclass(frozen=True, slots=True)
class SearchResult:
    """One result of a message extension search: the card inserted into the compose box when picked, the list
    entry's title and subtitle, and the value Teams sends back with ``composeExtension/selectItem``."""

    card: Card
    title: str
    subtitle: str = ""
    pick: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Request:
    """One incoming activity, in the project's terms."""

    kind: RequestKind
    activity_id: str
    person: Person
    place: Place
    received_at: datetime
    text: str = ""  # with the bot's @mention removed, stripped
    mentions: tuple[Person, ...] = ()  # people @mentioned, not the bot
    mentioned_bot: bool = False
    # a card's Action.Submit: a message carrying a value, always meant for the bot (``action`` is set when the value
    # names a verb; without one there is nothing to act on)
    submitted: bool = False
    action: CardAction | None = None
    reply_to_id: str | None = None  # the root message id when the activity is a thread reply
    message_id: str | None = None  # id of this message (for thread replies to it)
    reply_to_card_id: str | None = None  # for card actions: the id of the message holding the card
    members: tuple[Person, ...] = ()  # for members_added / members_removed
    conversation_reference: JSON = field(default_factory=dict)  # serialised, for proactive messages later
    raw_channel_data: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[FileOffer, ...] = ()  # files sent with a personal message
    search: Search | None = None  # for search and search_pick


@dataclass(frozen=True, slots=True)
class Card:
    """An Adaptive Card payload plus the plain text shown in notifications."""

    content: JSON
    summary: str = ""


Reply = str | Card

# What a stored conversation reference may keep: where to post and as whom, never the person whose activity
# created it (DESIGN: privacy; a reference outlives the turn in CoP rows, events and the outbox).
REFERENCE_FIELDS = ("bot", "conversation", "channelId", "serviceUrl", "locale")
_CONVERSATION_FIELDS = ("id", "conversationType", "tenantId", "isGroup", "name")


def reference_without_person(reference: Mapping[str, Any]) -> JSON:
    """``reference`` with only the conversation, service URL, bot, channel and tenant: no ``user``, no
    ``activityId``, no stray fields. Used when a reference is made and when an old stored one is read."""
    out: JSON = {}
    for name in REFERENCE_FIELDS:
        value = reference.get(name)
        if value in (None, "", {}):
            continue
        if name == "conversation" and isinstance(value, Mapping):
            conversation = {k: value[k] for k in _CONVERSATION_FIELDS if value.get(k) not in (None, "")}
            tenant = value.get("tenantID")  # an older spelling some SDK versions wrote
            if "tenantId" not in conversation and isinstance(tenant, str) and tenant:
                conversation["tenantId"] = tenant
            out[name] = conversation
        elif name == "bot" and isinstance(value, Mapping):
            out[name] = {k: value[k] for k in ("id", "name") if value.get(k)}
        else:
            out[name] = value
    return out


class Responder(Protocol):
    """How a handler answers. Implemented by the SDK seam (and by fakes in unit tests)."""

    async def reply(self, message: Reply, *, mention: Person | None = None) -> str | None:
        """Send into the conversation the activity came from (in the same thread); returns the new id."""

    async def update(self, activity_id: str, message: Reply) -> None:
        """Replace a message the bot sent earlier in this conversation."""

    async def delete(self, activity_id: str) -> None:
        """Delete a message the bot sent earlier in this conversation."""

    def answer_action(self, card: Card | None = None, *, message: str | None = None) -> None:
        """For an Action.Execute invoke: the card that replaces the clicked one (or a short message)."""

    def answer_search(self, results: Sequence[SearchResult], *, message: str | None = None) -> None:
        """For a message extension invoke: the results (best first), or a short message instead of results."""

    async def team_members(self) -> list[Person]:
        """The roster of the team (or chat) the activity came from."""

    async def team_details(self) -> tuple[str, str] | None:
        """(aad group id, name) of the team, or None outside teams."""


class Proactive(Protocol):
    """Messages the bot starts itself (implemented by the SDK seam; used by the outbox)."""

    async def send(self, reference: Mapping[str, Any], message: Reply, *, mention: Person | None = None) -> str:
        """Post into the referenced conversation; returns the new activity id. Raises DeliveryError."""

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Reply) -> None:
        """Replace an earlier bot message in the referenced conversation."""

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Person) -> JSON:
        """Open the 1:1 chat with ``person`` (using any reference of the same tenant); returns its reference."""


@runtime_checkable
class AppTokens(Protocol):
    """The bot's own tokens for other resources, e.g. Microsoft Graph (implemented by the SDK seams)."""

    async def app_token(self, scope: str) -> str:
        """An access token for ``scope``; raises IdentityUnavailable when there is none."""


@runtime_checkable
class Rosters(Protocol):
    """Reading a team's roster outside a turn (implemented by the SDK seams)."""

    async def team_roster(self, reference: Mapping[str, Any], team_id: str) -> list[RosterEntry]:
        """Every member of team ``team_id`` (all pages), through the service of ``reference``. Raises
        DeliveryError."""
