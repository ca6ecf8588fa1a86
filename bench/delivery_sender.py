"""The sending process of the ``delivery`` bench (bench/delivery.py): the product's outbox and SDK seam
delivering what is queued in a SQLite file, until nothing is pending or being sent. The bench kills it with
SIGKILL mid-run and starts it again.

    python -m bench.delivery_sender <sqlite file> <connector timeout s>

Its policy differs from production only in time scales, so a killed run recovers in seconds: items leased for
3 s (production: 2 min), recovery checked every second, backoff from 0.2 s.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.jobs.outbox import PARTITION, TABLE, Outbox
from bot.jobs.pacing import DeliveryPolicy
from bot.security.signing import Signer
from bot.teams import open_gateway
from storage.base import Where
from storage.sqlite import SqliteStore
from tests.kit.harness import test_settings

POLICY = DeliveryPolicy(
    rate_per_s=100.0,
    conversation_gap_s=0.0,
    concurrency=16,
    lease=timedelta(seconds=3),
    backoff_base_s=0.2,
    backoff_cap_s=1.0,
    recovery_every=timedelta(seconds=1),
)
SIGNING_KEY = "bench-delivery-signing-key"


def now() -> datetime:
    return datetime.now(UTC)


async def _open(store: SqliteStore, status: str) -> int:
    return len(await store.query(TABLE, PARTITION, [Where("status", "eq", status)]))


async def run(path: Path, timeout_s: float) -> dict[str, int]:
    store = SqliteStore(path)
    gateway = open_gateway(test_settings(connector_timeout=timeout_s), now)
    outbox = Outbox(store, gateway, Signer(SIGNING_KEY), policy=POLICY)
    sent = 0
    try:
        while True:
            sent += await outbox.flush(now())
            if not await _open(store, "pending") and not await _open(store, "sending"):
                break
            await asyncio.sleep(0.2)
    finally:
        await gateway.close()
        await store.close()
    return {"sent_by_this_process": sent}


def main() -> None:
    result = asyncio.run(run(Path(sys.argv[1]), float(sys.argv[2])))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
