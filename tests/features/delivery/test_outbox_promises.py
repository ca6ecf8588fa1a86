"""Each kind of proactive message keeps the delivery promise it chose (bot/domain/delivery.py) when a send may or may
not have reached Teams: at most once (never sent again, recorded ``unknown``) or at least once (sent again)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.core.turn import Person
from bot.domain.delivery import Promise, kind_of, promise_of
from bot.jobs.outbox import PARTITION, TABLE, Outbox
from bot.jobs.pacing import DeliveryPolicy
from storage.base import encode_key
from storage.sqlite import SqliteStore
from tests.features.delivery.kit import channel_reference
from tests.kit.activities import team, user
from tests.kit.connector import Call, FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings

TEAM = team(7, "Research Data")
LEAD = user(7, "Lena Lead")
TIMEOUT_S = 0.4


@pytest.mark.parametrize(
    ("key", "kind", "promise"),
    [
        ("digest|cop-1|2026-W49", "digest", Promise.AT_MOST_ONCE),
        ("digest|cop-1|now|20261206T0900", "digest", Promise.AT_MOST_ONCE),
        ("programmenote|2026-W49|aad-admin", "digest", Promise.AT_MOST_ONCE),
        ("event:e1:announce", "event announcement", Promise.AT_MOST_ONCE),
        ("welcome|cop-1|aad-1", "invitation", Promise.AT_MOST_ONCE),
        ("survey|s1|aad-1", "invitation", Promise.AT_MOST_ONCE),
        ("reminder:e1:24h:aad-1:20261207T1200", "reminder", Promise.AT_MOST_ONCE),
        ("feedback:e1:aad-1", "reminder", Promise.AT_MOST_ONCE),
        ("survey-remind|s1|aad-1", "reminder", Promise.AT_MOST_ONCE),
        ("governance|cop-1|2026-12|aad-1", "reminder", Promise.AT_MOST_ONCE),
        ("promoted:e1:aad-1:3", "RSVP notice", Promise.AT_LEAST_ONCE),
        ("changed:e1:2:aad-1", "RSVP notice", Promise.AT_LEAST_ONCE),
        ("cancelled:e1:aad-1", "RSVP notice", Promise.AT_LEAST_ONCE),
        ("query|new|cop-1|q1|channel", "escalation", Promise.AT_LEAST_ONCE),
        ("query|escalated|cop-1|q1|aad-1", "escalation", Promise.AT_LEAST_ONCE),
        ("query|answer|cop-1|q1", "escalation", Promise.AT_LEAST_ONCE),
        ("query|new|cop-1|q1|aad-1|fallback", "escalation", Promise.AT_LEAST_ONCE),
        ("digest-preview|cop-1|aad-1|act-1", "report to leads", Promise.AT_LEAST_ONCE),
        ("invite|cop-1|aad-1", "invitation", Promise.AT_MOST_ONCE),
        ("imported|cop-1|aad-1", "invitation", Promise.AT_MOST_ONCE),
        ("invite-report|cop-1|run-1", "report to leads", Promise.AT_LEAST_ONCE),
        ("import-result|imp-1", "report to leads", Promise.AT_LEAST_ONCE),
        ("action|cop-1|act-1", "reminder", Promise.AT_MOST_ONCE),
        ("leadsponsor|cop-1|2026-11-01|aad-1", "reminder", Promise.AT_MOST_ONCE),
        ("project|cop-1|p1|20261206|aad-1", "project notice", Promise.AT_MOST_ONCE),
        ("proposal|new|p1|aad-1", "proposal", Promise.AT_LEAST_ONCE),
        ("proposal|decided|p1", "proposal", Promise.AT_LEAST_ONCE),
        ("something-new|x", "other", Promise.AT_MOST_ONCE),  # a new kind must choose to risk duplicates
    ],
)
def test_every_kind_of_message_has_a_promise(key: str, kind: str, promise: Promise) -> None:
    assert kind_of(key).name == kind
    assert promise_of(key) is promise


@pytest.fixture
async def bot(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(connector_timeout=TIMEOUT_S)) as b:
        yield b


def outbox_for(bot: BotUnderTest) -> Outbox:
    policy = DeliveryPolicy(conversation_gap_s=0.0, backoff_base_s=2.0)
    return Outbox(bot.services.store, bot.services.proactive, bot.services.signer, policy=policy, rng=random.Random(3))


async def status_of(bot: BotUnderTest, key: str) -> str:
    return str((await bot.services.store.get(TABLE, PARTITION, encode_key(key))).get("status"))


def stall_first_post(calls_to_stall: int = 1) -> tuple[list[int], object]:
    left = [calls_to_stall]

    def stall(call: Call) -> float | None:
        if call.method == "POST" and "/activities" in call.path and left[0] > 0:
            left[0] -= 1
            return TIMEOUT_S * 5
        return None

    return left, stall


async def test_an_at_most_once_message_that_timed_out_after_teams_took_it_is_not_sent_again(
    bot: BotUnderTest,
) -> None:
    _, stall = stall_first_post()
    bot.connector.hang = stall  # type: ignore[assignment]
    outbox = outbox_for(bot)
    now = bot.services.clock.now()
    key = "digest|cop-7|2026-W49"
    await outbox.enqueue(key, channel_reference(bot.connector.url, TEAM.general), "this week", now)
    assert await outbox.flush(now) == 0
    assert outbox.last_report.unknown == 1
    assert await status_of(bot, key) == "unknown"
    for minutes in (1, 10, 60):
        assert await outbox.flush(now + timedelta(minutes=minutes)) == 0
    assert len(bot.connector.sent(TEAM.general)) == 1  # delivered once, never repeated


async def test_an_at_least_once_message_that_timed_out_is_sent_again_and_may_arrive_twice(bot: BotUnderTest) -> None:
    _, stall = stall_first_post()
    bot.connector.hang = stall  # type: ignore[assignment]
    outbox = outbox_for(bot)
    now = bot.services.clock.now()
    key = "query|escalated|cop-7|q9|channel"
    await outbox.enqueue(key, channel_reference(bot.connector.url, TEAM.general), "nobody answered", now)
    assert await outbox.flush(now) == 0
    assert await status_of(bot, key) == "pending"
    assert await outbox.flush(now + timedelta(minutes=1)) == 1
    assert await status_of(bot, key) == "sent"
    assert len(bot.connector.sent(TEAM.general)) == 2  # the documented price: a possible second copy


@pytest.mark.parametrize(("key", "sends"), [("digest|cop-7|2026-W50", 1), ("cancelled:e3:aad-7", 2)])
async def test_a_502_after_posting_follows_the_kinds_promise(bot: BotUnderTest, key: str, sends: int) -> None:
    failed = [False]

    def bad_gateway(call: Call) -> tuple[int, dict[str, str]] | None:
        if call.method == "POST" and "/activities" in call.path and not failed[0]:
            failed[0] = True
            return 502, {}
        return None

    bot.connector.policy = bad_gateway
    outbox = outbox_for(bot)
    now = bot.services.clock.now()
    await outbox.enqueue(key, channel_reference(bot.connector.url, TEAM.general), "x", now)
    await outbox.flush(now)
    await outbox.flush(now + timedelta(minutes=5))
    attempts = [c for c in bot.connector.calls if "/activities" in c.path]
    assert len(attempts) == sends
    assert await status_of(bot, key) == ("unknown" if sends == 1 else "sent")


async def test_a_personal_chat_that_could_not_be_opened_is_retried_for_any_kind(bot: BotUnderTest) -> None:
    """Opening the 1:1 chat posts no message: its timeout is not an ambiguous send."""
    opened = [0]

    def stall_open(call: Call) -> float | None:
        if call.method == "POST" and call.path.rstrip("/") == "/v3/conversations" and opened[0] == 0:
            opened[0] += 1
            return TIMEOUT_S * 5
        return None

    bot.connector.hang = stall_open
    outbox = outbox_for(bot)
    now = bot.services.clock.now()
    key = f"welcome|cop-7|{LEAD.aad}"
    lead = Person(LEAD.id, LEAD.aad, LEAD.name)
    await outbox.enqueue(key, channel_reference(bot.connector.url, TEAM.general), "welcome", now, personal_for=lead)
    assert await outbox.flush(now) == 0
    assert await status_of(bot, key) == "pending"
    assert await outbox.flush(now + timedelta(minutes=1)) == 1
    assert len(bot.connector.sent()) == 1


async def test_an_at_least_once_item_abandoned_mid_send_is_sent_again(bot: BotUnderTest) -> None:
    store = bot.services.store
    outbox = outbox_for(bot)
    now = bot.services.clock.now()
    key = "promoted:e5:aad-7:2"
    await outbox.enqueue(key, channel_reference(bot.connector.url, TEAM.general), "you have a place", now)
    stored = await store.get(TABLE, PARTITION, encode_key(key))
    await store.update(
        TABLE,
        PARTITION,
        stored.row_key,
        {**stored.data, "status": "sending", "lease_until": now + timedelta(minutes=2)},
        etag=stored.etag,
    )
    assert await outbox.flush(now) == 0  # still leased: its sender may be alive
    assert await outbox_for(bot).flush(now + timedelta(minutes=3)) == 1
    assert await status_of(bot, key) == "sent"
    assert len(bot.connector.sent(TEAM.general)) == 1
