"""Signed, expiring tokens for links the bot serves (calendar files, exports) and for card actions.

A token binds a purpose and its fields (e.g. verb + CoP + object id) to an expiry with HMAC-SHA256, so a
tampered, expired or re-purposed token is refused without any storage lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any


class BadSignature(ValueError):
    """The token was tampered with, is for another purpose, or is malformed."""


class Expired(BadSignature):
    """The token was genuine but its time is up."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    def _mac(self, purpose: str, body: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}.{body}".encode(), hashlib.sha256).digest()[:20])

    def sign(self, purpose: str, fields: Mapping[str, Any], *, now: datetime, ttl: timedelta) -> str:
        body = _b64(json.dumps({"f": dict(fields), "x": int((now + ttl).timestamp())}, separators=(",", ":")).encode())
        return f"{body}.{self._mac(purpose, body)}"

    def verify(self, purpose: str, token: str, *, now: datetime) -> dict[str, Any]:
        """Return the signed fields, or raise BadSignature / Expired."""
        # every token the bot makes is base64url and one dot: anything else (non-ASCII, which compare_digest
        # refuses with a TypeError, or a lone surrogate, which cannot be encoded) is simply not one of ours
        if not isinstance(token, str) or token.count(".") != 1 or len(token) > 4096 or not token.isascii():
            raise BadSignature("malformed token")
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, body)):
            raise BadSignature("bad signature")
        try:
            payload = json.loads(_unb64(body))
            fields, expires = payload["f"], int(payload["x"])
        except (ValueError, KeyError, TypeError):
            raise BadSignature("malformed token") from None
        if not isinstance(fields, dict):
            raise BadSignature("malformed token")
        if now.timestamp() > expires:
            raise Expired("token expired")
        return fields
