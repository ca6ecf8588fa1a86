"""Signed, expiring links to the leadership report (bot/report/) for use outside Teams.

A link signs the person's Entra object id and the role it was made for (bot/security/signing.py, purpose
``report``). It grants nothing by itself: the report checks the role again in storage on every request
(bot/report/access.py), so a lead who stops leading loses the page even with a live link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.security.signing import BadSignature, Expired

if TYPE_CHECKING:
    from bot.services import Services

LINK_PURPOSE = "report"
LINK_TTL = timedelta(days=7)  # counts only, re-checked against storage on every use


@dataclass(frozen=True)
class LinkGrant:
    aad_id: str
    role: str  # the role the link was made for: "admin", "sponsor" or "lead"


def report_link(services: Services, aad_id: str, role: str, ttl: timedelta = LINK_TTL) -> str:
    """The report's address for ``aad_id`` as ``role``, signed and expiring."""
    token = sign_grant(services, aad_id, role, ttl)
    return f"{services.settings.public_url}/report/{token}"


def sign_grant(services: Services, aad_id: str, role: str, ttl: timedelta) -> str:
    return services.signer.sign(LINK_PURPOSE, {"a": aad_id, "r": role}, now=services.clock.now(), ttl=ttl)


class LinkRefused(Exception):
    def __init__(self, reason: str, *, expired: bool = False) -> None:
        super().__init__(reason)
        self.expired = expired


def read_grant(services: Services, token: str) -> LinkGrant:
    """The person and role a report link was signed for, or :class:`LinkRefused` (forged, expired, malformed)."""
    try:
        fields = services.signer.verify(LINK_PURPOSE, token, now=services.clock.now())
    except Expired:
        raise LinkRefused("expired", expired=True) from None
    except BadSignature:
        raise LinkRefused("not valid") from None
    aad_id, role = fields.get("a"), fields.get("r")
    if not isinstance(aad_id, str) or not aad_id or role not in ("admin", "sponsor", "lead"):
        raise LinkRefused("not valid")
    return LinkGrant(aad_id, str(role))
