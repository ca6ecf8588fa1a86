"""The Agents SDK seam's connector clients: one aiohttp session per service URL with a per-call timeout
(``COPBOT_CONNECTOR_TIMEOUT``), no user-token client, and SDK failures turned into
:class:`~bot.teams.errors.DeliveryError` for the outbox and the error boundary."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from microsoft_agents.hosting.core import ChannelServiceAdapter, TurnContext
from microsoft_agents.hosting.core.authorization import (
    ClaimsIdentity,
)
from microsoft_agents.hosting.core.channel_service_client_factory_base import ChannelServiceClientFactoryBase
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.teams.errors import AMBIGUOUS_STATUSES, DeliveryError, maybe_delivered, retry_after_seconds
from bot.teams.identity import IdentityUnavailable, OutgoingToken

log = logging.getLogger(__name__)

MAX_SESSIONS = 32  # Teams uses a handful of service URLs (one per region); more would be a fault


class Connectors(ChannelServiceClientFactoryBase):
    """One SDK connector client (one aiohttp session) per service URL, signed with the bot's token."""

    def __init__(self, token: OutgoingToken | None, timeout: float) -> None:
        self._token = token
        self._timeout = timeout
        self._clients: OrderedDict[str, TeamsConnectorClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()  # evicted clients, closed once their calls are over

    async def client(self, service_url: str) -> TeamsConnectorClient:
        """The client of ``service_url`` with a current token. An unreachable token service is a retryable
        DeliveryError (status 0), never a frozen loop."""
        key = service_url.rstrip("/") + "/"
        client = self._clients.get(key)
        if client is None:
            session = aiohttp.ClientSession(
                base_url=key,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=64, limit_per_host=64),
            )
            client = TeamsConnectorClient(key, "", session=session)
            self._clients[key] = client
            while len(self._clients) > MAX_SESSIONS:
                _, old = self._clients.popitem(last=False)
                asyncio.get_running_loop().call_later(self._timeout * 2, self._close_later, old)
        else:
            self._clients.move_to_end(key)
        if self._token is not None:
            try:
                token = await self._token.ensure()
            except IdentityUnavailable as error:
                raise DeliveryError(0, None, str(error)) from None
            header = f"Bearer {token}"
            if client.client.headers.get("Authorization") != header:
                client.client.headers["Authorization"] = header
        return client

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        return await self.client(service_url)

    async def create_user_token_client(
        self, context: TurnContext, claims_identity: ClaimsIdentity, use_anonymous: bool = False
    ) -> Any:
        raise NotImplementedError("CoP Bot uses no user sign-in")

    def _close_later(self, client: TeamsConnectorClient) -> None:
        task = asyncio.ensure_future(client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        clients = list(self._clients.values())
        self._clients.clear()
        for client in clients:
            await client.close()


class ConnectorAdapter(ChannelServiceAdapter):
    """The SDK adapter behind each TurnContext: sends, updates and deletes through the cached clients. Errors
    propagate to the caller (no SDK ``on_turn_error``: the router's error boundary owns that)."""

    def __init__(self, connectors: Connectors) -> None:
        super().__init__(connectors)
        self.on_turn_error = None


@contextlib.asynccontextmanager
async def delivery_errors(what: str) -> AsyncIterator[None]:
    """Connector failures become DeliveryError(status, retry_after); a timeout or an unreachable service is
    status 0 and logged once, here, with what was being done."""
    try:
        yield
    except aiohttp.ClientResponseError as error:
        retry_after = retry_after_seconds(error.headers.get("Retry-After") if error.headers else None)
        raise DeliveryError(
            error.status, retry_after, str(error.message)[:200], maybe_delivered=error.status in AMBIGUOUS_STATUSES
        ) from None
    except TimeoutError as error:
        log.warning("the Bot Connector did not answer in time what=%s", what)
        raise DeliveryError(0, None, "timed out", maybe_delivered=maybe_delivered(error)) from None
    except (aiohttp.ClientError, OSError) as error:
        log.warning("the Bot Connector is unreachable what=%s error=%s", what, type(error).__name__)
        raise DeliveryError(0, None, str(error)[:200], maybe_delivered=maybe_delivered(error)) from None
