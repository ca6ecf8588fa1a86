"""What the Teams seam raises, whichever SDK is underneath."""

from __future__ import annotations

from bot.teams.identity import IdentityUnavailable


class AuthError(Exception):
    """The request's credentials were missing or invalid (→ 401)."""


class DeliveryError(Exception):
    """A call to the Bot Connector failed; ``status`` is the HTTP status (0 when unreachable or timed out).

    ``maybe_delivered`` says the request may have reached Teams and been acted on although no success came back
    (a timeout or a dropped connection after sending, 500/502/504): resending it could post a second copy."""

    def __init__(self, status: int, retry_after: float | None, detail: str, *, maybe_delivered: bool = False) -> None:
        super().__init__(f"connector answered {status}: {detail}")
        self.status = status
        self.retry_after = retry_after
        self.maybe_delivered = maybe_delivered


AMBIGUOUS_STATUSES = frozenset({500, 502, 504})  # the gateway or the service failed, maybe after acting

# Failures that happen before a request leaves: nothing can have reached Teams (aiohttp's, requests' and
# urllib3's names for them, matched by name so this module imports neither).
_NEVER_CONNECTED = frozenset(
    {
        "ClientConnectorError",
        "ClientConnectorDNSError",
        "ClientConnectorCertificateError",
        "ClientConnectorSSLError",
        "ConnectionTimeoutError",
        "ConnectTimeout",
        "NewConnectionError",
        "NameResolutionError",
        "ConnectionRefusedError",
        "gaierror",
    }
)


def maybe_delivered(error: BaseException) -> bool:
    """Whether a transport failure (no HTTP status) may have happened after the request reached Teams: anything
    but a connection that was never made (refused, unresolvable, timed out while connecting)."""
    seen: set[int] = set()
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if type(current).__name__ in _NEVER_CONNECTED:
            return False
        for linked in (current.__cause__, current.__context__, getattr(current, "inner_exception", None)):
            if isinstance(linked, BaseException):
                pending.append(linked)
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return True


def retry_after_seconds(header: str | None) -> float | None:
    """The ``Retry-After`` header in seconds (the connector sends seconds), or None."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


__all__ = [
    "AMBIGUOUS_STATUSES",
    "AuthError",
    "DeliveryError",
    "IdentityUnavailable",
    "maybe_delivered",
    "retry_after_seconds",
]
