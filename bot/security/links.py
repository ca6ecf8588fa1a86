"""Short-lived signed download links served by the bot: ``GET /files/{token}``.

A feature registers a producer for a kind (``"members.csv"``, ``"event.ics"``, ``"mydata.json"``…) and mints
links with :func:`link`; the token signs the kind and its parameters with an expiry, so nothing is stored and a
forged or expired link gets 403/404 without touching storage. A kind may be registered with a :class:`Rate`: each
link of that kind then has a small token bucket, and requests beyond it get 429 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.security.signing import BadSignature, Expired

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

PURPOSE = "file"


@dataclass(frozen=True)
class Download:
    content_type: str
    filename: str
    body: bytes
    # how long the client may keep it (0: not at all); only for content that holds no personal data
    cache_seconds: int = 0


Producer = Callable[["Services", Mapping[str, Any]], Awaitable[Download | None]]


@dataclass(frozen=True)
class Rate:
    """A token bucket per link: ``burst`` requests at once, then ``per_second`` on average."""

    burst: int
    per_second: float


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float
    refusing: bool = False  # refusals are logged once per run of them


class _Buckets:
    """The buckets of the links requested lately, a bounded number (the oldest is dropped: a link not asked for
    in a while would have a full bucket anyway)."""

    def __init__(self, rate: Rate, size: int) -> None:
        self._rate = rate
        self._size = size
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float) -> tuple[float, bool]:
        """Seconds to wait before this request is allowed (0: allowed, one token taken), and whether it is the first
        refusal since the link was last served."""
        rate = self._rate
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(rate.burst), now)
            while len(self._buckets) > self._size:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(rate.burst), bucket.tokens + max(now - bucket.at, 0.0) * rate.per_second)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            bucket.refusing = False
            return 0.0, False
        first, bucket.refusing = not bucket.refusing, True
        return (1.0 - bucket.tokens) / rate.per_second, first


class Links:
    BUCKETS = 1024  # per limited kind: links requested lately

    def __init__(self) -> None:
        self._producers: dict[str, Producer] = {}
        self._limits: dict[str, _Buckets] = {}

    def producer(self, kind: str, *, rate: Rate | None = None) -> Callable[[Producer], Producer]:
        def register(fn: Producer) -> Producer:
            self._producers[kind] = fn
            if rate is not None:
                self._limits[kind] = _Buckets(rate, self.BUCKETS)
            return fn

        return register

    def link(self, services: Services, kind: str, params: Mapping[str, Any], ttl: timedelta) -> str:
        token = services.signer.sign(PURPOSE, {"k": kind, "p": dict(params)}, now=services.clock.now(), ttl=ttl)
        return f"{services.settings.public_url}/files/{token}"

    async def serve(self, services: Services, token: str) -> web.Response:
        try:
            fields = services.signer.verify(PURPOSE, token, now=services.clock.now())
        except Expired:
            log.info("refused an expired download link")
            return web.json_response({"error": "this link has expired; ask the bot for a new one"}, status=403)
        except BadSignature as error:
            log.info("refused a download link that is not ours (%s)", error)
            return web.json_response({"error": "this link is not valid"}, status=404)
        kind = str(fields.get("k"))
        producer = self._producers.get(kind)
        params = fields.get("p")
        if producer is None or not isinstance(params, dict):
            return web.json_response({"error": "this link is not valid"}, status=404)
        limit = self._limits.get(kind)
        if limit is not None:
            # keyed by the token's MAC: one bucket per link the bot made (a genuine token, so no one can fill the
            # table with made-up keys faster than by asking the bot for links)
            wait, first = limit.take(token.rsplit(".", 1)[1], services.clock.now().timestamp())
            if wait > 0:
                if first:
                    log.info("download link rate limited kind=%s retry_after=%.1fs", kind, wait)
                response = web.json_response(
                    {"error": "too many requests for this link; try again shortly"}, status=429
                )
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        download = await producer(services, params)
        if download is None:
            return web.json_response({"error": "nothing to download here any more"}, status=404)
        log.info("download served kind=%s bytes=%d", fields.get("k"), len(download.body))
        content_type, _, params = download.content_type.partition(";")
        charset = params.partition("charset=")[2].strip() or None
        return web.Response(
            body=download.body,
            content_type=content_type.strip(),
            charset=charset,
            headers={
                "Content-Disposition": f'attachment; filename="{download.filename}"',
                "Cache-Control": f"private, max-age={download.cache_seconds}" if download.cache_seconds else "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
