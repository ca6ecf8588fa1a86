"""The outbox end to end against the fake connector: exactly-once delivery, 429/Retry-After, backoff, dead
targets, pacing, the global rate, crash recovery, paging, retention and personal data."""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.core.clock import FakeClock
from bot.core.turn import JSON, Person, Reply
from bot.domain.cops import CopRepo
from bot.jobs.outbox import DEAD_TABLE, FLAG_PREFIX, PARTITION, TABLE, Outbox
from bot.jobs.pacing import DeliveryPolicy, TokenBucket
from bot.teams import DeliveryError
from storage.base import TableStore, Where, encode_key
from tests.features.delivery.kit import channel_reference, make_cop
from tests.kit.activities import team, user
from tests.kit.connector import Call
from tests.kit.harness import BotUnderTest

LEAD = user(1, "Lena Lead")
TEAM = team(1, "Data and Insight")


def fast(**overrides: Any) -> DeliveryPolicy:
    base = DeliveryPolicy(conversation_gap_s=0.0, backoff_base_s=2.0)
    return DeliveryPolicy(**{**base.__dict__, **overrides})


def outbox_for(bot: BotUnderTest, policy: DeliveryPolicy | None = None, proactive: Any = None) -> Outbox:
    services = bot.services
    return Outbox(
        services.store, proactive or services.proactive, services.signer, policy=policy or fast(), rng=random.Random(7)
    )


def now_of(bot: BotUnderTest) -> datetime:
    return bot.services.clock.now()


def advance(bot: BotUnderTest, seconds: float) -> None:
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(seconds=seconds))


async def row(store: TableStore, key: str) -> Mapping[str, Any]:
    return (await store.get(TABLE, PARTITION, encode_key(key))).data


def ok_sends(calls: list[Call]) -> Counter[str]:
    return Counter(c.conversation_id for c in calls if c.method == "POST" and "/activities" in c.path)


async def test_enqueue_is_idempotent_and_flush_delivers_once(bot: BotUnderTest) -> None:
    outbox = outbox_for(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    now = now_of(bot)
    assert await outbox.enqueue("k1", reference, "hello", now, cop_id=TEAM.id)
    assert not await outbox.enqueue("k1", reference, "hello again", now, cop_id=TEAM.id)
    assert await outbox.flush(now) == 1
    assert await outbox.flush(now) == 0
    [call] = bot.connector.sent()
    assert call.conversation_id == TEAM.general
    assert call.text == "hello"
    assert (await row(bot.services.store, "k1"))["status"] == "sent"
    assert (await outbox.sent_activity_id("k1") or "").startswith("act-")


async def test_not_before_holds_an_item_until_due(bot: BotUnderTest) -> None:
    outbox = outbox_for(bot)
    now = now_of(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    await outbox.enqueue("later", reference, "later", now, not_before=now + timedelta(hours=1))
    assert await outbox.flush(now) == 0
    assert await outbox.flush(now + timedelta(hours=1)) == 1


async def test_429_storm_with_retry_after_delivers_everything_exactly_once(bot: BotUnderTest) -> None:
    """Every conversation answers 429 (Retry-After: 1) to its first two sends; the outbox waits and retries."""
    seen: Counter[str] = Counter()

    def storm(call: Call) -> tuple[int, dict[str, str]] | None:
        if call.method == "POST" and "/activities" in call.path:
            seen[call.conversation_id] += 1
            if seen[call.conversation_id] <= 2:
                return 429, {"Retry-After": "1"}
        return None

    bot.connector.policy = storm
    outbox = outbox_for(bot)
    now = now_of(bot)
    conversations = [f"19:storm-{i}@thread.tacv2" for i in range(12)]
    for i, conversation in enumerate(conversations):
        await outbox.enqueue(f"storm-{i}", channel_reference(bot.connector.url, conversation), f"m{i}", now)
    assert await outbox.flush(now) == 0
    assert outbox.last_report.throttled == 12
    statuses = {(await row(bot.services.store, f"storm-{i}"))["status"] for i in range(12)}
    assert statuses == {"pending"}
    # Retry-After is honoured: nothing is due again before a second has passed
    assert await outbox.flush(now + timedelta(milliseconds=500)) == 0
    assert sum(seen.values()) == 12
    delivered = 0
    for step in range(1, 6):
        delivered += await outbox.flush(now + timedelta(seconds=1.5 * step))
        if delivered == 12:
            break
    assert delivered == 12
    assert ok_sends(bot.connector.calls) == Counter(conversations)  # exactly one successful send each
    assert all(n == 3 for n in seen.values())
    assert await outbox.flush(now + timedelta(minutes=5)) == 0


@pytest.mark.parametrize("status", [403, 404])
async def test_gone_target_is_marked_dead_cop_flagged_and_not_retried(bot: BotUnderTest, status: int) -> None:
    store = bot.services.store
    await make_cop(store, TEAM, bot.connector.url, leads=(LEAD,))
    reference = channel_reference(bot.connector.url, TEAM.general)
    bot.connector.policy = lambda call: (status, {}) if call.conversation_id == TEAM.general else None
    outbox = outbox_for(bot, fast(conversation_gap_s=0.3))
    now = now_of(bot)
    await outbox.enqueue("a", reference, "one", now, cop_id=TEAM.id)
    await outbox.enqueue("b", reference, "two", now, cop_id=TEAM.id)
    await outbox.enqueue(
        "dm", reference, "private", now, cop_id=TEAM.id, personal_for=Person(LEAD.id, LEAD.aad, LEAD.name)
    )
    assert await outbox.flush(now) == 1  # only the personal message gets through
    attempts = [c for c in bot.connector.calls if c.conversation_id == TEAM.general]
    assert len(attempts) == 1  # the second item to the gone channel was not even tried
    assert {(await row(store, k))["status"] for k in ("a", "b")} == {"dead"}
    assert (await row(store, "dm"))["status"] == "sent"
    cop = await CopRepo(store).get(TEAM.id)
    assert cop is not None
    assert cop.flagged.startswith(FLAG_PREFIX)
    assert str(status) in cop.flagged
    # later items to the same target die without a request; nothing is retried
    await outbox.enqueue("c", reference, "three", now, cop_id=TEAM.id)
    bot.connector.clear()
    assert await outbox.flush(now + timedelta(hours=1)) == 0
    assert bot.connector.calls == []
    assert (await row(store, "c"))["status"] == "dead"
    # reinstalling the app in the team revives the target and lifts the flag
    bot.connector.policy = None
    await bot.post(bot.acts.installed_in_team(LEAD, TEAM))
    revived = await CopRepo(store).get(TEAM.id)
    assert revived is not None
    assert revived.flagged == ""
    assert await store.query(DEAD_TABLE, None) == []
    await outbox.enqueue("d", reference, "four", now)
    assert await outbox.flush(now) == 1


@pytest.mark.parametrize(
    ("status", "key"),
    [
        (412, "t"),
        (503, "t"),
        (502, "query|new|cop|q1|lead"),  # may have been accepted: retried only for an at-least-once kind
        (504, "query|new|cop|q1|lead"),
    ],
)
async def test_transient_errors_back_off_with_jitter_then_deliver(bot: BotUnderTest, status: int, key: str) -> None:
    failures = {"left": 2}

    def flaky(call: Call) -> tuple[int, dict[str, str]] | None:
        if call.method == "POST" and failures["left"] > 0:
            failures["left"] -= 1
            return status, {}
        return None

    bot.connector.policy = flaky
    outbox = outbox_for(bot)
    now = now_of(bot)
    await outbox.enqueue(key, channel_reference(bot.connector.url, TEAM.general), "hi", now)
    assert await outbox.flush(now) == 0
    first = await row(bot.services.store, key)
    assert first["status"] == "pending"
    assert first["failures"] == 1
    wait = (first["due"] - now).total_seconds()
    assert 1.0 <= wait <= 2.5  # base 2 s, equal jitter: between 1 and 2 s (plus elapsed time)
    assert await outbox.flush(now + timedelta(seconds=wait + 0.1)) == 0
    second = await row(bot.services.store, key)
    wait2 = (second["due"] - (now + timedelta(seconds=wait + 0.1))).total_seconds()
    assert 2.0 <= wait2 <= 4.5  # doubled
    assert await outbox.flush(now + timedelta(seconds=30)) == 1
    assert len(bot.connector.sent()) == 1


async def test_jitter_spreads_retries(bot: BotUnderTest) -> None:
    bot.connector.policy = lambda call: (503, {}) if call.method == "POST" else None
    outbox = outbox_for(bot)
    now = now_of(bot)
    for i in range(8):
        await outbox.enqueue(f"j{i}", channel_reference(bot.connector.url, f"19:j{i}@thread.tacv2"), "x", now)
    await outbox.flush(now)
    dues = {(await row(bot.services.store, f"j{i}"))["due"] for i in range(8)}
    assert len(dues) == 8


class Unreachable:
    """A Proactive whose connector cannot be reached (status 0), then recovers."""

    def __init__(self, inner: Any, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    async def send(self, reference: Mapping[str, Any], message: Reply, *, mention: Person | None = None) -> str:
        if self.failures > 0:
            self.failures -= 1
            raise DeliveryError(0, None, "connection refused")
        result: str = await self.inner.send(reference, message, mention=mention)
        return result

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Reply) -> None:
        await self.inner.update(reference, activity_id, message)

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Person) -> JSON:
        result: JSON = await self.inner.open_personal_chat(reference, person)
        return result


async def test_unreachable_connector_backs_off_and_gives_up_after_max_failures(bot: BotUnderTest) -> None:
    now = now_of(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    recovering = outbox_for(bot, proactive=Unreachable(bot.services.proactive, 1))
    await recovering.enqueue("u1", reference, "eventually", now)
    assert await recovering.flush(now) == 0
    assert (await row(bot.services.store, "u1"))["error"] == "0"
    assert await recovering.flush(now + timedelta(minutes=1)) == 1

    hopeless = outbox_for(bot, fast(max_failures=3), proactive=Unreachable(bot.services.proactive, 99))
    await hopeless.enqueue("u2", reference, "never", now)
    for minute in range(10):
        await hopeless.flush(now + timedelta(minutes=minute))
    final = await row(bot.services.store, "u2")
    assert final["status"] == "dead"
    assert "3 failures" in final["error"]


async def test_other_client_errors_are_not_retried(bot: BotUnderTest) -> None:
    bot.connector.policy = lambda call: (400, {}) if call.method == "POST" else None
    outbox = outbox_for(bot)
    now = now_of(bot)
    await outbox.enqueue("bad", channel_reference(bot.connector.url, TEAM.general), "x", now)
    await outbox.flush(now)
    await outbox.flush(now + timedelta(hours=1))
    assert (await row(bot.services.store, "bad"))["status"] == "dead"
    assert len([c for c in bot.connector.calls if "activities" in c.path]) == 1


async def test_two_instances_never_send_the_same_item(bot: BotUnderTest) -> None:
    first, second = outbox_for(bot), outbox_for(bot)
    now = now_of(bot)
    bot.connector.latency = 0.01
    conversations = [f"19:pair-{i}@thread.tacv2" for i in range(40)]
    for i, conversation in enumerate(conversations):
        await first.enqueue(f"p{i}", channel_reference(bot.connector.url, conversation), f"m{i}", now)
    sent = await asyncio.gather(first.flush(now), second.flush(now), first.flush(now), second.flush(now))
    assert sum(sent) == 40
    assert ok_sends(bot.connector.calls) == Counter(conversations)


async def test_an_item_abandoned_mid_send_is_not_sent_again(bot: BotUnderTest) -> None:
    """A process died after claiming an item (maybe after Teams got it): never risk a duplicate."""
    store = bot.services.store
    outbox = outbox_for(bot)
    now = now_of(bot)
    await outbox.enqueue("crash", channel_reference(bot.connector.url, TEAM.general), "x", now)
    stored = await store.get(TABLE, PARTITION, encode_key("crash"))
    await store.update(
        TABLE,
        PARTITION,
        stored.row_key,
        {**stored.data, "status": "sending", "lease_until": now + timedelta(minutes=2)},
        etag=stored.etag,
    )
    assert await outbox.flush(now) == 0  # still leased: left alone
    assert (await row(store, "crash"))["status"] == "sending"
    later = outbox_for(bot)
    assert await later.flush(now + timedelta(minutes=3)) == 0
    assert (await row(store, "crash"))["status"] == "unknown"
    assert bot.connector.sent() == []


class Recording:
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sends: list[tuple[str, float]] = []

    async def send(self, reference: Mapping[str, Any], message: Reply, *, mention: Person | None = None) -> str:
        self.sends.append((reference["conversation"]["id"], time.monotonic()))
        result: str = await self.inner.send(reference, message, mention=mention)
        return result

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Reply) -> None:
        await self.inner.update(reference, activity_id, message)

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Person) -> JSON:
        result: JSON = await self.inner.open_personal_chat(reference, person)
        return result


async def test_sends_to_one_conversation_are_paced(bot: BotUnderTest) -> None:
    recording = Recording(bot.services.proactive)
    outbox = outbox_for(bot, fast(conversation_gap_s=0.25), proactive=recording)
    now = now_of(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    other = channel_reference(bot.connector.url, "19:other@thread.tacv2")
    for i in range(4):
        await outbox.enqueue(f"same-{i}", reference, f"m{i}", now)
    await outbox.enqueue("other", other, "elsewhere", now)
    assert await outbox.flush(now) == 5
    same = [at for conversation, at in recording.sends if conversation == TEAM.general]
    gaps = [b - a for a, b in itertools.pairwise(same)]
    assert len(gaps) == 3
    assert all(gap >= 0.24 for gap in gaps), gaps
    elsewhere = next(at for conversation, at in recording.sends if conversation != TEAM.general)
    assert elsewhere - same[0] < 0.2  # another conversation does not wait behind it


async def test_a_busy_conversation_waits_for_a_later_flush_instead_of_blocking() -> None:
    from bot.jobs.pacing import ConversationPacer

    pacer = ConversationPacer(1.0)
    delays = [pacer.reserve("busy", max_wait=2.5) for _ in range(5)]
    assert delays[0] == 0.0
    assert delays[1] is not None
    assert 0.9 <= delays[1] <= 1.0
    assert delays[3] is None  # 3 s away: deferred
    assert pacer.reserve("quiet", max_wait=2.5) == 0.0


async def test_global_token_bucket_holds_the_rate() -> None:
    bucket = TokenBucket(rate=100.0, capacity=10.0)
    started = time.monotonic()
    await asyncio.gather(*(bucket.take() for _ in range(40)))
    elapsed = time.monotonic() - started
    assert elapsed >= (40 - 10) / 100 * 0.95


async def test_due_items_are_read_in_bounded_pages(bot: BotUnderTest) -> None:
    store = bot.services.store
    limits: list[int | None] = []
    original = store.query

    async def spy(table: str, partition_key: str | None, where: Any = (), *, limit: int | None = None) -> Any:
        if table == TABLE:
            limits.append(limit)
        return await original(table, partition_key, where, limit=limit)

    store.query = spy  # type: ignore[method-assign]
    try:
        outbox = outbox_for(bot, fast(page_size=10))
        now = now_of(bot)
        for i in range(35):
            await outbox.enqueue(f"pg{i:02d}", channel_reference(bot.connector.url, f"19:pg{i}@thread.tacv2"), "x", now)
        assert await outbox.flush(now) == 35
    finally:
        store.query = original  # type: ignore[method-assign]
    assert limits
    assert all(limit is not None and limit <= 100 for limit in limits)
    assert len([limit for limit in limits if limit == 10]) >= 4


async def test_personal_messages_open_a_chat_then_send(bot: BotUnderTest) -> None:
    outbox = outbox_for(bot)
    now = now_of(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    await outbox.enqueue("dm1", reference, "just you", now, personal_for=Person(LEAD.id, LEAD.aad, LEAD.name))
    assert await outbox.deliver("dm1", now)
    assert len(bot.connector.created()) == 1
    [call] = bot.connector.sent()
    assert call.conversation_id.startswith("a:personal-")
    assert not await outbox.deliver("dm1", now)  # already sent


async def test_retention_purges_old_finished_items_only(bot: BotUnderTest) -> None:
    store = bot.services.store
    outbox = outbox_for(bot)
    old = datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    now = now_of(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    await outbox.enqueue("old-sent", reference, "x", old)
    await outbox.flush(old)
    await outbox.enqueue("old-pending", reference, "y", old, not_before=now + timedelta(days=1))
    await outbox.enqueue("new-sent", reference, "z", now)
    await outbox.flush(now)
    assert await outbox.purge(now) == 1
    keys = {r.get("key") for r in await store.query(TABLE, PARTITION)}
    assert keys == {"old-pending", "new-sent"}


async def test_personal_data_export_and_erase(bot: BotUnderTest) -> None:
    outbox = bot.services.outbox
    now = now_of(bot)
    reference = channel_reference(bot.connector.url, TEAM.general)
    await outbox.enqueue("dm-x", reference, "x", now, personal_for=Person(LEAD.id, LEAD.aad, LEAD.name))
    await outbox.enqueue("channel-x", reference, "y", now)
    source = next(s for s in bot.services.privacy.sources if s.name == "outbox")
    exported = await source.export(bot.services, LEAD.aad)
    assert [item["key"] for item in exported] == ["dm-x"]
    await source.erase(bot.services, LEAD.aad)
    assert await source.export(bot.services, LEAD.aad) == []
    assert await bot.services.store.query(TABLE, PARTITION, [Where("key", "eq", "channel-x")])
