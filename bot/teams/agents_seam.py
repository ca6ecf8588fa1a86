"""The Teams seam on the Microsoft 365 Agents SDK (the default; ``COPBOT_SDK=agents``).

Incoming: the activity's JSON is parsed into the SDK's ``Activity``, its bearer token checked by the SDK's
``JwtTokenValidator`` (issuer allow-list on, signing keys from :class:`~bot.teams.identity.OpenIdKeys`: fetched
asynchronously with a timeout, cached, and only keys endorsed for Teams) and then by :mod:`bot.teams.claims`.
The turn runs on the SDK's ``TurnContext``, so replies, updates and deletes go through the SDK's connector
client (aiohttp).

Lower-level than the samples on purpose: ``CloudAdapter.process`` makes two aiohttp sessions per turn (the
connector and the user-token clients, neither used twice) and answers every failure with 500. Here one
connector session per service URL is kept (connections reused, each call bounded by
``COPBOT_CONNECTOR_TIMEOUT``), the user-token client is never made (the bot uses no user sign-in), and failures
become :class:`~bot.teams.errors.DeliveryError` for the outbox and the error boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from microsoft_agents.activity import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ChannelId,
    ConversationAccount,
    ConversationParameters,
    Mention,
)
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.authorization import (
    ClaimsIdentity,
)
from microsoft_agents.hosting.core.connector import ConnectorClientBase

from bot.core.config import Settings
from bot.core.turn import JSON, Card, Person, Reply, RosterEntry, SearchResult
from bot.teams.activity import ADAPTIVE_CARD, invoke_response, person_of, search_response, to_request
from bot.teams.agents_auth import CONNECTOR_SCOPE, TeamsTokenValidator, auth_configuration
from bot.teams.agents_connectors import ConnectorAdapter, Connectors, delivery_errors
from bot.teams.claims import bearer_token, check_channel_claims
from bot.teams.errors import AuthError, DeliveryError
from bot.teams.gateway import OnRequest, TokenSource
from bot.teams.identity import IdentityUnavailable, OpenIdKeys, OutgoingToken

log = logging.getLogger(__name__)

# The SDK's Activity model logs every activity it refuses at ERROR, with a traceback, before raising. An incoming
# activity it refuses is answered 400 here (and logged as one INFO line by the app), before authentication: so
# anyone could fill the log with tracebacks. Those records are dropped while an incoming activity is parsed; the
# SDK's own activities (replies) still log theirs.
_parsing_incoming: contextvars.ContextVar[bool] = contextvars.ContextVar("parsing_incoming", default=False)


class _IncomingRefusals(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _parsing_incoming.get()

    @classmethod
    def install(cls) -> None:
        """Once per process, when a gateway is made (not on import)."""
        sdk_log = logging.getLogger("microsoft_agents.activity.activity")
        if not any(isinstance(f, cls) for f in sdk_log.filters):
            sdk_log.addFilter(cls())


class _ConnectorErrorLog(logging.Filter):
    """The SDK's connector client logs every non-2xx answer at ERROR ("Error accessing ...: 403"), before the seam
    turns it into a DeliveryError that its caller logs once with context (the outbox: a gone target, a retry).
    Those lines are kept at DEBUG, so a bot removed from a team is not an error in the log twice."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and record.msg in ("Error accessing '%s': %s", "Bad request for '%s': %s"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True

    @classmethod
    def install(cls) -> None:
        client_log = logging.getLogger("microsoft_agents.hosting.core.connector.client.connector_client")
        if not any(isinstance(f, cls) for f in client_log.filters):
            client_log.addFilter(cls())


CHANNEL_METADATA_URL = "https://login.botframework.com/v1/.well-known/openidconfiguration"
CONNECTOR_RESOURCE = "https://api.botframework.com"


def _message(reply: Reply) -> Activity:
    if isinstance(reply, Card):
        activity = Activity(
            type=ActivityTypes.message, attachments=[Attachment(content_type=ADAPTIVE_CARD, content=reply.content)]
        )
        if reply.summary:
            activity.summary = reply.summary
        return activity
    return Activity(type=ActivityTypes.message, text=reply)


def _with_mention(activity: Activity, mention: Person | None) -> Activity:
    if mention is not None:
        tag = f"<at>{mention.name}</at>"
        activity.text = f"{tag} {activity.text or ''}".strip()
        activity.entities = [Mention(mentioned=ChannelAccount(id=mention.user_id, name=mention.name), text=tag)]
    return activity


def _reference_parts(reference: Mapping[str, Any]) -> tuple[str, ConversationAccount, ChannelAccount | None, str]:
    """(service URL, conversation, bot, channel id) of a stored reference; tenantId or tenantID."""
    service_url = reference.get("serviceUrl")
    conversation = reference.get("conversation")
    if not isinstance(service_url, str) or not service_url or not isinstance(conversation, dict):
        raise DeliveryError(400, None, "the stored conversation reference has no service URL or conversation")
    tenant = conversation.get("tenantId") or conversation.get("tenantID")
    account = ConversationAccount(
        id=str(conversation.get("id") or ""),
        conversation_type=conversation.get("conversationType"),
        tenant_id=str(tenant) if tenant else None,
    )
    bot = reference.get("bot")
    agent = None
    if isinstance(bot, dict) and bot.get("id"):
        agent = ChannelAccount(id=str(bot["id"]), name=str(bot.get("name") or ""))
    return service_url, account, agent, str(reference.get("channelId") or "msteams")


def _address(
    activity: Activity, service_url: str, conversation: ConversationAccount, bot: ChannelAccount | None, channel: str
) -> None:
    activity.conversation = conversation
    if bot is not None:
        activity.from_property = bot
    activity.channel_id = ChannelId(channel)
    activity.service_url = service_url


class AgentsResponder:
    """Responder over one SDK TurnContext."""

    def __init__(self, context: TurnContext, connectors: Connectors, activity: Mapping[str, Any]) -> None:
        self._context = context
        self._connectors = connectors
        self._activity = activity
        self._reference = context.activity.get_conversation_reference()
        self._unreachable = False  # after a timeout, later replies of this turn fail at once
        self.invoke_body: JSON | None = None

    @contextlib.asynccontextmanager
    async def _calling(self, what: str) -> AsyncIterator[None]:
        if self._unreachable:
            raise DeliveryError(0, None, "the connector of this conversation did not answer earlier in this turn")
        try:
            async with delivery_errors(what):
                yield
        except DeliveryError as error:
            if error.status == 0:
                self._unreachable = True
            raise

    async def reply(self, message: Reply, *, mention: Person | None = None) -> str | None:
        """A reply in this conversation (and thread), through the adapter as ``TurnContext.send_activity`` does,
        without its deep copy of an activity made here for this one send."""
        activity = _with_mention(_message(message), mention)
        activity.apply_conversation_reference(self._reference)
        activity.input_hint = "acceptingInput"
        async with self._calling("reply"):
            [sent] = await self._context.adapter.send_activities(self._context, [activity])
        self._context.responded = True
        return sent.id if sent is not None and sent.id else None

    async def update(self, activity_id: str, message: Reply) -> None:
        activity = _message(message)
        activity.id = activity_id  # the SDK addresses it to this conversation
        async with self._calling("update"):
            await self._context.update_activity(activity)

    async def delete(self, activity_id: str) -> None:
        async with self._calling("delete"):
            await self._context.delete_activity(activity_id)

    def answer_action(self, card: Card | None = None, *, message: str | None = None) -> None:
        self.invoke_body = invoke_response(card, message)

    def answer_search(self, results: Sequence[SearchResult], *, message: str | None = None) -> None:
        self.invoke_body = search_response(results, message)

    def _team_id(self) -> str:
        channel_data = self._activity.get("channelData")
        team = channel_data.get("team") if isinstance(channel_data, dict) else None
        return str(team.get("id") or "") if isinstance(team, dict) else ""

    async def team_members(self) -> list[Person]:
        """The team's roster (or the chat's), all pages."""
        conversation = self._team_id() or self._context.activity.conversation.id
        client = await self._connectors.client(self._context.activity.service_url)
        people: list[Person] = []
        token: str | None = None
        while True:
            async with self._calling("roster"):
                page = await client.conversations.get_conversation_paged_members(conversation, 500, token)
            for member in page.members or []:
                people.append(Person(member.id or "", member.aad_object_id or "", member.name or ""))
            token = page.continuation_token
            if not token:
                return people

    async def team_details(self) -> tuple[str, str] | None:
        team_id = self._team_id()
        if not team_id:
            return None
        client = await self._connectors.client(self._context.activity.service_url)
        async with self._calling("team details"):
            details = await client.fetch_team_details(team_id)
        fallback = self._activity.get("channelData", {}).get("team", {}).get("name") or ""
        return (details.aad_group_id or "", details.name or str(fallback))


def _without_empty_strings(value: Any) -> Any:
    """The SDK's model refuses ``""`` where Teams sometimes sends it (a guest's ``aadObjectId``): leave such
    fields out of the model (the project's Request is made from the JSON as received)."""
    if isinstance(value, dict):
        return {k: _without_empty_strings(v) for k, v in value.items() if v != ""}
    if isinstance(value, list):
        return [_without_empty_strings(v) for v in value]
    return value


@dataclass(frozen=True)
class AgentsAuthenticated:
    """An activity whose request passed authentication."""

    payload: Mapping[str, Any]
    activity: Activity
    claims: ClaimsIdentity


ROSTER_MAX_PAGES = 200  # 100,000 members: a roster that never ends is a fault, not a team


class AgentsGateway:
    """Everything the app needs from Teams, on the Microsoft 365 Agents SDK."""

    def __init__(
        self, settings: Settings, now: Callable[[], datetime], *, token_source: TokenSource | None = None
    ) -> None:
        """``token_source`` replaces MSAL for the bot's own token (tests pass a stub)."""
        self._settings = settings
        self._now = now
        self._config = auth_configuration(settings)
        self._token_source = token_source
        self._app_tokens: dict[str, OutgoingToken] = {}  # other resources' tokens of the bot (Microsoft Graph)
        token: OutgoingToken | None = None
        if settings.authenticated:
            token = self._outgoing(CONNECTOR_RESOURCE, CONNECTOR_SCOPE)
            keys = OpenIdKeys(settings.openid_metadata_url or CHANNEL_METADATA_URL, settings.identity_timeout)
            self._validator: TeamsTokenValidator | None = TeamsTokenValidator(self._config, keys)
        else:
            self._validator = None
        self._connectors = Connectors(token, settings.connector_timeout)
        self._adapter = ConnectorAdapter(self._connectors)
        _IncomingRefusals.install()
        _ConnectorErrorLog.install()

    def _outgoing(self, resource: str, scope: str) -> OutgoingToken:
        if self._token_source is not None:
            source = self._token_source
            return OutgoingToken.threaded(lambda: source(scope), self._settings.identity_timeout)
        return OutgoingToken(self._msal_token(resource, scope), self._settings.identity_timeout)

    async def app_token(self, scope: str) -> str:
        """The bot's own token for another resource (``https://graph.microsoft.com/.default``), from the same
        identity as its Bot Connector token; cached and renewed like it."""
        if not self._settings.authenticated:
            raise IdentityUnavailable("the bot has no app identity (unauthenticated local mode)")
        token = self._app_tokens.get(scope)
        if token is None:
            token = self._app_tokens[scope] = self._outgoing(scope.removesuffix("/.default"), scope)
        return await token.ensure()

    def _msal_token(self, resource: str, scope: str) -> Callable[[], Any]:
        from microsoft_agents.authentication.msal import MsalAuth

        msal = MsalAuth(self._config)

        async def in_own_loop() -> str:
            return str(await msal.get_access_token(resource, [scope]) or "")

        async def fetch() -> str:
            # MsalAuth makes its MSAL client on first use, on the calling loop, and MSAL discovers the authority
            # over blocking HTTP while doing so: run the whole fetch on a worker thread with a loop of its own, so
            # an unreachable identity platform never freezes this loop (OutgoingToken bounds the wait)
            token = await asyncio.to_thread(asyncio.run, in_own_loop())
            if not token:
                raise PermissionError(f"the identity platform gave no token for {resource}")
            return token

        return fetch

    # -- incoming -----------------------------------------------------------------------------------
    async def authenticate(self, body: Mapping[str, Any], auth_header: str) -> AgentsAuthenticated:
        parsing = _parsing_incoming.set(True)
        try:
            activity = Activity.model_validate(_without_empty_strings(body))
        except ValueError as error:  # pydantic's ValidationError is a ValueError
            raise ValueError(f"the activity does not parse: {str(error)[:120]}") from None
        finally:
            _parsing_incoming.reset(parsing)
        if not activity.type:
            raise ValueError("activity has no type")
        if self._validator is None:  # local unauthenticated mode: a stray header triggers no key fetch
            return AgentsAuthenticated(body, activity, ClaimsIdentity())
        token = bearer_token(auth_header)
        try:
            claims = await self._validator.validate_token(token)
        except IdentityUnavailable:
            raise
        except Exception as error:  # PyJWT errors, ValueError (audience, issuer), PermissionError (key)
            raise AuthError(f"{type(error).__name__}: {str(error)[:120]}") from None
        check_channel_claims(claims.claims, self._settings.app_id, activity.service_url or "")
        return AgentsAuthenticated(body, activity, claims)

    async def run(self, authenticated: AgentsAuthenticated, on_request: OnRequest) -> tuple[int, JSON | None]:
        activity = authenticated.activity
        request = to_request(authenticated.payload, self._now())
        context = TurnContext(self._adapter, activity, authenticated.claims)
        responder = AgentsResponder(context, self._connectors, authenticated.payload)
        if activity.service_url:
            try:
                client = await self._connectors.client(activity.service_url)
            except DeliveryError as error:  # no token for the replies: let Teams retry the activity (503)
                raise IdentityUnavailable(str(error)) from None
            context.services.set(ConnectorClientBase, client)  # type: ignore[type-abstract]  # the SDK's own key

        async def logic(_: TurnContext) -> None:
            await on_request(request, responder)

        await self._adapter.run_pipeline(context, logic)
        if activity.type == ActivityTypes.invoke:
            if responder.invoke_body is not None:
                return 200, responder.invoke_body
            return 200, invoke_response()
        return 201 if activity.type == ActivityTypes.message else 200, None

    # -- proactive ----------------------------------------------------------------------------------
    async def send(self, reference: Mapping[str, Any], message: Reply, *, mention: Person | None = None) -> str:
        """Post into the conversation of ``reference``; returns the new activity id."""
        service_url, conversation, bot, channel = _reference_parts(reference)
        activity = _with_mention(_message(message), mention)
        _address(activity, service_url, conversation, bot, channel)
        client = await self._connectors.client(service_url)
        async with delivery_errors("send"):
            result = await client.conversations.send_to_conversation(conversation.id, activity)
        return str(result.id or "")

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Reply) -> None:
        service_url, conversation, bot, channel = _reference_parts(reference)
        activity = _message(message)
        activity.id = activity_id
        _address(activity, service_url, conversation, bot, channel)
        client = await self._connectors.client(service_url)
        async with delivery_errors("update"):
            await client.conversations.update_activity(conversation.id, activity_id, activity)

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Person) -> JSON:
        """Create (or find) the 1:1 chat with ``person`` and return its conversation reference."""
        service_url, conversation, bot, channel = _reference_parts(reference)
        tenant_id = conversation.tenant_id
        params = ConversationParameters.model_validate(
            {
                "isGroup": False,
                "bot": bot.model_dump(by_alias=True, exclude_none=True) if bot is not None else None,
                "members": [{"id": person.user_id, "name": person.name}],
                **({"tenantId": tenant_id, "channelData": {"tenant": {"id": tenant_id}}} if tenant_id else {}),
            }
        )
        client = await self._connectors.client(service_url)
        async with delivery_errors("create conversation"):
            created = await client.conversations.create_conversation(params)
        personal: JSON = {
            "conversation": {"id": created.id, "conversationType": "personal"},
            "channelId": channel,
            "serviceUrl": service_url,
        }
        if tenant_id:
            personal["conversation"]["tenantId"] = tenant_id
        if bot is not None:
            personal["bot"] = {k: v for k, v in (("id", bot.id), ("name", bot.name)) if v}
        return personal

    async def team_roster(self, reference: Mapping[str, Any], team_id: str) -> list[RosterEntry]:
        """Every member of the team (pages of 500), with email and UPN where Teams gives them."""
        service_url, _, _, _ = _reference_parts(reference)
        client = await self._connectors.client(service_url)
        entries: list[RosterEntry] = []
        token: str | None = None
        for _ in range(ROSTER_MAX_PAGES):
            async with delivery_errors("roster"):
                page = await client.conversations.get_conversation_paged_members(team_id, 500, token)
            for member in page.members or []:
                extra = member.model_extra or {}
                person = Person(member.id or "", member.aad_object_id or "", member.name or "")
                entries.append(
                    RosterEntry(person, str(extra.get("email") or ""), str(extra.get("userPrincipalName") or ""))
                )
            token = page.continuation_token
            if not token:
                break
        return entries

    async def close(self) -> None:
        await self._connectors.close()


__all__ = ["AgentsAuthenticated", "AgentsGateway", "AgentsResponder", "auth_configuration", "person_of"]
