"""The Teams seam on the archived Bot Framework SDK (``COPBOT_SDK=botbuilder``; ``pip install -e '.[botbuilder]'``).

Kept as an alternative behind the same seam as :mod:`bot.teams.agents_seam` (the default). It authenticates
activities with the Bot Framework SDK and then :mod:`bot.teams.claims`, converts them like the default seam
(:mod:`bot.teams.activity`), serialises invoke responses itself (the SDK's own path double-serialises them and
returns 500), and sends proactive messages through a connector client whose own retries are off, so the outbox
owns retries. Known limit, inherent to this SDK: its connector calls run blocking ``requests`` in the event loop's
default thread pool, so a hung service URL can delay other turns' replies; proactive clients here get
``COPBOT_CONNECTOR_TIMEOUT``, the per-turn clients the SDK makes do not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from botbuilder.core import (
    BotAdapter,
    MessageFactory,
    TurnContext,
)
from botbuilder.core.teams import TeamsInfo
from botbuilder.integration.aiohttp import (
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    ConfigurationServiceClientCredentialFactory,
)
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
    ConversationReference,
    Mention,
)
from botframework.connector.aio import ConnectorClient
from botframework.connector.auth import (
    AuthenticateRequestResult,
    ChannelValidation,
    JwtTokenExtractor,
    ServiceClientCredentialsFactory,
)
from botframework.connector.models import ErrorResponseException
from msrest.authentication import Authentication
from msrest.exceptions import ClientRequestError
from msrest.universal_http.requests import ClientRetryPolicy
from requests import Session

from bot.core.config import Settings
from bot.core.turn import JSON, Card, Person, Reply, RosterEntry, SearchResult, reference_without_person
from bot.teams.activity import ADAPTIVE_CARD, invoke_response, search_response, to_request
from bot.teams.claims import bearer_token, check_channel_claims
from bot.teams.errors import AMBIGUOUS_STATUSES, AuthError, DeliveryError, maybe_delivered, retry_after_seconds
from bot.teams.gateway import OnRequest, TokenSource
from bot.teams.identity import IdentityUnavailable, OpenIdKeys, OutgoingToken

log = logging.getLogger(__name__)


def use_loop_safe_metadata(metadata_url: str, timeout: float) -> None:
    """Make the SDK's token validation fetch signing keys through :class:`OpenIdKeys` (async, with a timeout,
    cached) instead of its ``_OpenIdMetadata`` (a blocking ``requests.get`` with no timeout on the event loop).

    The SDK keeps one metadata object per URL in ``JwtTokenExtractor.metadataCache`` (process-wide) and creates it
    in ``JwtTokenExtractor.get_open_id_metadata``: that is the seam. ``metadata_url`` (tests, sovereign clouds)
    replaces the public channel metadata URL through the SDK's own ``ChannelValidation`` hook.
    """
    ChannelValidation.open_id_metadata_endpoint = metadata_url or None
    cache = JwtTokenExtractor.metadataCache

    def get_open_id_metadata(url: str) -> OpenIdKeys:
        keys = cache.get(url)
        if not isinstance(keys, OpenIdKeys) or keys.timeout != timeout:
            keys = OpenIdKeys(url, timeout)
            cache[url] = keys
        return keys

    JwtTokenExtractor.get_open_id_metadata = staticmethod(get_open_id_metadata)


class _LoopSafeCredentials(Authentication):  # type: ignore[misc]
    """Signs connector requests with a token fetched beforehand by :class:`OutgoingToken` (in a thread), so
    msrest's synchronous ``signed_session`` never calls the identity endpoint on the event loop."""

    def __init__(self, app_id: str, oauth_scope: str, token: OutgoingToken) -> None:
        self.microsoft_app_id = app_id
        self.oauth_scope = oauth_scope
        self.token = token

    def signed_session(self, session: Session | None = None) -> Session:
        session = session if session is not None else Session()
        token = self.token.current
        if token is None:  # only if a caller skipped ensure(); never block the loop to fetch one here
            raise PermissionError("no access token fetched yet for the Bot Connector")
        session.headers["Authorization"] = f"Bearer {token}"
        return session

    def refresh_session(self, session: Session | None = None) -> Session:
        return self.signed_session(session)


class _LoopSafeCredentialFactory(ServiceClientCredentialsFactory):  # type: ignore[misc]
    """Wraps the SDK's credential factory (password or managed identity): credentials are cached per scope and
    their token is fetched in a worker thread with a timeout before the connector client is used."""

    def __init__(self, inner: Any, timeout: float, token_source: TokenSource | None) -> None:
        self._inner = inner
        self._timeout = timeout
        self._token_source = token_source
        self._credentials: dict[tuple[str, str, str], _LoopSafeCredentials] = {}

    async def is_valid_app_id(self, app_id: str) -> bool:
        return bool(await self._inner.is_valid_app_id(app_id))

    async def is_authentication_disabled(self) -> bool:
        return bool(await self._inner.is_authentication_disabled())

    async def create_credentials(
        self, app_id: str, oauth_scope: str, login_endpoint: str, validate_authority: bool
    ) -> Any:
        if await self.is_authentication_disabled():
            return await self._inner.create_credentials(app_id, oauth_scope, login_endpoint, validate_authority)
        if not await self.is_valid_app_id(app_id):
            raise PermissionError("credentials requested for another app id")
        key = (app_id or "", oauth_scope or "", login_endpoint or "")
        credentials = self._credentials.get(key)
        if credentials is None:
            if self._token_source is not None:
                source = self._token_source

                def fetch() -> str:
                    return source(oauth_scope)

            else:
                sdk = await self._inner.create_credentials(app_id, oauth_scope, login_endpoint, validate_authority)
                fetch = sdk.get_access_token
            credentials = _LoopSafeCredentials(app_id, oauth_scope, OutgoingToken.threaded(fetch, self._timeout))
            self._credentials[key] = credentials
        await credentials.token.ensure()
        return credentials


@dataclass(frozen=True)
class BotbuilderAuthenticated:
    """An activity whose request passed authentication."""

    payload: Mapping[str, Any]
    activity: Activity
    result: AuthenticateRequestResult


def speed_up_msrest() -> None:
    """msrest rebuilds ~1,000 retry codes by linear search in a list twice per activity (DESIGN §5), and each
    connector client the SDK makes per turn keeps its own list of the ~500 codes it retries (20 KB). Those
    clients sit in reference cycles until a full collection, so 200 concurrent users kept ~700 of them: 14 MB.
    Every retry policy now shares one frozen set of the same codes."""
    if isinstance(ClientRetryPolicy.safe_codes, frozenset):
        return
    ClientRetryPolicy.safe_codes = frozenset(ClientRetryPolicy.safe_codes)  # type: ignore[assignment]
    build = ClientRetryPolicy.__init__
    shared: dict[frozenset[int], frozenset[int]] = {}

    def shared_codes(policy: ClientRetryPolicy) -> None:
        build(policy)  # type: ignore[no-untyped-call]
        codes = frozenset(policy.policy.status_forcelist)
        policy.policy.status_forcelist = shared.setdefault(codes, codes)

    ClientRetryPolicy.__init__ = shared_codes  # type: ignore[method-assign]


@dataclass(frozen=True)
class _SdkConfig:
    """The attribute names ConfigurationBotFrameworkAuthentication reads."""

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str


def _message(reply: Reply) -> Activity:
    if isinstance(reply, Card):
        activity = MessageFactory.attachment(Attachment(content_type=ADAPTIVE_CARD, content=reply.content))
        if reply.summary:
            activity.summary = reply.summary
        return cast(Activity, activity)
    return cast(Activity, MessageFactory.text(reply))


def _with_mention(activity: Activity, mention: Person | None) -> Activity:
    if mention is not None:
        tag = f"<at>{mention.name}</at>"
        activity.text = f"{tag} {activity.text or ''}".strip()
        activity.entities = [
            Mention(mentioned=ChannelAccount(id=mention.user_id, name=mention.name), text=tag, type="mention")
        ]
    return activity


def _person(account: Any) -> Person:
    return Person(
        user_id=str(getattr(account, "id", "") or ""),
        aad_id=str(getattr(account, "aad_object_id", "") or ""),
        name=str(getattr(account, "name", "") or ""),
    )


def _dict(value: Any) -> dict[str, Any]:
    """A plain dict of an SDK model, including the properties msrest keeps aside as additional_properties."""
    if isinstance(value, dict):
        return value
    if value is not None and hasattr(value, "serialize"):
        result = value.serialize()
        extra = getattr(value, "additional_properties", None)
        if isinstance(result, dict) and isinstance(extra, dict):
            return {**extra, **result}
        return result if isinstance(result, dict) else {}
    return {}


def _load_reference(reference: Mapping[str, Any]) -> ConversationReference:
    """Deserialise a stored reference; the tenant survives whichever spelling (tenantId / tenantID) it has."""
    ref = ConversationReference.deserialize(dict(reference))
    conversation = reference.get("conversation")
    if ref.conversation is not None and not ref.conversation.tenant_id and isinstance(conversation, dict):
        tenant = conversation.get("tenantId") or conversation.get("tenantID")
        ref.conversation.tenant_id = str(tenant) if tenant else None
    return ref


class BotbuilderResponder:
    """Responder over one SDK TurnContext."""

    def __init__(self, context: TurnContext) -> None:
        self._context = context
        self.invoke_body: JSON | None = None

    async def reply(self, message: Reply, *, mention: Person | None = None) -> str | None:
        activity = _with_mention(_message(message), mention)
        try:
            sent = await self._context.send_activity(activity)
        except ErrorResponseException as error:
            raise _delivery_error(error) from None
        return sent.id if sent is not None else None

    async def update(self, activity_id: str, message: Reply) -> None:
        activity = _message(message)
        activity.id = activity_id
        try:
            await self._context.update_activity(activity)
        except ErrorResponseException as error:
            raise _delivery_error(error) from None

    async def delete(self, activity_id: str) -> None:
        await self._context.delete_activity(activity_id)

    def answer_action(self, card: Card | None = None, *, message: str | None = None) -> None:
        self.invoke_body = invoke_response(card, message)

    def answer_search(self, results: Sequence[SearchResult], *, message: str | None = None) -> None:
        self.invoke_body = search_response(results, message)

    async def team_members(self) -> list[Person]:
        people: list[Person] = []
        team_id = _dict(self._context.activity.channel_data).get("team", {}).get("id")
        token = None
        while True:
            if team_id:
                page = await TeamsInfo.get_paged_team_members(self._context, team_id, token, 500)
            else:
                page = await TeamsInfo.get_paged_members(self._context, token, 500)
            people.extend(_person(m) for m in page.members or [])
            token = page.continuation_token
            if not token:
                return people

    async def team_details(self) -> tuple[str, str] | None:
        team = _dict(self._context.activity.channel_data).get("team") or {}
        if not team.get("id"):
            return None
        # TeamsInfo.get_team_details uses the SDK's *synchronous* Teams client (requests): called on the loop it
        # blocks every turn, and deadlocks against a connector served by the same loop. Run it in a thread,
        # with a timeout and no SDK retries.
        client = await TeamsInfo.get_teams_connector_client(self._context)
        client.config.retry_policy.retries = 0
        client.config.connection.timeout = 10
        try:
            details = await asyncio.to_thread(client.teams.get_team_details, team["id"])
        finally:
            client.close()
        return (details.aad_group_id or "", details.name or team.get("name") or "")


def _delivery_error(error: ErrorResponseException) -> DeliveryError:
    response = getattr(error, "response", None)
    status = int(getattr(response, "status_code", 0) or 0)
    header = response.headers.get("Retry-After") if response is not None and hasattr(response, "headers") else None
    return DeliveryError(
        status, retry_after_seconds(header), str(error)[:200], maybe_delivered=status in AMBIGUOUS_STATUSES
    )


@contextlib.contextmanager
def _delivery_errors() -> Iterator[None]:
    """Connector failures become DeliveryError(status, retry_after) for the outbox to act on."""
    try:
        yield
    except ErrorResponseException as error:
        raise _delivery_error(error) from None
    except (TimeoutError, ClientRequestError, OSError) as error:
        raise DeliveryError(0, None, str(error)[:200], maybe_delivered=maybe_delivered(error)) from None


ROSTER_MAX_PAGES = 200  # 100,000 members: a roster that never ends is a fault, not a team


class BotbuilderGateway:
    """Everything the app needs from the Bot Framework: incoming turns and proactive sends."""

    def __init__(
        self, settings: Settings, now: Callable[[], datetime], *, token_source: TokenSource | None = None
    ) -> None:
        """``token_source`` replaces the SDK's MSAL token fetch for outgoing calls (tests pass a stub)."""
        speed_up_msrest()
        self._settings = settings
        self._now = now
        config = _SdkConfig(settings.app_id, settings.app_password, settings.app_type, settings.app_tenant_id)
        if settings.authenticated:
            use_loop_safe_metadata(settings.openid_metadata_url, settings.identity_timeout)
        self._credentials = _LoopSafeCredentialFactory(
            ConfigurationServiceClientCredentialFactory(config), settings.identity_timeout, token_source
        )
        self._auth = ConfigurationBotFrameworkAuthentication(config, credentials_factory=self._credentials)
        self._adapter = CloudAdapter(self._auth)
        self._clients: dict[str, ConnectorClient] = {}

    async def app_token(self, scope: str) -> str:
        """The bot's own token for another resource (``https://graph.microsoft.com/.default``): the SDK's
        credentials for that scope, fetched in a worker thread with a timeout and cached like the connector's."""
        if not self._settings.authenticated:
            raise IdentityUnavailable("the bot has no app identity (unauthenticated local mode)")
        credentials = await self._credentials.create_credentials(
            self._settings.app_id, scope, "https://login.microsoftonline.com", True
        )
        return str(await credentials.token.ensure())

    # -- incoming -----------------------------------------------------------------------------------
    async def authenticate(self, body: Mapping[str, Any], auth_header: str) -> BotbuilderAuthenticated:
        """Parse and authenticate one activity (see :class:`bot.teams.gateway.Gateway`)."""
        activity = Activity().deserialize(dict(body))
        if not activity.type:
            raise ValueError("activity has no type")
        if self._settings.authenticated:
            bearer_token(auth_header)
        else:
            auth_header = ""  # local unauthenticated mode: a stray header must not trigger a key fetch
        try:
            result = await self._auth.authenticate_request(activity, auth_header)
        except IdentityUnavailable:
            raise
        except Exception as error:  # the SDK raises PermissionError, PyJWT errors and bare Exceptions alike
            raise AuthError(f"{type(error).__name__}: {str(error)[:120]}") from None
        if self._settings.authenticated:
            claims = getattr(result.claims_identity, "claims", None) or {}
            check_channel_claims(claims, self._settings.app_id, activity.service_url or "")
        return BotbuilderAuthenticated(body, activity, result)

    async def run(self, authenticated: BotbuilderAuthenticated, on_request: OnRequest) -> tuple[int, JSON | None]:
        """Run one authenticated activity; returns (HTTP status, invoke body or None)."""
        activity = authenticated.activity
        holder: dict[str, BotbuilderResponder] = {}
        request = to_request(authenticated.payload, self._now())

        async def logic(context: TurnContext) -> None:
            # the connector client the SDK made for this turn: the same per-call timeout as proactive sends, and no
            # msrest retries (its defaults: ~100 s per call, retried), so a hung connector stalls only this turn
            client = context.turn_state.get(BotAdapter.BOT_CONNECTOR_CLIENT_KEY)
            if client is not None:
                client.config.connection.timeout = self._settings.connector_timeout
                client.config.retry_policy.retries = 0
            responder = BotbuilderResponder(context)
            holder["r"] = responder
            await on_request(request, responder)

        await self._adapter.process_activity(authenticated.result, activity, logic)
        responder = holder.get("r")
        if activity.type == ActivityTypes.invoke:
            if responder is not None and responder.invoke_body is not None:
                return 200, responder.invoke_body
            return 200, invoke_response()
        return 201 if activity.type == ActivityTypes.message else 200, None

    # -- proactive ----------------------------------------------------------------------------------
    async def _client(self, service_url: str) -> ConnectorClient:
        """The cached connector client of ``service_url``, with a fresh token (fetched in a worker thread with
        a timeout; an unreachable token service is a retryable DeliveryError, never a frozen loop)."""
        try:
            client = self._clients.get(service_url)
            if client is None:
                claims = self._adapter.create_claims_identity(self._settings.app_id)
                factory = self._auth.create_connector_factory(claims)
                client = await factory.create(service_url, None)
                client.config.retry_policy.retries = 0  # the outbox owns retries
                client.config.connection.timeout = self._settings.connector_timeout
                self._clients[service_url] = client
            credentials = client.config.credentials
            if isinstance(credentials, _LoopSafeCredentials):
                await credentials.token.ensure()
        except IdentityUnavailable as error:
            raise DeliveryError(0, None, str(error)) from None
        return client

    async def send(self, reference: Mapping[str, Any], message: Reply, *, mention: Person | None = None) -> str:
        """Post into the conversation of ``reference``; returns the new activity id."""
        ref = _load_reference(reference)
        activity = _message(message)
        activity.conversation = ref.conversation
        activity.from_property = ref.bot
        activity.recipient = ref.user
        activity.channel_id = ref.channel_id
        activity.service_url = ref.service_url
        _with_mention(activity, mention)
        client = await self._client(ref.service_url)
        with _delivery_errors():
            result = await client.conversations.send_to_conversation(ref.conversation.id, activity)
        return str(getattr(result, "id", "") or "")

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Reply) -> None:
        ref = _load_reference(reference)
        activity = _message(message)
        activity.id = activity_id
        activity.conversation = ref.conversation
        activity.from_property = ref.bot
        activity.channel_id = ref.channel_id
        activity.service_url = ref.service_url
        client = await self._client(ref.service_url)
        with _delivery_errors():
            await client.conversations.update_activity(ref.conversation.id, activity_id, activity)

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Person) -> JSON:
        """Create (or find) the 1:1 chat with ``person`` and return its conversation reference."""
        ref = _load_reference(reference)
        tenant_id = ref.conversation.tenant_id if ref.conversation is not None else None
        params = ConversationParameters(
            is_group=False,
            bot=ref.bot,
            members=[ChannelAccount(id=person.user_id, name=person.name)],
            tenant_id=tenant_id,
            channel_data={"tenant": {"id": tenant_id}} if tenant_id else None,
        )
        client = await self._client(ref.service_url)
        with _delivery_errors():
            created = await client.conversations.create_conversation(params)
        personal = ConversationReference(
            bot=ref.bot,
            conversation=ConversationAccount(id=created.id, conversation_type="personal", tenant_id=tenant_id),
            channel_id=ref.channel_id,
            service_url=ref.service_url,
        )
        return reference_without_person(cast(JSON, personal.serialize()))

    async def team_roster(self, reference: Mapping[str, Any], team_id: str) -> list[RosterEntry]:
        """Every member of the team (pages of 500), with email and UPN where Teams gives them."""
        ref = _load_reference(reference)
        client = await self._client(ref.service_url)
        entries: list[RosterEntry] = []
        token: str | None = None
        for _ in range(ROSTER_MAX_PAGES):
            with _delivery_errors():
                page = await client.conversations.get_teams_conversation_paged_members(team_id, 500, token)
            for member in page.members or []:
                entries.append(
                    RosterEntry(_person(member), str(member.email or ""), str(member.user_principal_name or ""))
                )
            token = page.continuation_token
            if not token:
                break
        return entries

    async def close(self) -> None:
        for client in self._clients.values():
            await client.__aexit__(None, None, None)  # SDKClientAsync has no close(); this closes its session
        self._clients.clear()


__all__ = [
    "BotbuilderAuthenticated",
    "BotbuilderGateway",
    "BotbuilderResponder",
    "speed_up_msrest",
    "use_loop_safe_metadata",
]
