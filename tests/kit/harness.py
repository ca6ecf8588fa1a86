"""Run the real app on 127.0.0.1 against the fake connector and talk to it like Teams does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from bot.answers.ranker import Encoder
from bot.app import SERVICES, create_app
from bot.core.clock import Clock, FakeClock
from bot.core.config import Settings
from bot.core.turn import Card
from bot.security.sealing import seal_card
from bot.services import Services
from storage.base import TableStore
from tests.kit.activities import Activities, Team, User
from tests.kit.connector import Call, FakeConnector

TEST_SIGNING_KEY = "test-signing-key-0123456789abcdef0123456789"


def test_settings(**overrides: Any) -> Settings:
    base = Settings(
        host="127.0.0.1",
        port=0,
        public_url="http://127.0.0.1:3978",
        signing_key=TEST_SIGNING_KEY,
        scheduler_enabled=False,
        programme_admins=frozenset({"aad-admin"}),
        outbox_conversation_gap_s=0.0,  # feature tests flush several messages to one chat; pacing has its own tests
        # off: many tests change a CoP on one instance (or straight in the store) and read it on another at once;
        # tests/features/membership/test_cop_cache.py turns it on and covers hits, invalidation and expiry
        cop_cache_seconds=0.0,
        # BM25 alone: loading the sentence model per app would slow every FAQ test; tests of the semantic
        # ranker pass one shared encoder (tests/answers/model.py)
        model_dir=None,
    )
    return replace(base, **overrides)


@dataclass
class Posted:
    status: int
    body: Any
    calls: list[Call]  # connector calls the bot made while handling this activity

    @property
    def texts(self) -> list[str]:
        return [c.everything for c in self.calls if c.method in ("POST", "PUT")]

    @property
    def everything(self) -> str:
        return "\n".join(self.texts) + ("\n" + str(self.body) if self.body else "")

    @property
    def card(self) -> dict[str, Any] | None:
        """The card of an invoke answer, or of the last message sent."""
        if isinstance(self.body, dict) and self.body.get("type") == "application/vnd.microsoft.card.adaptive":
            value: dict[str, Any] = self.body["value"]
            return value
        for call in reversed(self.calls):
            if call.card is not None:
                return call.card
        return None


@dataclass
class BotUnderTest:
    http: aiohttp.ClientSession
    server: TestServer
    connector: FakeConnector
    acts: Activities
    services: Services
    notes: dict[str, Any] = field(default_factory=dict)  # what a test keeps beside the bot (e.g. a snapshot)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/api/messages"))

    async def post(self, activity: dict[str, Any], *, headers: dict[str, str] | None = None) -> Posted:
        before = len(self.connector.calls)
        async with self.http.post(self.url, json=activity, headers=headers) as response:
            text = await response.text()
            try:
                body = await response.json(content_type=None) if text else None
            except ValueError:
                body = text
            return Posted(response.status, body, self.connector.calls[before:])

    async def post_raw(self, data: bytes, content_type: str = "application/json") -> tuple[int, str]:
        async with self.http.post(self.url, data=data, headers={"Content-Type": content_type}) as response:
            return response.status, await response.text()

    async def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        async with self.http.get(str(self.server.make_url(path))) as response:
            return response.status, await response.read(), dict(response.headers)

    # conveniences ----------------------------------------------------------------------------------------
    async def say(self, sender: User, text: str) -> Posted:
        return await self.post(self.acts.personal(sender, text))

    async def say_in(self, sender: User, where: Team, text: str, **kwargs: Any) -> Posted:
        return await self.post(self.acts.channel(sender, where, text, **kwargs))

    async def click(
        self, sender: User, verb: str, data: dict[str, Any] | None = None, *, where: Team | None = None
    ) -> Posted:
        return await self.post(self.acts.execute(sender, verb, data, where=where))

    async def submit(self, sender: User, value: dict[str, Any], *, where: Team | None = None) -> Posted:
        return await self.post(self.acts.submit(sender, value, where=where))

    def sealed(self, verb: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Card data as the bot itself would seal it (for tests that need a genuine button without a card)."""
        content = {"type": "Action.Execute", "verb": verb, "data": {"verb": verb, **(data or {})}}
        sealed = seal_card(Card({"actions": [content]}), self.services.signer, self.services.clock.now())
        assert isinstance(sealed, Card)
        result: dict[str, Any] = sealed.content["actions"][0]["data"]
        return result

    async def press(
        self,
        sender: User,
        card: dict[str, Any] | None,
        button: str,
        inputs: dict[str, Any] | None = None,
        *,
        where: Team | None = None,
    ) -> Posted:
        """Press the button titled (or with verb) ``button`` on a card the bot sent, as Teams would: an
        Action.Execute becomes an adaptiveCard/action invoke, an Action.Submit a message with a value; input
        values are merged into the button's data."""
        assert card is not None, "no card to press a button on"
        action = find_action(card, button)
        data = {**action["data"], **(inputs or {})}
        if action["type"] == "Action.Execute":
            activity = self.acts.execute(sender, action["verb"], where=where)
            activity["value"]["action"]["data"] = data
            return await self.post(activity)
        return await self.post(self.acts.submit(sender, data, where=where))


def find_action(card: dict[str, Any], button: str) -> dict[str, Any]:
    """The first Action.Execute/Action.Submit in ``card`` whose title or verb is ``button``."""
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("Action.Execute", "Action.Submit") and button in (
                node.get("title"),
                (node.get("data") or {}).get("verb"),
            ):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    assert found, f"no button {button!r} on the card"
    return found[0]


@asynccontextmanager
async def running_bot(
    store: TableStore,
    *,
    connector: FakeConnector | None = None,
    clock: Clock | None = None,
    settings: Settings | None = None,
    token_source: Callable[[str], str] | None = None,
    encoder: Encoder | None = None,
) -> AsyncIterator[BotUnderTest]:
    """Start the app (real aiohttp server on 127.0.0.1) against ``store`` and a fake connector."""
    own_connector = connector is None
    if connector is None:
        connector = FakeConnector()
        await connector.start()
    app = create_app(
        settings or test_settings(),
        store=store,
        clock=clock or FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC)),
        token_source=token_source,
        encoder=encoder,
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    http = aiohttp.ClientSession()
    try:
        yield BotUnderTest(http, server, connector, Activities(connector.url), app[SERVICES])
    finally:
        await http.close()
        await server.close()
        if own_connector:
            await connector.close()


def sqlite_path(tmp: Path) -> Path:
    return tmp / "copbot.sqlite3"


test_settings.__test__ = False  # type: ignore[attr-defined]  # a factory, not a test
