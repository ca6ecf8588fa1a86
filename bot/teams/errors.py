"""What the Teams seam raises, whichever SDK is underneath."""

from __future__ import annotations

from bot.identity import IdentityUnavailable


class AuthError(Exception):
    """The request's credentials were missing or invalid (→ 401)."""


class DeliveryError(Exception):
    """A call to the Bot Connector failed; ``status`` is the HTTP status (0 when unreachable or timed out)."""

    def __init__(self, status: int, retry_after: float | None, detail: str) -> None:
        super().__init__(f"connector answered {status}: {detail}")
        self.status = status
        self.retry_after = retry_after


def retry_after_seconds(header: str | None) -> float | None:
    """The ``Retry-After`` header in seconds (the connector sends seconds), or None."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


__all__ = ["AuthError", "DeliveryError", "IdentityUnavailable", "retry_after_seconds"]
