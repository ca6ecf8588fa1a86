"""Short-lived signed download links served by the bot: ``GET /files/{token}``.

A feature registers a producer for a kind (``"members.csv"``, ``"event.ics"``, ``"mydata.json"``…) and mints
links with :func:`link`; the token signs the kind and its parameters with an expiry, so nothing is stored and a
forged or expired link gets 403/404 without touching storage.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.signing import BadSignature, Expired

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

PURPOSE = "file"


@dataclass(frozen=True)
class Download:
    content_type: str
    filename: str
    body: bytes


Producer = Callable[["Services", Mapping[str, Any]], Awaitable[Download | None]]


class Links:
    def __init__(self) -> None:
        self._producers: dict[str, Producer] = {}

    def producer(self, kind: str) -> Callable[[Producer], Producer]:
        def register(fn: Producer) -> Producer:
            self._producers[kind] = fn
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
        producer = self._producers.get(str(fields.get("k")))
        params = fields.get("p")
        if producer is None or not isinstance(params, dict):
            return web.json_response({"error": "this link is not valid"}, status=404)
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
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
