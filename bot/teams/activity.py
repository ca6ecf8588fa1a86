"""An incoming activity, as the JSON Teams posts, turned into the project's :class:`~bot.core.turn.Request`.

SDK-free on purpose: both seams convert the same JSON the same way, so features never see which SDK ran.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from bot.core.turn import (
    JSON,
    Card,
    CardAction,
    FileOffer,
    Person,
    Place,
    PlaceKind,
    Request,
    RequestKind,
    Search,
    SearchResult,
    reference_without_person,
)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
THUMBNAIL_CARD = "application/vnd.microsoft.card.thumbnail"
SEARCH_INVOKES: dict[str, RequestKind] = {
    "composeExtension/query": "search",
    "composeExtension/selectItem": "search_pick",
}
SEARCH_PAGE_MAX = 25  # Teams asks for 25 results a page; a larger count is not honoured
FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
MAX_FILES = 5

_AT_TAG = re.compile(r"<at[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _sub(parent: Mapping[str, Any], name: str) -> dict[str, Any]:
    child = parent.get(name)
    return child if isinstance(child, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def person_of(account: Mapping[str, Any]) -> Person:
    return Person(
        user_id=_str(account.get("id")), aad_id=_str(account.get("aadObjectId")), name=_str(account.get("name"))
    )


def tenant_of(activity: Mapping[str, Any]) -> str:
    """The Teams tenant: ``channelData.tenant.id``, else ``conversation.tenantId``."""
    tenant = _sub(_sub(activity, "channelData"), "tenant").get("id")
    if isinstance(tenant, str) and tenant:
        return tenant
    return _str(_sub(activity, "conversation").get("tenantId"))


def reference_of(activity: Mapping[str, Any]) -> JSON:
    """The conversation reference to store for later sends: the conversation (with its tenant), the service
    URL, the bot and the channel; never the person who spoke."""
    conversation = dict(_sub(activity, "conversation"))
    tenant = tenant_of(activity)
    if tenant:
        conversation["tenantId"] = tenant
    return reference_without_person(
        {
            "bot": _sub(activity, "recipient"),
            "conversation": conversation,
            "channelId": activity.get("channelId"),
            "serviceUrl": activity.get("serviceUrl"),
            "locale": activity.get("locale"),
        }
    )


def invoke_response(card: Card | None = None, message: str | None = None) -> JSON:
    """The body of an Action.Execute invoke's HTTP 200: the card that replaces the clicked one, or a message."""
    if card is not None:
        return {"statusCode": 200, "type": ADAPTIVE_CARD, "value": card.content}
    return {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": message or "Done."}


def search_response(results: Sequence[SearchResult], message: str | None = None) -> JSON:
    """The body of a ``composeExtension/query`` or ``/selectItem`` invoke's HTTP 200: a list of results, each an
    Adaptive Card with a thumbnail preview whose tap sends ``selectItem``; or a message shown instead."""
    if message is not None:
        return {"composeExtension": {"type": "message", "text": message}}
    attachments: list[JSON] = []
    for result in results:
        preview: JSON = {"title": result.title}
        if result.subtitle:
            preview["text"] = result.subtitle
        if result.pick:
            preview["tap"] = {"type": "invoke", "value": dict(result.pick)}
        attachments.append(
            {
                "contentType": ADAPTIVE_CARD,
                "content": result.card.content,
                "preview": {"contentType": THUMBNAIL_CARD, "content": preview},
            }
        )
    return {"composeExtension": {"type": "result", "attachmentLayout": "list", "attachments": attachments}}


def _count(value: Any, default: int, high: int) -> int:
    return max(0, min(value, high)) if isinstance(value, int) and not isinstance(value, bool) else default


def search_of(name: str, value: Any) -> Search:
    """The search of a ``composeExtension/query`` (command, parameters, paging) or ``/selectItem`` (the tap value
    of the picked preview) invoke."""
    data = value if isinstance(value, dict) else {}
    if name == "composeExtension/selectItem":
        return Search(command="", picked=data)
    text, initial = "", False
    for parameter in data.get("parameters") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("name") == "initialRun":
            initial = str(parameter.get("value")).lower() == "true"
        elif isinstance(parameter.get("value"), str) and not text:
            text = parameter["value"]
    options = _sub(data, "queryOptions")
    return Search(
        command=_str(data.get("commandId"))[:64],
        text=text,
        skip=_count(options.get("skip"), 0, 10_000),
        count=_count(options.get("count"), SEARCH_PAGE_MAX, SEARCH_PAGE_MAX) or SEARCH_PAGE_MAX,
        initial_run=initial,
    )


def _clean_text(text: str) -> str:
    text = _TAG.sub(" ", _AT_TAG.sub(" ", text)).replace("&nbsp;", " ")
    # collapse runs of spaces but keep line breaks: pasted CSV and multi-line questions stay intact
    return "\n".join(" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")).strip()


def files_of(activity: Mapping[str, Any]) -> tuple[FileOffer, ...]:
    """The files a personal message carries: attachments of type file.download.info with a downloadUrl."""
    found: list[FileOffer] = []
    for attachment in activity.get("attachments") or []:
        if not isinstance(attachment, dict) or attachment.get("contentType") != FILE_DOWNLOAD_INFO:
            continue
        content = _sub(attachment, "content")
        url = _str(content.get("downloadUrl"))
        if url:
            found.append(FileOffer(_str(attachment.get("name"))[:200], url[:4000], _str(content.get("fileType"))[:20]))
    return tuple(found[:MAX_FILES])


def to_request(activity: Mapping[str, Any], received_at: datetime) -> Request:
    """Convert an activity's JSON into a Request. Raises ValueError on activities we cannot use."""
    sender = _sub(activity, "from")
    if not _str(sender.get("id")):
        raise ValueError("activity has no 'from'")
    conversation = _sub(activity, "conversation")
    conversation_id = _str(conversation.get("id"))
    if not conversation_id:
        raise ValueError("activity has no 'conversation'")
    channel_data = _sub(activity, "channelData")
    team = _sub(channel_data, "team")
    channel = _sub(channel_data, "channel")
    conv_type = _str(conversation.get("conversationType")).strip() or "personal"
    kind_of_place: PlaceKind = conv_type if conv_type in ("personal", "channel", "groupChat") else "personal"  # type: ignore[assignment]
    place = Place(
        kind=kind_of_place,
        tenant_id=tenant_of(activity),
        conversation_id=conversation_id,
        service_url=_str(activity.get("serviceUrl")),
        team_id=_str(team.get("id")) or None,
        channel_id=_str(channel.get("id")) or None,
        team_aad_group_id=_str(team.get("aadGroupId")) or None,
        team_name=_str(team.get("name")) or None,
    )
    bot_id = _str(_sub(activity, "recipient").get("id"))
    text = _str(activity.get("text"))
    mentioned_bot = False
    mentions: list[Person] = []
    for entity in activity.get("entities") or []:
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned")
        if not isinstance(mentioned, dict):
            continue
        tag = entity.get("text")
        if mentioned.get("id") == bot_id:
            mentioned_bot = True
        elif _str(mentioned.get("id")):
            mentions.append(person_of(mentioned))
        else:
            continue
        if isinstance(tag, str) and tag:
            text = text.replace(tag, " ")
    text = _clean_text(text)

    kind: RequestKind = "other"
    action: CardAction | None = None
    search: Search | None = None
    members: tuple[Person, ...] = ()
    activity_type = activity.get("type")
    value = activity.get("value")
    if activity_type == "message":
        kind = "message"
        if isinstance(value, dict) and isinstance(value.get("verb"), str):
            action = CardAction(verb=value["verb"], data=value, via_invoke=False)
    elif activity_type == "invoke" and activity.get("name") == "adaptiveCard/action":
        kind = "action"
        inner = _sub(value, "action") if isinstance(value, dict) else {}
        verb = inner.get("verb")
        if not isinstance(verb, str) or not verb:
            raise ValueError("adaptiveCard/action without a verb")
        action = CardAction(verb=verb, data=_sub(inner, "data"), via_invoke=True)
    elif activity_type == "invoke" and activity.get("name") in SEARCH_INVOKES:
        name = str(activity.get("name"))
        kind, search = SEARCH_INVOKES[name], search_of(name, value)
    elif activity_type == "conversationUpdate":
        added = [person_of(m) for m in activity.get("membersAdded") or [] if isinstance(m, dict)]
        removed = [person_of(m) for m in activity.get("membersRemoved") or [] if isinstance(m, dict)]
        if any(p.user_id == bot_id for p in added):
            kind = "installed"
        elif any(p.user_id == bot_id for p in removed):
            kind = "uninstalled"
        elif added:
            kind, members = "members_added", tuple(added)
        elif removed:
            kind, members = "members_removed", tuple(removed)
    activity_id = _str(activity.get("id"))
    reply_to = _str(activity.get("replyToId")) or None
    root = conversation_id.split(";messageid=", 1)[1] if ";messageid=" in conversation_id else None
    return Request(
        kind=kind,
        activity_id=activity_id,
        person=person_of(sender),
        place=place,
        received_at=received_at,
        text=text,
        mentions=tuple(mentions),
        mentioned_bot=mentioned_bot,
        submitted=activity_type == "message" and isinstance(value, dict),
        action=action,
        reply_to_id=reply_to or root,
        message_id=activity_id or None,
        reply_to_card_id=reply_to if action is not None else None,
        members=members,
        conversation_reference=reference_of(activity),
        raw_channel_data=channel_data,
        files=files_of(activity) if activity_type == "message" and kind_of_place == "personal" else (),
        search=search,
    )
