"""A fake Microsoft Graph on 127.0.0.1 for online meetings: create, update and delete under
``/users/{id}/onlineMeetings``, recording every call; ``fail`` makes the next calls answer a status, ``hang`` makes
them never answer."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class GraphCall:
    method: str
    path: str
    body: dict[str, Any] | None
    authorization: str


@dataclass
class FakeGraph:
    calls: list[GraphCall] = field(default_factory=list)
    meetings: dict[str, dict[str, Any]] = field(default_factory=dict)
    fail: int | None = None  # answer every call with this status
    hang: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("/v1.0")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/v1.0/users/{user}/onlineMeetings", self._collection)
        app.router.add_route("*", "/v1.0/users/{user}/onlineMeetings/{meeting}", self._item)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()

    async def _record(self, request: web.Request) -> web.Response | None:
        body = await request.json() if request.can_read_body else None
        self.calls.append(GraphCall(request.method, request.path, body, request.headers.get("Authorization", "")))
        if self.hang:
            await self._release.wait()
        if self.fail is not None:
            return web.json_response({"error": {"code": "Denied", "message": "fake"}}, status=self.fail)
        return None

    async def _collection(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused is not None:
            return refused
        if request.method != "POST":
            return web.json_response({"error": {"code": "BadRequest"}}, status=405)
        meeting_id = f"MSo{next(self._ids)}"
        body = self.calls[-1].body or {}
        self.meetings[meeting_id] = dict(body)
        join = f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{meeting_id}%40thread.v2/0"
        return web.json_response({"id": meeting_id, "joinWebUrl": join, **body}, status=201)

    async def _item(self, request: web.Request) -> web.Response:
        refused = await self._record(request)
        if refused is not None:
            return refused
        meeting_id = request.match_info["meeting"]
        if meeting_id not in self.meetings:
            return web.json_response({"error": {"code": "NotFound"}}, status=404)
        if request.method == "PATCH":
            self.meetings[meeting_id].update(self.calls[-1].body or {})
            return web.json_response({"id": meeting_id, **self.meetings[meeting_id]})
        if request.method == "DELETE":
            del self.meetings[meeting_id]
            return web.Response(status=204)
        return web.json_response({"error": {"code": "BadRequest"}}, status=405)
