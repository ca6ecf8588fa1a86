"""``ask`` (and a free-text question) starts encoding the question as the activity arrives, before the turn's
first storage round trip (the redelivery claim) has finished, and the handler uses that same encoding: one encode
of the question per turn."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence

from bot.answers.ranker import FloatArray
from storage.base import Row, TableStore, Value
from storage.sqlite import SqliteStore
from tests.answers.model import HistogramEncoder
from tests.kit.activities import user
from tests.kit.connector import FakeConnector
from tests.kit.harness import running_bot

QUESTION = "are there lunchtime talks I can go to"
FREE_TEXT = "any lunchtime talks this month?"  # another text: the first one's vector is cached by then
WAIT_S = 5.0


class Encoding(HistogramEncoder):
    """Counts the texts it encodes, and tells the loop when ``QUESTION`` is being encoded."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.lock = threading.Lock()
        self.started: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def encode(self, texts: Sequence[str]) -> FloatArray:
        with self.lock:
            self.texts.extend(texts)
        if self.loop is not None and self.started is not None and any("lunchtime" in t for t in texts):
            self.loop.call_soon_threadsafe(self.started.set)
        return super().encode(texts)


class ClaimWaitsForEncoding:
    """The store under test, whose redelivery claim finishes only once the question is being encoded (or after
    WAIT_S, when it records that it waited in vain)."""

    def __init__(self, inner: TableStore, encoding: Encoding) -> None:
        self.inner = inner
        self.encoding = encoding
        self.claims_waited_in_vain = 0
        self.claims = 0

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        row = await self.inner.insert(table, partition_key, row_key, data)
        if table == "dedupe" and self.encoding.started is not None:
            self.claims += 1
            try:
                await asyncio.wait_for(self.encoding.started.wait(), WAIT_S)
            except TimeoutError:
                self.claims_waited_in_vain += 1
        return row


async def test_the_question_is_encoded_while_the_claim_is_in_flight_and_only_once(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    encoding = Encoding()
    store = ClaimWaitsForEncoding(sqlite_store, encoding)
    async with running_bot(store, connector=connector, encoder=encoding) as bot:  # type: ignore[arg-type]
        await bot.say(user(1), "ask warm up the index")  # the programme index is built (its texts encoded)
        for text in (f"ask {QUESTION}", FREE_TEXT):  # the command, then free text (the fallback)
            encoding.loop, encoding.started = asyncio.get_running_loop(), asyncio.Event()
            encoding.texts.clear()
            posted = await bot.say(user(2), text)
            assert posted.status < 300
            assert store.claims_waited_in_vain == 0
            assert sum("lunchtime" in t for t in encoding.texts) == 1
            encoding.started = None
        assert store.claims == 2
