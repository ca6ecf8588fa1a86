"""`digest_fanout`: the weekly digest of 1,000 CoPs through the real scheduler, outbox and SDK seam, against the
fake connector answering 10 % of sends with 429 + Retry-After: 1.

Runs in its own process (``python -m bench.digest_fanout``) so that its peak RSS is its own; prints one JSON
object. Checks: every CoP's channel gets exactly one digest, and the wall time from the tick that queues the
digests to the last delivery stays within 1.2x the minimum the configured rate allows (1,000 sends at
50 requests/s = 20 s). Setup (creating the CoPs and members) is not timed.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import SERVICES, create_app
from bot.core.clock import SystemClock
from bot.domain.cops import Cop, CopRepo, PersonRef
from bot.domain.members import MembershipRepo, Profile
from bot.features import digest
from bot.jobs.scheduler import DueWork, Scheduler
from storage.sqlite import SqliteStore
from tests.kit.activities import BOT_ID, BOT_NAME, TENANT
from tests.kit.connector import Call, FakeConnector
from tests.kit.harness import test_settings

COPS = 1000
THROTTLED_SHARE = 0.10
RATE = 50.0
BOUND = 1.2


def _rss_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1]) / 1024
    return 0.0


def _reference(service_url: str, conversation_id: str) -> dict[str, Any]:
    return {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {"id": conversation_id, "conversationType": "channel", "isGroup": True, "tenantId": TENANT},
        "channelId": "msteams",
        "serviceUrl": service_url,
    }


async def _setup(store: SqliteStore, service_url: str, now: datetime, count: int) -> list[str]:
    cops, members = CopRepo(store), MembershipRepo(store)
    conversations = []
    for n in range(count):
        conversation = f"19:fanout-{n}@thread.tacv2"
        conversations.append(conversation)
        await cops.create(
            Cop(
                cop_id=conversation,
                name=f"CoP {n}",
                tenant_id=TENANT,
                service_url=service_url,
                status="launched",
                leads=(PersonRef(f"aad-lead-{n}a", f"29:lead-{n}a", "Lead A"), PersonRef(f"aad-lead-{n}b", "", "B")),
                sponsor=PersonRef(f"aad-sponsor-{n}", "", "Sponsor"),
                home_channel_id=conversation,
                home_reference=_reference(service_url, conversation),
                created_at=now - timedelta(days=90),
            )
        )
        profile = Profile(f"aad-member-{n}", f"29:member-{n}", f"Member {n}", org_area="faculty")
        await members.join(conversation, profile, "wider", now - timedelta(days=1))
    return conversations


async def run(
    cops: int = COPS, rate: float = RATE, throttled: float = THROTTLED_SHARE, seed: int = 7
) -> dict[str, Any]:
    rss_start = _rss_mb("VmRSS")
    rng = random.Random(seed)
    delivered: Counter[str] = Counter()
    answered_429 = 0
    all_done = asyncio.Event()

    def policy(call: Call) -> tuple[int, dict[str, str]] | None:
        nonlocal answered_429
        if call.method != "POST" or "/activities" not in call.path:
            return None
        if rng.random() < throttled:
            answered_429 += 1
            return 429, {"Retry-After": "1"}
        delivered[call.conversation_id] += 1
        if len(delivered) >= cops:
            all_done.set()
        return None

    connector = FakeConnector(policy=policy)
    await connector.start()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "fanout.sqlite3")
        settings = test_settings(outbox_rate_per_s=rate, outbox_conversation_gap_s=1.0, scheduler_enabled=False)
        app = create_app(settings, store=store, clock=SystemClock())
        services = app[SERVICES]
        conversations = await _setup(store, connector.url, datetime.now(UTC), cops)
        # The tick runs the digest alone: on some days (a month's first working days, for one) the real tick also
        # queues governance reminders and health notices to the same channels, and they would count as digests.
        only_digest = DueWork()
        only_digest.add("digest", digest.run_due)
        services.due_work = only_digest
        scheduler = Scheduler(services)
        rss_ready = _rss_mb("VmRSS")
        started = time.monotonic()
        scheduler.start()  # the real sender loop (and APScheduler; its own tick finds this minute already claimed)
        try:
            ticked = await scheduler.tick()
            queued_s = time.monotonic() - started
            await asyncio.wait_for(all_done.wait(), timeout=max(120.0, 10 * cops / rate))
            elapsed = time.monotonic() - started
        finally:
            await scheduler.stop()
            await services.proactive.close()  # type: ignore[attr-defined]
            await store.close()
    await connector.close()
    minimum = cops / rate
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    missing = sum(1 for c in conversations if delivered[c] == 0)
    return {
        "cops": cops,
        "rate_per_s": rate,
        "queued": ticked.get("digest", 0),
        "queue_s": round(queued_s, 2),
        "delivered": sum(delivered.values()),
        "duplicates": duplicates,
        "missing": missing,
        "answered_429": answered_429,
        "requests": sum(delivered.values()) + answered_429,
        "elapsed_s": round(elapsed, 2),
        "minimum_s": round(minimum, 2),
        "bound_s": round(BOUND * minimum, 2),
        "ratio_to_minimum": round(elapsed / minimum, 3),
        "within_bound": elapsed <= BOUND * minimum and duplicates == 0 and missing == 0,
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_after_setup": round(rss_ready, 1),
        "rss_mb_peak": round(_rss_mb("VmHWM"), 1),
    }


def main() -> None:
    cops = int(sys.argv[1]) if len(sys.argv) > 1 else COPS
    print(json.dumps(asyncio.run(run(cops))))


if __name__ == "__main__":
    main()
