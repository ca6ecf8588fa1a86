"""Bot Framework identity without blocking the event loop (DESIGN §5 pitfalls).

The SDK fetches the OpenID metadata and signing keys with a synchronous ``requests.get`` and no timeout, on the
event loop, so an unreachable identity endpoint freezes every request; it also answers a malformed bearer token
with a 500. Here:

- :func:`bearer_problem` refuses a missing or malformed ``Authorization`` header before any network call (401).
- :class:`OpenIdKeys` stands in for the SDK's ``_OpenIdMetadata`` (same ``await get(key_id)``): metadata and JWKS
  are fetched asynchronously with a total timeout, one fetch at a time, cached for a day, refreshed for an
  unknown key id at most every few minutes, and kept in use when a refresh fails. With no usable keys and an
  unreachable endpoint it raises :class:`IdentityUnavailable` (503) within the timeout and, for a few seconds
  after, at once.
- :class:`OutgoingToken` runs the bot's own token fetch (MSAL; synchronous ones in a worker thread) with a timeout
  and caches the token until shortly before it expires, so sending never waits on the identity endpoint on the loop.

Nothing here imports an SDK; the seams in ``bot/teams/`` plug these into theirs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

log = logging.getLogger(__name__)

MAX_HEADER_CHARS = 8192
ALLOWED_ALGORITHMS = frozenset({"RS256", "RS384", "RS512"})
CLOCK_TOLERANCE_SECONDS = 5 * 60  # the SDK's own leeway
_BEARER = re.compile(r"^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$")


class IdentityUnavailable(Exception):
    """The identity endpoint (OpenID metadata, signing keys or token service) could not be reached in time."""


def bearer_problem(header: str, *, issuer: str | None = None, now: float | None = None) -> str | None:
    """Why ``header`` cannot carry a valid Bot Framework token, or None. Needs no network: a missing header,
    another scheme, a token that is not a JWT, an unsupported algorithm, no key id, no issuer or not ``issuer``,
    or a token long expired are refused before anything is fetched."""
    if not header:
        return "no Authorization header"
    if len(header) > MAX_HEADER_CHARS:
        return "Authorization header too long"
    match = _BEARER.match(header.strip())
    if match is None:
        return "Authorization is not a Bearer JWT"
    token = match.group(1)
    try:
        head = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return "malformed token"
    if head.get("alg") not in ALLOWED_ALGORITHMS:
        return "unsupported token algorithm"
    if not isinstance(head.get("kid"), str) or not head["kid"]:
        return "token has no key id"
    if not isinstance(claims.get("iss"), str) or not claims["iss"]:
        return "token has no issuer"
    if issuer is not None and claims["iss"] != issuer:
        return f"issuer {claims['iss'][:80]!r} is not accepted"
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        return "token has no expiry"
    if expires + CLOCK_TOLERANCE_SECONDS < (time.time() if now is None else now):
        return "token expired"
    return None


@dataclass(frozen=True)
class SigningKey:
    """What the SDK's token extractor reads from its metadata: the public key and the key's endorsements."""

    public_key: Any
    endorsements: list[str]


def _parse_keys(document: Any) -> dict[str, SigningKey]:
    keys: dict[str, SigningKey] = {}
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the JWKS document has no keys")
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str) or entry.get("kty") != "RSA":
            continue
        try:
            public_key = RSAAlgorithm.from_jwk(json.dumps(entry))
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            log.warning("skipping an unusable signing key kid=%s", entry.get("kid", "")[:40])
            continue
        endorsements = entry.get("endorsements")
        keys[entry["kid"]] = SigningKey(
            public_key, [e for e in endorsements if isinstance(e, str)] if isinstance(endorsements, list) else []
        )
    return keys


class OpenIdKeys:
    """Signing keys of one OpenID metadata URL, fetched off the request path's critical section."""

    REFRESH_AFTER = 24 * 3600.0  # the SDK's schedule
    UNKNOWN_KEY_COOLDOWN = 300.0  # a token with a new key id may trigger a refresh this often
    FAILURE_COOLDOWN = 5.0  # after a failed fetch, fail at once for this long instead of queueing up
    STALE_LIMIT = 5 * 24 * 3600.0  # keep using cached keys this long while the endpoint is down

    def __init__(self, url: str, timeout: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.timeout = timeout
        self._clock = clock
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._failed_at: float | None = None
        self._inflight: asyncio.Task[dict[str, SigningKey]] | None = None
        self.fetches = 0  # for tests and logs

    async def get(self, key_id: str) -> SigningKey:
        now = self._clock()
        age = None if self._fetched_at is None else now - self._fetched_at
        if age is None or age > self.REFRESH_AFTER:
            await self._refresh(required=age is None or age > self.STALE_LIMIT)
        key = self._keys.get(key_id)
        if key is None and (self._fetched_at is None or now - self._fetched_at > self.UNKNOWN_KEY_COOLDOWN):
            await self._refresh(required=False)
            key = self._keys.get(key_id)
        if key is None:
            raise PermissionError("the token is signed with an unknown key")
        return key

    async def _refresh(self, *, required: bool) -> None:
        now = self._clock()
        if self._failed_at is not None and now - self._failed_at < self.FAILURE_COOLDOWN:
            if required:
                raise IdentityUnavailable(f"identity metadata at {self.url} failed moments ago")
            return
        task = self._inflight
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            task = asyncio.get_running_loop().create_task(self._fetch())
            self._inflight = task
        try:
            keys = await asyncio.shield(task)
        except IdentityUnavailable as error:
            self._failed_at = self._clock()
            if required:
                raise
            log.warning("identity metadata refresh failed; keeping cached keys: %s", error)
            return
        self._keys = keys
        self._fetched_at = self._clock()
        self._failed_at = None

    async def _fetch(self) -> dict[str, SigningKey]:
        self.fetches += 1
        try:
            async with asyncio.timeout(self.timeout):
                async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as http:
                    async with http.get(self.url) as response:
                        response.raise_for_status()
                        metadata = await response.json(content_type=None)
                    jwks_uri = metadata.get("jwks_uri") if isinstance(metadata, dict) else None
                    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
                        raise ValueError("the OpenID metadata has no jwks_uri")
                    async with http.get(jwks_uri) as response:
                        response.raise_for_status()
                        keys = _parse_keys(await response.json(content_type=None))
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as error:
            log.warning("identity metadata unavailable url=%s error=%s", self.url, type(error).__name__)
            raise IdentityUnavailable(f"identity metadata at {self.url}: {type(error).__name__}") from None
        log.info("identity signing keys refreshed url=%s keys=%d", self.url, len(keys))
        return keys


class OutgoingToken:
    """The bot's own access token for the Bot Connector, fetched by ``fetch`` (a coroutine function; see
    :meth:`threaded` for a blocking one).

    The token is reused until ``REFRESH_MARGIN`` before it expires; one fetch runs at a time (a slow fetch is not
    restarted by every caller, so threads do not pile up behind an unreachable endpoint).
    """

    REFRESH_MARGIN = 300.0
    DEFAULT_LIFETIME = 1800.0  # for tokens whose expiry cannot be read

    def __init__(
        self, fetch: Callable[[], Awaitable[str]], timeout: float, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._fetch = fetch
        self.timeout = timeout
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._inflight: asyncio.Future[str] | None = None
        self.fetches = 0

    @classmethod
    def threaded(
        cls, fetch: Callable[[], str], timeout: float, *, clock: Callable[[], float] = time.time
    ) -> OutgoingToken:
        """A token fetched by a blocking function, run in a worker thread."""

        async def in_thread() -> str:
            return await asyncio.to_thread(fetch)

        return cls(in_thread, timeout, clock=clock)

    @property
    def current(self) -> str | None:
        return self._token

    async def ensure(self) -> str:
        if self._token is not None and self._clock() < self._expires_at - self.REFRESH_MARGIN:
            return self._token
        future = self._inflight
        if future is None or future.done() or future.get_loop() is not asyncio.get_running_loop():
            self.fetches += 1
            future = asyncio.ensure_future(self._fetch())
            self._inflight = future
        try:
            async with asyncio.timeout(self.timeout):
                token = await asyncio.shield(future)
        except TimeoutError:
            log.warning("the token service did not answer within %.1f s", self.timeout)
            raise IdentityUnavailable("the token service did not answer in time") from None
        except Exception as error:  # msal/requests errors and PermissionError for refused credentials
            log.warning("could not get a token for the Bot Connector: %s", type(error).__name__)
            raise IdentityUnavailable(f"token service: {type(error).__name__}") from None
        self._token = token
        self._expires_at = self._expiry_of(token)
        return token

    def _expiry_of(self, token: str) -> float:
        try:
            expires = jwt.decode(token, options={"verify_signature": False}).get("exp")
        except jwt.PyJWTError:
            expires = None
        if isinstance(expires, int | float) and not isinstance(expires, bool):
            return float(expires)
        return self._clock() + self.DEFAULT_LIFETIME
