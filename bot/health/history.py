"""What the health scorecard keeps over time.

- ``healthtrend`` — partition = the CoP; one row per day (row key ``YYYY-MM-DD``, Europe/London): members, core,
  wider and the median time to first response then. Written when a scorecard is computed (at most once a day
  per CoP: the row is only written when today's is missing) and by the daily job, so the trend picture and the
  90-day growth have history. Holds counts only: no personal data.
- ``contrib`` — partition = the CoP; one row per (day, contributor) with row key ``YYYYMMDD|<marker>``, where
  marker = HMAC(signing key, AAD id): "distinct contributors in the last 30 days" without storing who. The
  marker is pseudonymous (the bot can recompute it for a person), so :func:`erase_contributions` deletes a
  person's rows on ``forget me`` and :func:`prune_contributions` drops rows past the window.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.health.snapshot import TrendPoint
from storage.base import BatchOp, StorageError, TableStore, Where, encode_key

TREND = "healthtrend"
CONTRIB = "contrib"
CONTRIB_KEEP_DAYS = 35


def day_key(now: datetime, tz: ZoneInfo) -> str:
    return now.astimezone(tz).date().isoformat()


async def trend(store: TableStore, cop_id: str, since_day: str) -> list[TrendPoint]:
    rows = await store.query(TREND, encode_key(cop_id), [Where("RowKey", "ge", since_day)])
    points: list[TrendPoint] = []
    for row in rows:
        median = row.get("median_response_hours")
        points.append(
            TrendPoint(
                day=row.row_key,
                members=int(row.get("members", 0)),
                core=int(row.get("core", 0)),
                median_response_hours=float(median) if isinstance(median, int | float) and median >= 0 else None,
            )
        )
    return points


async def record_point(store: TableStore, cop_id: str, point: TrendPoint) -> None:
    await store.upsert(
        TREND,
        encode_key(cop_id),
        point.day,
        {
            "members": point.members,
            "core": point.core,
            # -1 = not measured (a missing property would read the same, but an explicit value is clearer)
            "median_response_hours": point.median_response_hours if point.median_response_hours is not None else -1.0,
        },
    )


def contributor_marker(signing_key: str, aad_id: str) -> str:
    digest = hmac.new(signing_key.encode(), f"contributor|{aad_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


async def record_contribution(store: TableStore, signing_key: str, cop_id: str, aad_id: str, now: datetime) -> None:
    who = contributor_marker(signing_key, aad_id)
    await store.upsert(CONTRIB, encode_key(cop_id), f"{now:%Y%m%d}|{who}", {"who": who})


async def contributors_since(store: TableStore, cop_id: str, since: datetime) -> set[str]:
    rows = await store.query(CONTRIB, encode_key(cop_id), [Where("RowKey", "ge", f"{since:%Y%m%d}")])
    return {str(row.get("who", "")) for row in rows}


async def prune_contributions(store: TableStore, cop_id: str, now: datetime) -> int:
    cutoff = f"{now - timedelta(days=CONTRIB_KEEP_DAYS):%Y%m%d}"
    pk = encode_key(cop_id)
    old = [row.row_key for row in await store.query(CONTRIB, pk, [Where("RowKey", "lt", cutoff)])]
    for start in range(0, len(old), 100):
        await store.batch(CONTRIB, pk, [BatchOp("delete", key) for key in old[start : start + 100]])
    return len(old)


async def erase_contributions(store: TableStore, signing_key: str, aad_id: str) -> int:
    who = contributor_marker(signing_key, aad_id)
    erased = 0
    for row in await store.query(CONTRIB, None, [Where("who", "eq", who)]):
        try:
            await store.delete(CONTRIB, row.partition_key, row.row_key)
            erased += 1
        except StorageError:
            continue
    return erased


async def export_contributions(store: TableStore, signing_key: str, aad_id: str) -> list[str]:
    who = contributor_marker(signing_key, aad_id)
    rows = await store.query(CONTRIB, None, [Where("who", "eq", who)])
    return sorted({row.row_key.split("|", 1)[0] for row in rows})
