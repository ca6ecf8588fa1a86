"""``delivery``: does each kind of proactive message keep its promise (bot/domain/delivery.py) when Teams is unreliable?

900 messages, 150 of each kind (digests and announcements to channels; invitations, reminders and RSVP notices
to people in 1:1 chats; escalations to lead channels), queued in SQLite and delivered by a separate sending
process (bench/delivery_sender.py: the product's outbox and default SDK seam) through a fake connector that
accepts 10 % of posts and then answers too late (after the sender's 0.5 s timeout). When 30 % and again when 65 %
of the messages have arrived, the sender is killed with SIGKILL (the items it held mid-send are counted) and
started again; the third sender finishes.

Counted per kind from what the connector received (each message's text is its outbox key): duplicates (a
message received more than once) and losses (never received), beside the outbox's final statuses. The promise
holds when an at-most-once kind has no duplicate and an at-least-once kind no loss.

    python -m bench.delivery            # prints one JSON object (also run by `python -m bench delivery`)
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.delivery_sender import POLICY, SIGNING_KEY
from bot.core.turn import Person
from bot.domain.delivery import Promise, kind_of
from bot.jobs.outbox import PARTITION, TABLE, Outbox
from bot.security.signing import Signer
from storage.sqlite import SqliteStore
from tests.kit.activities import BOT_ID, BOT_NAME, TENANT
from tests.kit.connector import Call, FakeConnector

ROOT = Path(__file__).resolve().parent.parent
PER_KIND = 150
HUNG_SHARE = 0.10
TIMEOUT_S = 0.5
HANG_S = 2.0
KILLS_AT = (0.30, 0.65)
SEED = 11

# (key of item n, personal?) for each kind; keys as the features write them
KINDS: dict[str, tuple[str, bool]] = {
    "digest": ("digest|cop-{n}|2026-W49", False),
    "event announcement": ("event:ev-{n}:announce", False),
    "invitation": ("welcome|cop-{m}|aad-{n}", True),
    "reminder": ("reminder:ev-{m}:24h:aad-{n}:20261207T1200", True),
    "RSVP notice": ("promoted:ev-{m}:aad-{n}:1", True),
    "escalation": ("query|escalated|cop-{n}|q-{n}|channel", False),
}


def _reference(service_url: str, conversation_id: str) -> dict[str, Any]:
    return {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {"id": conversation_id, "conversationType": "channel", "isGroup": True, "tenantId": TENANT},
        "channelId": "msteams",
        "serviceUrl": service_url,
    }


async def _queue(path: Path, service_url: str, per_kind: int) -> dict[str, str]:
    """Queue every message; returns key -> kind."""
    store = SqliteStore(path)
    outbox = Outbox(store, _NoSends(), Signer(SIGNING_KEY), policy=POLICY)
    now = datetime.now(UTC)
    keys: dict[str, str] = {}
    try:
        for kind, (pattern, personal) in KINDS.items():
            slug = kind.split()[0].lower()
            for n in range(per_kind):
                key = pattern.format(n=n, m=n % 10)
                conversation = f"19:{slug}-{n}@thread.tacv2"
                person = Person(f"29:{slug}-{n}", f"aad-{slug}-{n}", f"Person {n}") if personal else None
                await outbox.enqueue(key, _reference(service_url, conversation), key, now, personal_for=person)
                keys[key] = kind
    finally:
        await store.close()
    return keys


class _NoSends:
    """Queuing never sends: the sending process does."""

    async def send(self, *args: Any, **kwargs: Any) -> str:
        raise AssertionError("the bench's queuing process does not send")

    async def update(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the bench's queuing process does not send")

    async def open_personal_chat(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bench's queuing process does not send")


async def _sender(path: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.delivery_sender",
        str(path),
        str(TIMEOUT_S),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def run(per_kind: int = PER_KIND) -> dict[str, Any]:
    rng = random.Random(SEED)
    received: Counter[str] = Counter()
    hung: Counter[str] = Counter()
    arrived = asyncio.Event()
    target = [0]

    def posted(call: Call) -> bool:
        return call.method == "POST" and "/activities" in call.path

    def hang(call: Call) -> float | None:
        if not posted(call):
            return None
        received[call.text] += 1
        if sum(received.values()) >= target[0]:
            arrived.set()
        if rng.random() < HUNG_SHARE:
            hung[call.text] += 1
            return HANG_S  # accepted, answered after the sender gave up
        return None

    connector = FakeConnector(hang=hang)
    await connector.start()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "delivery.sqlite3"
        keys = await _queue(path, connector.url, per_kind)
        in_flight: Counter[str] = Counter()  # kind -> items left "sending" by a killed sender
        for share in KILLS_AT:
            target[0] = int(len(keys) * share)
            arrived.clear()
            sender = await _sender(path)
            await asyncio.wait_for(arrived.wait(), 120)
            os.kill(sender.pid, signal.SIGKILL)
            await sender.wait()
            for key, status in (await _statuses(path)).items():
                if status == "sending":
                    in_flight[keys[key]] += 1
        last = await _sender(path)
        await asyncio.wait_for(last.communicate(), 300)
        statuses = await _statuses(path)
    await connector.close()
    return _report(keys, received, hung, in_flight, statuses, last.returncode, time.monotonic() - started)


async def _statuses(path: Path) -> dict[str, str]:
    store = SqliteStore(path)
    try:
        rows = await store.query(TABLE, PARTITION)
    finally:
        await store.close()
    return {str(row.get("key")): str(row.get("status")) for row in rows}


def _report(
    keys: dict[str, str],
    received: Counter[str],
    hung: Counter[str],
    in_flight: Counter[str],
    statuses: dict[str, str],
    last_exit: int | None,
    elapsed: float,
) -> dict[str, Any]:
    kinds: dict[str, Any] = {}
    for kind in KINDS:
        mine = [k for k, v in keys.items() if v == kind]
        promise = kind_of(mine[0]).promise
        final = Counter(statuses.get(k, "missing") for k in mine)
        duplicates = sum(received[k] - 1 for k in mine if received[k] > 1)
        losses = sum(1 for k in mine if received[k] == 0)
        holds = duplicates == 0 if promise is Promise.AT_MOST_ONCE else losses == 0
        kinds[kind] = {
            "promise": str(promise),
            "messages": len(mine),
            "received_once": sum(1 for k in mine if received[k] == 1),
            "duplicates": duplicates,
            "losses": losses,
            "answered_late": sum(hung[k] for k in mine),
            "sending_when_killed": in_flight[kind],
            "status": dict(sorted(final.items())),
            "unknown_but_received": sum(1 for k in mine if statuses.get(k) == "unknown" and received[k] > 0),
            "promise_holds": holds,
        }
    at_most = [v for v in kinds.values() if v["promise"] == str(Promise.AT_MOST_ONCE)]
    at_least = [v for v in kinds.values() if v["promise"] == str(Promise.AT_LEAST_ONCE)]
    return {
        "messages": len(keys),
        "answered_late_share": HUNG_SHARE,
        "kills": len(KILLS_AT),
        "sending_when_killed": sum(in_flight.values()),
        "last_sender_exit": last_exit,
        "elapsed_s": round(elapsed, 1),
        "at_most_once_duplicates": sum(v["duplicates"] for v in at_most),
        "at_most_once_losses": sum(v["losses"] for v in at_most),
        "at_least_once_losses": sum(v["losses"] for v in at_least),
        "at_least_once_duplicates": sum(v["duplicates"] for v in at_least),
        "promises_hold": all(v["promise_holds"] for v in kinds.values()) and last_exit == 0,
        "kinds": kinds,
    }


def main() -> None:
    print(json.dumps(asyncio.run(run())))


if __name__ == "__main__":
    main()
