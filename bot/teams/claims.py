"""Which verified tokens may call ``/api/messages``: one policy for both SDK seams.

The SDKs check a token's signature, expiry and audience. Both also accept tokens this bot must not: botbuilder
takes Entra-issued tokens (issuer ``https://sts.windows.net/<tenant>/``, ``appid`` = the bot) without a service
URL, so a replayed *outgoing* token of the bot passes; the Agents SDK checks the issuer only when asked and
adds Microsoft first-party issuers to any allow-list. Teams calls a bot only with tokens from the Bot
Framework channel issuer that name the activity's service URL, so that is all this accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.teams.errors import AuthError
from bot.teams.identity import bearer_problem

CHANNEL_ISSUER = "https://api.botframework.com"
TEAMS_CHANNEL = "msteams"


def _same_url(a: str, b: str) -> bool:
    return a.strip().rstrip("/").casefold() == b.strip().rstrip("/").casefold()


def check_channel_claims(claims: Mapping[str, Any], app_id: str, service_url: str) -> None:
    """Raise :class:`AuthError` unless ``claims`` (already signature-checked) are the Bot Framework channel's,
    for this bot, for this activity's service URL."""
    issuer = claims.get("iss")
    if issuer != CHANNEL_ISSUER:
        raise AuthError(f"issuer {str(issuer)[:80]!r} is not the Bot Framework channel")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if app_id not in audiences:
        raise AuthError("the token is for another audience")
    claimed = claims.get("serviceurl")
    if not isinstance(claimed, str) or not claimed:
        raise AuthError("the token names no service URL")
    if not _same_url(claimed, service_url):
        raise AuthError("the token's service URL is not the activity's")


def bearer_token(auth_header: str) -> str:
    """The token of ``auth_header``, or :class:`AuthError` if it cannot be a channel token: checked without any
    network (:func:`bot.teams.identity.bearer_problem`), the channel's issuer included, so no key of another issuer
    (Entra, the emulator) is ever fetched and such a token is a 401 at once."""
    problem = bearer_problem(auth_header, issuer=CHANNEL_ISSUER)
    if problem is not None:
        raise AuthError(problem)
    return auth_header.strip().split(" ", 1)[1]


def endorsed_for_teams(endorsements: list[str]) -> bool:
    """A Bot Framework signing key lists the channels it signs for; Teams activities need ``msteams``."""
    return TEAMS_CHANNEL in endorsements
