"""How the Agents SDK seam checks incoming tokens and gets its own: the SDK's auth configuration from the
settings, and its JWT validator fed by :class:`~bot.teams.identity.OpenIdKeys` (asynchronous, time-limited, cached
key fetches; only keys endorsed for Teams)."""

from __future__ import annotations

import logging
from typing import Any

from microsoft_agents.hosting.core.authorization import (
    AgentAuthConfiguration,
    AuthTypes,
    JwtTokenValidator,
)

from bot.core.config import Settings
from bot.teams.claims import CHANNEL_ISSUER, endorsed_for_teams
from bot.teams.identity import OpenIdKeys

log = logging.getLogger(__name__)

CONNECTOR_SCOPE = "https://api.botframework.com/.default"
MULTI_TENANT = "botframework.com"

AUTH_TYPES = {
    "ClientSecret": AuthTypes.client_secret,
    "Certificate": AuthTypes.certificate,
    "UserManagedIdentity": AuthTypes.user_managed_identity,
    "FederatedCredentials": AuthTypes.federated_credentials,
}


def auth_configuration(settings: Settings) -> AgentAuthConfiguration:
    """The SDK's configuration of this bot's connection, with the issuer check on and only the Bot Framework
    channel's issuer allowed (the SDK checks issuers only when asked)."""
    anonymous = not settings.authenticated
    tenant = settings.app_tenant_id
    if not tenant and settings.auth_type in ("ClientSecret", "Certificate"):
        tenant = MULTI_TENANT  # a multi-tenant registration gets its connector tokens from the Bot Framework tenant
    return AgentAuthConfiguration(
        auth_type=AUTH_TYPES[settings.auth_type],
        client_id=settings.app_id or None,
        tenant_id=tenant or None,
        client_secret=settings.app_password or None,
        cert_pfx_file=settings.cert_pfx_file or None,
        federated_client_id=settings.federated_client_id or None,
        authority=settings.authority or None,
        connection_name="SERVICE_CONNECTION",
        scopes=[CONNECTOR_SCOPE],
        anonymous_allowed=anonymous,
        issuers=[CHANNEL_ISSUER],
        validate_issuer=True,
    )


class TeamsKeys:
    """Stands in for the SDK validator's JWKS client: keys come from :class:`OpenIdKeys` (async, timeout,
    cached; the URL is configurable for tests and sovereign clouds), and a key must be endorsed for Teams."""

    def __init__(self, keys: OpenIdKeys) -> None:
        self._keys = keys

    async def get_signing_key(self, jwks_uri: str, header: dict[str, Any]) -> Any:
        key = await self._keys.get(str(header.get("kid") or ""))
        if not endorsed_for_teams(key.endorsements):
            raise PermissionError("the signing key is not endorsed for Teams")
        return key.public_key


class TeamsTokenValidator(JwtTokenValidator):
    def __init__(self, configuration: AgentAuthConfiguration, keys: OpenIdKeys) -> None:
        super().__init__(configuration)
        self._jwk_client_manager = TeamsKeys(keys)  # type: ignore[assignment]
