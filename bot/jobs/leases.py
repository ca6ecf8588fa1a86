"""Exactly-once scheduled work across instances and restarts: one lease row per job, claimed per period.

Table ``leases``: partition = the job kind ("digest", "governance", "due", "retention", "outbox"), row = the
job's key (e.g. the CoP id). The row remembers the latest *period* claimed (an ISO week, a month, a minute…,
always a fixed-width string so that later periods sort after earlier ones), who holds it, until when, and
whether that period's run finished.

- A run is claimed by a conditional write: ``insert`` when the row is new, else an ETag-checked ``update``;
  of two instances racing, exactly one write succeeds.
- A finished period is never run again; a period whose holder died (lease expired, not finished) is taken
  over and re-run, and the work is idempotent (outbox keys), so what was already queued is not duplicated.
- A newer period replaces an unfinished older one: after downtime only the latest missed period runs, once.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from storage.base import AlreadyExists, NotFound, PreconditionFailed, Row, TableStore, Where, encode_key

log = logging.getLogger(__name__)

TABLE = "leases"
Outcome = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class Lease:
    job: str
    key: str
    period: str
    owner: str
    until: datetime
    attempts: int
    etag: str


def _lease(job: str, key: str, row: Row) -> Lease:
    return Lease(
        job=job,
        key=key,
        period=str(row.get("period", "")),
        owner=str(row.get("owner", "")),
        until=row["until"],  # type: ignore[arg-type]
        attempts=int(row.get("attempts", 0)),
        etag=row.etag,
    )


class Leases:
    """Lease rows for one process (``owner`` names it in the rows, for diagnosis and for re-entry)."""

    def __init__(self, store: TableStore, owner: str | None = None) -> None:
        self._store = store
        self.owner = owner or secrets.token_hex(6)

    async def claim(self, job: str, key: str, period: str, now: datetime, ttl: timedelta) -> Lease | None:
        """Take the run of ``job``/``key`` for ``period``; None when it is finished, held by someone else, or
        superseded by a later period."""
        pk, rk = encode_key(job), encode_key(key)
        fresh: dict[str, Any] = {
            "period": period,
            "owner": self.owner,
            "until": now + ttl,
            "done": False,
            "attempts": 1,
            "started": now,
        }
        try:
            return _lease(job, key, await self._store.insert(TABLE, pk, rk, fresh))
        except AlreadyExists:
            pass
        try:
            row = await self._store.get(TABLE, pk, rk)
        except NotFound:
            return None  # deleted between our insert and get: the next tick tries again
        held = row.get("until") is not None and row["until"] > now  # type: ignore[operator]
        current = str(row.get("period", ""))
        if current == period:
            if row.get("done") or held:
                return None
            attempts = int(row.get("attempts", 0)) + 1
        elif current > period:
            return None  # a later period already ran: never go back
        elif held and not row.get("done"):
            return None  # the previous period is still running somewhere
        else:
            attempts = 1
        try:
            updated = await self._store.update(TABLE, pk, rk, {**fresh, "attempts": attempts}, etag=row.etag)
        except (PreconditionFailed, NotFound):
            return None
        return _lease(job, key, updated)

    async def hold(self, job: str, key: str, now: datetime, ttl: timedelta) -> Lease | None:
        """A renewable lease with no periods (e.g. "which instance runs the outbox sender"): taken when free
        or expired, extended when we already hold it."""
        pk, rk = encode_key(job), encode_key(key)
        data: dict[str, Any] = {"period": "", "owner": self.owner, "until": now + ttl, "done": False, "attempts": 1}
        try:
            return _lease(job, key, await self._store.insert(TABLE, pk, rk, data))
        except AlreadyExists:
            pass
        try:
            row = await self._store.get(TABLE, pk, rk)
        except NotFound:
            return None
        if row.get("owner") != self.owner and row["until"] > now:  # type: ignore[operator]
            return None
        try:
            return _lease(job, key, await self._store.update(TABLE, pk, rk, data, etag=row.etag))
        except (PreconditionFailed, NotFound):
            return None

    async def finish(self, lease: Lease, now: datetime, *, note: str = "") -> bool:
        """Mark the period done; False if someone else took the lease over meanwhile (they will finish it)."""
        data: dict[str, Any] = {
            "period": lease.period,
            "owner": lease.owner,
            "until": now,
            "done": True,
            "attempts": lease.attempts,
            "finished": now,
            "note": note[:500],
        }
        try:
            await self._store.update(TABLE, encode_key(lease.job), encode_key(lease.key), data, etag=lease.etag)
        except (PreconditionFailed, NotFound):
            log.warning("lease lost before finishing job=%s key=%s period=%s", lease.job, lease.key, lease.period)
            return False
        return True

    async def release(self, lease: Lease, now: datetime, *, note: str = "") -> None:
        """Give an unfinished period back (after an error) so that the next tick can retry it at once."""
        data: dict[str, Any] = {
            "period": lease.period,
            "owner": lease.owner,
            "until": now,
            "done": False,
            "attempts": lease.attempts,
            "note": note[:500],
        }
        try:
            await self._store.update(TABLE, encode_key(lease.job), encode_key(lease.key), data, etag=lease.etag)
        except (PreconditionFailed, NotFound):
            return

    async def is_done(self, job: str, key: str, period: str) -> bool:
        try:
            row = await self._store.get(TABLE, encode_key(job), encode_key(key))
        except NotFound:
            return False
        current = str(row.get("period", ""))
        return current > period or (current == period and bool(row.get("done")))

    async def forget(self, job: str, older_than: datetime) -> int:
        """Retention: drop finished lease rows of ``job`` not run since ``older_than`` (e.g. deleted CoPs)."""
        removed = 0
        rows = await self._store.query(TABLE, encode_key(job), [Where("until", "lt", older_than)], limit=1000)
        for row in rows:
            if not row.get("done"):
                continue
            try:
                await self._store.delete(TABLE, row.partition_key, row.row_key, etag=row.etag)
                removed += 1
            except (PreconditionFailed, NotFound):
                continue
        return removed


async def run_once(
    leases: Leases,
    job: str,
    key: str,
    period: str,
    now: datetime,
    work: Callable[[], Awaitable[Any]],
    *,
    ttl: timedelta = timedelta(minutes=5),
    max_attempts: int = 5,
    context: str = "",
) -> Outcome:
    """Run ``work`` for this period unless it already ran (or is running) anywhere.

    An exception releases the lease so the next tick retries (up to ``max_attempts``, then the period is
    given up and logged). Cancellation (shutdown, a killed task) leaves the lease to expire, like a crash.
    """
    lease = await leases.claim(job, key, period, now, ttl)
    if lease is None:
        return "skipped"
    try:
        await work()
    except asyncio.CancelledError:
        raise
    except Exception as error:
        ref = secrets.token_hex(4)
        log.exception(
            "job failed ref=%s job=%s key=%s period=%s attempt=%d %s", ref, job, key, period, lease.attempts, context
        )
        if lease.attempts >= max_attempts:
            log.error("job given up ref=%s job=%s key=%s period=%s", ref, job, key, period)
            await leases.finish(lease, now, note=f"gave up after {lease.attempts} attempts: {type(error).__name__}")
        else:
            await leases.release(lease, now, note=f"{type(error).__name__} ref={ref}")
        return "failed"
    await leases.finish(lease, now)
    return "done"


class PeriodsDone:
    """The latest period each scheduled job is known to have finished on this instance, per key (a CoP id, or ""
    for a programme-wide job): it saves the lease read on the job's other ticks of that period. Lost on restart,
    and never the only guard: the lease in storage decides whether a period's work runs."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, str], str] = {}

    def latest(self, job: str, key: str = "") -> str:
        """The latest period known finished ("" when none is); periods of one job sort in time order."""
        return self._latest.get((job, key), "")

    def is_done(self, job: str, period: str, key: str = "") -> bool:
        return self.latest(job, key) == period

    def mark(self, job: str, period: str, key: str = "") -> None:
        self._latest[(job, key)] = period

    def forget(self, job: str, key: str | None = None) -> None:
        """Drop what is known of ``job`` (of one key, or all; as after a restart: only storage remembers)."""
        for found in [k for k in self._latest if k[0] == job and key in (None, k[1])]:
            del self._latest[found]
