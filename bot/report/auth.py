"""Who is looking at the report: a Teams tab's single sign-on token, or a signed link the bot handed out.

**Tab tokens.** The personal tab calls ``authentication.getAuthToken()`` (Teams JavaScript SDK) and sends the token
as ``Authorization: Bearer``. It is a Microsoft Entra ID access token for the bot's app registration, whose
Application ID URI is ``api://<public host>/<app id>`` (deployment/README.md). :class:`TabTokens` accepts it only
when every check holds: an RS256/384/512 signature by a key in the Entra ID JWKS (fetched by
:class:`bot.teams.identity.OpenIdKeys`: asynchronous, time limited, cached), the audience is that URI or the app id, the
issuer is the token's own tenant's (v2 ``https://login.microsoftonline.com/<tid>/v2.0`` or v1
``https://sts.windows.net/<tid>/``), the tenant is allowed (``COPBOT_ALLOWED_TENANTS``), the token has not expired
(5 minutes' leeway, as the Bot Framework checks) and it names the person (``oid``). Anything else is
:class:`TokenRefused` (401); an unreachable key endpoint is ``IdentityUnavailable`` (503).

**Signed links** (bot/security/report_links.py): the person's object id and role, signed and expiring; the role
is checked again in storage on every request (:mod:`bot.report.access`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt

from bot.security.report_links import (  # re-exported: the report's routes read links through this module
    LinkGrant as LinkGrant,
)
from bot.security.report_links import (
    LinkRefused as LinkRefused,
)
from bot.security.report_links import (
    read_grant as read_grant,
)
from bot.security.report_links import (
    sign_grant as sign_grant,
)
from bot.teams.identity import ALLOWED_ALGORITHMS, CLOCK_TOLERANCE_SECONDS, MAX_HEADER_CHARS, OpenIdKeys

if TYPE_CHECKING:
    from bot.core.config import Settings

log = logging.getLogger(__name__)

# Microsoft Entra ID's v2 OpenID metadata for any organisation's tokens (the tenant is checked per token)
ENTRA_METADATA_URL = "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
_BEARER = re.compile(r"^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$")
_TENANT = re.compile(r"^[0-9a-fA-F-]{36}$|^[A-Za-z0-9.-]{1,100}$")


class TokenRefused(Exception):
    """The bearer token is missing, malformed, not for this app, from another tenant, or expired."""


@dataclass(frozen=True)
class TabIdentity:
    aad_id: str  # the person's object id (``oid``)
    tenant_id: str


def audiences(settings: Settings) -> list[str]:
    """What a tab token's ``aud`` may be: the Application ID URI on the public host, or the bare app id."""
    host = (urlsplit(settings.public_url).hostname or "").lower()
    return [f"api://{host}/{settings.app_id}", settings.app_id]


def issuers(tenant_id: str) -> frozenset[str]:
    return frozenset({f"https://login.microsoftonline.com/{tenant_id}/v2.0", f"https://sts.windows.net/{tenant_id}/"})


class TabTokens:
    """Checks tab SSO tokens against the Entra ID signing keys of ``settings.entra_metadata_url``."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.keys = OpenIdKeys(settings.entra_metadata_url or ENTRA_METADATA_URL, settings.identity_timeout)

    async def identify(self, header: str) -> TabIdentity:
        """The person the ``Authorization`` header's token names, or :class:`TokenRefused`."""
        settings = self._settings
        if not settings.app_id:
            raise TokenRefused("the bot has no app id, so tab sign-in is off")
        if not header or len(header) > MAX_HEADER_CHARS:
            raise TokenRefused("no Authorization header" if not header else "Authorization header too long")
        match = _BEARER.match(header.strip())
        if match is None:
            raise TokenRefused("Authorization is not a Bearer JWT")
        token = match.group(1)
        try:
            head = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except (jwt.PyJWTError, ValueError, TypeError):
            raise TokenRefused("malformed token") from None
        algorithm = head.get("alg")
        kid = head.get("kid")
        if algorithm not in ALLOWED_ALGORITHMS:
            raise TokenRefused("unsupported token algorithm")
        if not isinstance(kid, str) or not kid:
            raise TokenRefused("token has no key id")
        tenant = unverified.get("tid")
        if not isinstance(tenant, str) or not _TENANT.match(tenant):
            raise TokenRefused("token has no tenant")
        if settings.allowed_tenants and tenant not in settings.allowed_tenants:
            raise TokenRefused("tenant is not allowed")
        try:
            key = await self.keys.get(kid)  # IdentityUnavailable (503) propagates
        except PermissionError:
            raise TokenRefused("token is signed with an unknown key") from None
        try:
            claims: Mapping[str, Any] = jwt.decode(
                token,
                key.public_key,
                algorithms=[str(algorithm)],
                audience=audiences(settings),
                issuer=sorted(issuers(tenant)),
                leeway=CLOCK_TOLERANCE_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRefused("token expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRefused("token is for another application") from None
        except jwt.InvalidIssuerError:
            raise TokenRefused("token issuer is not its tenant's") from None
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise TokenRefused(f"invalid token ({type(error).__name__})") from None
        oid = claims.get("oid")
        if not isinstance(oid, str) or not oid or len(oid) > 100:
            raise TokenRefused("token names no person")
        return TabIdentity(oid, tenant)
