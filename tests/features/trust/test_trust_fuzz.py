"""Property-based fuzzing of /api/messages: thousands of malformed activities and card submits.

Never a 5xx; input that is refused (4xx) changes nothing at all; well-formed but meaningless input changes
nothing but the redelivery table. Hypothesis runs in a worker thread and drives the real app (running on the
test's event loop) over HTTP.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.health.marking import raw_store
from bot.security import audit
from storage.sqlite import SqliteStore
from tests.features.trust.kit import join, make_cop
from tests.kit.activities import team, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot
from tests.kit.recording import RecordingStore, Snapshot

T = TypeVar("T")
LEAD = user(50, "Lena Lead")
MEMBER = user(51, "Mo Member")
TEAM = team(5, "Sustainability")
SEEDED = frozenset({"cops", "people", "roster", "audit", "outbox", "dedupe"})
# What a well-formed but meaningless activity may still write: its redelivery claim, and for a channel message
# the health feature's pseudonymous "someone contributed today" marker (no content, no id).
SIDE_EFFECTS = frozenset({"dedupe", "contrib"})
FUZZ = settings(
    max_examples=600,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
    | st.sampled_from(["", " ", "help", "x" * 5000, "\u202e\x00", "<at>x</at>", "19:team-5@thread.tacv2"])
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
KNOWN_VERBS = ["help.show", "audit.show", "privacy.forget", "privacy.keep", "no.such.verb", "", "x" * 300]
verbs = st.sampled_from(KNOWN_VERBS) | st.text(max_size=30)
seals = st.sampled_from(["", "a.b", "x" * 5000]) | st.text(max_size=60)


def without_dedupe(snapshot: Snapshot) -> Snapshot:
    return {key: value for key, value in snapshot.items() if key[0] not in SIDE_EFFECTS}


@pytest.fixture
async def fuzz_bot(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    store = RecordingStore(sqlite_store)
    async with running_bot(store, connector=connector) as bot:  # type: ignore[arg-type]
        now = bot.services.clock.now()
        await make_cop(store, TEAM, connector.url, now, leads=(LEAD,))  # type: ignore[arg-type]
        await join(store, TEAM, MEMBER, now)  # type: ignore[arg-type]
        await audit.record(store, TEAM.id, now, LEAD.aad, LEAD.name, "faq add", "seed")  # type: ignore[arg-type]
        bot.notes["before"] = without_dedupe(await store.snapshot(set(SEEDED)))
        yield bot


async def assert_nothing_but_dedupe_changed(bot: BotUnderTest) -> None:
    """Belt and braces after a whole run: every table as seeded, but for redelivery claims."""
    store = raw_store(bot.services.store)
    assert isinstance(store, RecordingStore)
    assert without_dedupe(await store.snapshot(set(SEEDED | store.touched))) == bot.notes["before"]


class Driver:
    """Runs coroutines on the app's event loop from Hypothesis' worker thread."""

    def __init__(self, bot: BotUnderTest, loop: asyncio.AbstractEventLoop) -> None:
        self.bot = bot
        self.loop = loop
        store = raw_store(bot.services.store)
        assert isinstance(store, RecordingStore)
        self.store = store

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def post(self, body: bytes) -> tuple[int, str]:
        return self.run(self.bot.post_raw(body))

    def check(self, body: bytes, *, meaningless: bool) -> int:
        """Post ``body``; no 5xx, and the tables written while handling it (every write call counts, even one
        that failed) are none for refused input and at most the redelivery table for meaningless input."""
        mark = len(self.store.writes)
        status, text = self.post(body)
        assert status < 500, (status, text[:300], body[:300])
        changed = set(self.store.writes[mark:])
        if status >= 400:
            assert changed == set(), (status, changed, body[:300])
        elif meaningless:
            assert changed <= SIDE_EFFECTS, (status, changed, body[:300])
        return status


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")


def templates(bot: BotUnderTest) -> list[dict[str, Any]]:
    acts = bot.acts
    genuine = bot.sealed("audit.show", {"cop_id": TEAM.id})
    return [
        acts.personal(MEMBER, "help"),
        acts.channel(MEMBER, TEAM, "help"),
        acts.channel(LEAD, TEAM, "audit"),
        acts.execute(MEMBER, "audit.show", genuine),
        acts.execute(LEAD, "audit.show", genuine, where=TEAM),
        acts.submit(MEMBER, genuine),
        acts.personal(MEMBER, "my data"),
    ]


PATHS = [
    ("type",),
    ("id",),
    ("text",),
    ("from",),
    ("from", "id"),
    ("from", "aadObjectId"),
    ("from", "name"),
    ("conversation",),
    ("conversation", "id"),
    ("conversation", "conversationType"),
    ("conversation", "tenantId"),
    ("recipient",),
    ("recipient", "id"),
    ("serviceUrl",),
    ("channelId",),
    ("channelData",),
    ("channelData", "tenant"),
    ("channelData", "team"),
    ("channelData", "team", "id"),
    ("channelData", "channel"),
    ("entities",),
    ("value",),
    ("value", "action"),
    ("value", "action", "verb"),
    ("value", "action", "data"),
    ("value", "action", "data", "cop_id"),
    ("value", "action", "data", "_seal"),
    ("value", "verb"),
    ("value", "_seal"),
    ("name",),
    ("replyToId",),
    ("timestamp",),
    ("locale",),
    ("attachments",),
    ("membersAdded",),
]


def mutate(activity: dict[str, Any], path: tuple[str, ...], value: Any, delete: bool) -> dict[str, Any]:
    result = copy.deepcopy(activity)
    node: Any = result
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return result
        node = node[part]
    if isinstance(node, dict):
        if delete:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return result


async def test_random_json_bodies_never_500_and_change_nothing(fuzz_bot: BotUnderTest) -> None:
    driver = Driver(fuzz_bot, asyncio.get_running_loop())

    @FUZZ
    @given(json_values)
    def random_body(value: Any) -> None:
        driver.check(dumps(value), meaningless=True)

    @settings(FUZZ, max_examples=200)
    @given(st.binary(max_size=300))
    def random_bytes(body: bytes) -> None:
        driver.check(body, meaningless=True)

    await asyncio.to_thread(random_body)
    await asyncio.to_thread(random_bytes)
    await assert_nothing_but_dedupe_changed(fuzz_bot)


async def test_mutated_activities_never_500_and_change_nothing_but_dedupe(fuzz_bot: BotUnderTest) -> None:
    driver = Driver(fuzz_bot, asyncio.get_running_loop())
    bases = templates(fuzz_bot)
    statuses: set[int] = set()

    @settings(FUZZ, max_examples=1200)
    @given(
        st.sampled_from(bases),
        st.lists(st.tuples(st.sampled_from(PATHS), json_values, st.booleans()), min_size=1, max_size=4),
        st.integers(),
    )
    def mutated(base: dict[str, Any], changes: list[tuple[tuple[str, ...], Any, bool]], salt: int) -> None:
        activity = copy.deepcopy(base)
        activity["id"] = f"fuzz-{salt}"  # a fresh id each time, so redelivery dedupe does not mask handling
        for path, value, delete in changes:
            if path == ("text",) and isinstance(value, str):
                value = len(value)  # wrong types here; free text is meaningful (a question) and fuzzed below
            activity = mutate(activity, path, value, delete)
        statuses.add(driver.check(dumps(activity), meaningless=True))

    await asyncio.to_thread(mutated)
    await assert_nothing_but_dedupe_changed(fuzz_bot)
    assert statuses & {200, 201}  # some mutations stay valid and reach the handlers
    assert statuses & {400}


async def test_random_card_submits_are_refused_and_change_nothing(fuzz_bot: BotUnderTest) -> None:
    driver = Driver(fuzz_bot, asyncio.get_running_loop())
    acts = fuzz_bot.acts
    genuine_seals = [fuzz_bot.sealed(v, {"cop_id": TEAM.id, "id": "1"})["_seal"] for v in KNOWN_VERBS[:4]]
    answers: list[str] = []

    @settings(FUZZ, max_examples=700)
    @given(
        verbs,
        st.dictionaries(st.text(max_size=12), json_values, max_size=6),
        seals | st.sampled_from(genuine_seals),
        st.sampled_from([None, TEAM.id, "19:other@thread.tacv2", "", 42]),
        st.booleans(),
        st.sampled_from([MEMBER, LEAD]),
        st.booleans(),
    )
    def submit(verb: str, data: dict[str, Any], seal: str, cop_id: Any, invoke: bool, who: Any, in_team: bool) -> None:
        value: dict[str, Any] = {**data, "verb": verb, "_seal": seal}
        if cop_id is not None:
            value["cop_id"] = cop_id
        where = TEAM if in_team else None
        if invoke:
            activity = acts.execute(who, verb, where=where)
            activity["value"]["action"]["data"] = value
        else:
            activity = acts.submit(who, value, where=where)
        status = driver.check(dumps(activity), meaningless=True)
        assert status in (200, 201, 400)
        answers.append(str(status))

    await asyncio.to_thread(submit)
    await assert_nothing_but_dedupe_changed(fuzz_bot)
    assert "200" in answers


async def test_random_text_in_every_place_never_500(fuzz_bot: BotUnderTest) -> None:
    """Free text may legitimately store something (a question becomes a query), so only the status is checked."""
    driver = Driver(fuzz_bot, asyncio.get_running_loop())
    acts = fuzz_bot.acts
    builders: list[Callable[[str], dict[str, Any]]] = [
        lambda text: acts.personal(MEMBER, text),
        lambda text: acts.channel(MEMBER, TEAM, text),
        lambda text: acts.channel(MEMBER, TEAM, text, mention_bot=False),
        lambda text: acts.channel(LEAD, TEAM, text, thread="1:00000001"),
    ]

    @settings(FUZZ, max_examples=400)
    @given(st.sampled_from(builders), st.text(max_size=200) | st.sampled_from(["x" * 4001, "?" * 300]))
    def talk(build: Callable[[str], dict[str, Any]], text: str) -> None:
        status, body = driver.post(dumps(build(text)))
        assert status in (200, 201), (status, body[:300])

    await asyncio.to_thread(talk)
