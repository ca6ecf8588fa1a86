"""A fake Bot Connector service on 127.0.0.1 that records everything the bot sends.

It implements the v3 REST calls the bot uses (send, reply, update, delete, create conversation, members,
paged members, team details) and lets tests inject failures (429 with Retry-After, 5xx, 403/404).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass
class Call:
    method: str
    path: str
    conversation_id: str
    activity_id: str | None
    body: dict[str, Any] | None
    authorization: str = ""  # the Authorization header the bot sent

    @property
    def text(self) -> str:
        return str((self.body or {}).get("text") or "")

    @property
    def card(self) -> dict[str, Any] | None:
        for attachment in (self.body or {}).get("attachments") or []:
            if attachment.get("contentType") == "application/vnd.microsoft.card.adaptive":
                content: dict[str, Any] = attachment["content"]
                return content
        return None

    @property
    def card_text(self) -> str:
        """Every string in the card, joined: handy for `in` assertions."""
        out: list[str] = []

        def walk(node: Any) -> None:
            if isinstance(node, str):
                out.append(node)
            elif isinstance(node, dict):
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.card)
        return "\n".join(out)

    @property
    def everything(self) -> str:
        return self.text + "\n" + self.card_text


@dataclass
class Member:
    id: str
    aad_object_id: str
    name: str
    email: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "aadObjectId": self.aad_object_id,
            "name": self.name,
            "givenName": self.name.split()[0],
            "surname": self.name.split()[-1],
            "email": self.email or f"{self.name.split()[0].lower()}@example.ac.uk",
            "userPrincipalName": self.email or f"{self.name.split()[0].lower()}@example.ac.uk",
            "tenantId": "tenant-1",
            "userRole": "user",
        }


Policy = Callable[["Call"], tuple[int, dict[str, str]] | None]


@dataclass
class FakeConnector:
    calls: list[Call] = field(default_factory=list)
    rosters: dict[str, list[Member]] = field(default_factory=dict)  # team or conversation id -> members
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)  # team id -> details
    personal_chats: dict[str, str] = field(default_factory=dict)  # 1:1 chat the bot opened -> the member's user id
    policy: Policy | None = None  # return (status, headers) to fail a call
    hang: Callable[[Call], float | None] | None = None  # seconds to stall AFTER accepting a call (then answer)
    latency: float = 0.0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _server: TestServer | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the connector first"
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1")
        await self._server.start_server()

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def clear(self) -> None:
        self.calls.clear()

    # -- queries for tests ---------------------------------------------------------------------------
    def sent(self, conversation_id: str | None = None) -> list[Call]:
        """Messages posted (sends and replies), optionally to one conversation."""
        return [
            c
            for c in self.calls
            if c.method == "POST"
            and "/activities" in c.path
            and (conversation_id is None or c.conversation_id == conversation_id)
        ]

    def updates(self) -> list[Call]:
        return [c for c in self.calls if c.method == "PUT"]

    def created(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.path.rstrip("/") == "/v3/conversations"]

    def recipient(self, call: Call) -> str:
        """Who a message reached: the member of the 1:1 chat the bot opened (a stored reference names no
        person, so the body need not), else the body's recipient."""
        return self.personal_chats.get(call.conversation_id) or str(
            ((call.body or {}).get("recipient") or {}).get("id") or ""
        )

    def last(self) -> Call:
        sent = self.sent()
        assert sent, "the bot sent nothing"
        return sent[-1]

    async def wait_for(self, predicate: Callable[[list[Call]], bool], limit_s: float = 5.0) -> None:
        async def poll() -> None:
            while not predicate(self.calls):
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(poll(), limit_s)

    # -- the service -----------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        parts = path.strip("/").split("/")
        body: dict[str, Any] | None = None
        if request.can_read_body:
            try:
                body = json.loads(await request.read())
            except ValueError:
                return web.json_response({"error": {"code": "BadSyntax"}}, status=400)
        conversation_id = parts[2] if len(parts) > 2 and parts[1] == "conversations" else ""
        activity_id = parts[4] if len(parts) > 4 and parts[3] == "activities" else None
        call = Call(request.method, path, conversation_id, activity_id, body, request.headers.get("Authorization", ""))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.policy is not None:
            failure = self.policy(call)
            if failure is not None:
                status, headers = failure
                call.method = f"FAILED-{call.method}"
                self.calls.append(call)
                self.changed.set()
                return web.json_response(
                    {"error": {"code": "Throttled", "message": "fake"}}, status=status, headers=headers
                )
        self.calls.append(call)
        self.changed.set()
        stall = self.hang(call) if self.hang is not None else None
        if stall:
            await asyncio.sleep(stall)  # accepted (recorded) but the answer comes too late for the caller
        if parts[:1] != ["v3"]:
            return web.json_response({"error": "not found"}, status=404)
        if parts[1] == "teams" and len(parts) == 3:
            team = self.teams.get(parts[2])
            if team is None:
                return web.json_response({"error": {"code": "NotFound"}}, status=404)
            return web.json_response(team)
        if parts[1] == "conversations" and len(parts) == 2 and request.method == "POST":
            created = f"a:personal-{next(self._ids)}"
            members = (body or {}).get("members") or [{}]
            self.personal_chats[created] = str(members[0].get("id") or "")
            return web.json_response({"id": created, "activityId": f"act-{next(self._ids)}"})
        if parts[1] == "conversations" and len(parts) >= 4 and parts[3] in ("members", "pagedmembers"):
            members = self._roster(conversation_id)
            if len(parts) == 5:
                wanted = parts[4]
                for member in members:
                    if wanted in (member.id, member.aad_object_id):
                        return web.json_response(member.as_json())
                return web.json_response({"error": {"code": "MemberNotFoundInConversation"}}, status=404)
            if parts[3] == "pagedmembers":  # pages of pageSize, as the service pages big teams
                asked, token = request.query.get("pageSize", ""), request.query.get("continuationToken", "")
                size = int(asked) if asked.isdigit() and int(asked) > 0 else max(1, len(members))
                start = int(token) if token.isdigit() else 0
                page: dict[str, Any] = {"members": [m.as_json() for m in members[start : start + size]]}
                if start + size < len(members):
                    page["continuationToken"] = str(start + size)
                return web.json_response(page)
            return web.json_response([m.as_json() for m in members])
        if parts[1] == "conversations" and len(parts) >= 4 and parts[3] == "activities":
            if request.method == "POST":
                return web.json_response({"id": f"act-{next(self._ids)}"})
            if request.method == "PUT":
                return web.json_response({"id": activity_id})
            if request.method == "DELETE":
                return web.Response(status=200)
        return web.json_response({"error": "unsupported"}, status=404)

    def _roster(self, conversation_id: str) -> list[Member]:
        base = conversation_id.split(";")[0]
        return self.rosters.get(base, [])
