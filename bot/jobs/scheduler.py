"""The one owner of APScheduler: time-based work, started and stopped with the app.

Three kinds of work, all safe to run on every instance at once:

- **The minute tick** runs every *due-work function*. A feature module that has time-based work defines
  ``async def run_due(services, now) -> int`` (how many things it did) at module level; the tick finds it
  through ``bot.features.FEATURES``. Anything else can register one with ``due_work(services).add(name, fn)``
  from a startup hook. Each function runs at most once per minute across instances (a lease per minute) and
  must itself be idempotent per period: claim each period with :func:`bot.jobs.leases.run_once` and queue messages
  with stable outbox keys. The weekly digest (``bot.features.digest``), governance reminders
  (``bot.features.governance``), event reminders and query escalation all plug in this way. Per-CoP schedules
  (digest day and time, CoP time zone) live in storage and are evaluated by these functions each minute, so a
  schedule changed on one instance is honoured by all, and DST is handled by zoneinfo, not by cron.
- **The outbox sender** loops on one instance at a time (a renewable lease), delivering due items within the
  global rate; other instances take over within a minute if it dies.
- **Retention** runs daily at 03:17 in the default time zone: redelivery claims older than 2 days, finished
  outbox items older than 30 days, lease rows of CoPs gone for 60 days.

Job failures are logged with a reference, the job and the period, like turn failures; they never stop the
scheduler. Tests do not start timers: they call :meth:`Scheduler.tick`, :meth:`Scheduler.flush_once` and
:meth:`Scheduler.retention` (or a feature's ``run_due``) with a fake clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time as monotonic_time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.core.clock import zone as zone  # features read a CoP's zone from here too
from bot.domain.engagement import EngagementRepo
from bot.jobs.leases import Leases, run_once
from bot.jobs.outbox import RETENTION as OUTBOX_RETENTION
from bot.routing.middleware import purge_dedupe

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

DueFn = Callable[["Services", datetime], Awaitable[int]]
LEASE_RETENTION = timedelta(days=60)
PERIODIC_JOBS = ("digest", "governance")
SENDER_LEASE = timedelta(seconds=60)


class DueWork:
    """The functions the minute tick runs, by name, in registration order."""

    def __init__(self) -> None:
        self._functions: dict[str, DueFn] = {}

    def add(self, name: str, function: DueFn) -> None:
        if name in self._functions:
            raise ValueError(f"due work {name!r} registered twice")
        self._functions[name] = function

    def items(self) -> list[tuple[str, DueFn]]:
        return list(self._functions.items())


def due_work(services: Services) -> DueWork:
    """The app's due-work registry: each feature module's ``run_due`` (bot/features/__init__.py fills it)."""
    return services.due_work


def leases_of(services: Services) -> Leases:
    """One lease owner per app instance."""
    if services.leases is None:
        services.leases = Leases(services.store)
    return services.leases


def parse_hhmm(value: str) -> tuple[int, int] | None:
    hours, sep, minutes = value.strip().partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit() or len(minutes) != 2 or len(hours) > 2:
        return None
    h, m = int(hours), int(minutes)
    return (h, m) if 0 <= h <= 23 and 0 <= m <= 59 else None


def _local(day: date, at: tuple[int, int], tz: ZoneInfo) -> datetime:
    """Wall-clock time on ``day`` in ``tz`` as UTC; a time skipped by a DST change moves forward an hour."""
    return datetime.combine(day, time(at[0], at[1]), tzinfo=tz).astimezone(UTC)


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def weekly_occurrence(now: datetime, tz: ZoneInfo, weekday: int, hhmm: str) -> tuple[datetime, str]:
    """The latest weekly occurrence at or before ``now`` of ``weekday`` (0 = Monday) at ``hhmm`` local time,
    as (UTC instant, ISO week of its local date). Only the latest counts: missed weeks are not replayed."""
    at = parse_hhmm(hhmm) or (9, 0)
    local_today = now.astimezone(tz).date()
    day = local_today - timedelta(days=(local_today.weekday() - weekday) % 7)
    when = _local(day, at, tz)
    if when > now:
        day -= timedelta(days=7)
        when = _local(day, at, tz)
    return when, iso_week(day)


def next_weekly(now: datetime, tz: ZoneInfo, weekday: int, hhmm: str) -> datetime:
    """The first weekly occurrence after ``now`` (UTC)."""
    last, _ = weekly_occurrence(now, tz, weekday, hhmm)
    day = last.astimezone(tz).date() + timedelta(days=7)
    return _local(day, parse_hhmm(hhmm) or (9, 0), tz)


async def run_due_work(services: Services, now: datetime) -> dict[str, int]:
    """One minute tick: every due-work function once (across instances) for this minute."""
    leases = leases_of(services)
    minute = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")
    results: dict[str, int] = {}
    for name, function in due_work(services).items():
        done: list[int] = []

        async def work(function: DueFn = function, done: list[int] = done) -> None:
            done.append(await function(services, now))

        await run_once(leases, "due", name, minute, now, work, ttl=timedelta(minutes=5), max_attempts=1)
        if done:
            results[name] = done[0]
    return results


class Scheduler:
    """APScheduler (AsyncIOScheduler, UTC) driving the tick and retention, plus the outbox sender loop."""

    def __init__(self, services: Services, *, flush_idle_s: float = 1.0) -> None:
        self.services = services
        self.leases = leases_of(services)
        self._flush_idle_s = flush_idle_s
        self._aps: AsyncIOScheduler | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._sender_until: datetime | None = None  # our sender lease, renewed when half used
        self._sender_retry_at: datetime | None = None  # when another instance holds it, look again then

    # -- the jobs (public so tests drive them with a fake clock) ---------------------------------------
    async def tick(self, now: datetime | None = None) -> dict[str, int]:
        return await run_due_work(self.services, now or self.services.clock.now())

    async def flush_once(self, now: datetime | None = None, *, budget_s: float = 20.0) -> int:
        """Deliver due outbox items if this instance holds the sender lease (taken or renewed here)."""
        now = now or self.services.clock.now()
        if self._sender_until is None or now >= self._sender_until - SENDER_LEASE / 2:
            if self._sender_retry_at is not None and now < self._sender_retry_at:
                return 0
            lease = await self.leases.hold("outbox", "sender", now, SENDER_LEASE)
            if lease is None:
                self._sender_until, self._sender_retry_at = None, now + timedelta(seconds=10)
                return 0
            self._sender_until, self._sender_retry_at = lease.until, None
        deadline = monotonic_time.monotonic() + budget_s
        return await self.services.outbox.flush(now, keep_going=lambda: monotonic_time.monotonic() < deadline)

    async def retention(self, now: datetime | None = None) -> dict[str, int]:
        now = now or self.services.clock.now()
        services = self.services
        removed: dict[str, int] = {}

        async def work() -> None:
            removed["dedupe"] = await purge_dedupe(services.store, now)
            removed["outbox"] = await services.outbox.purge(now)
            removed["sent"] = await EngagementRepo(services.store).purge(now, OUTBOX_RETENTION)
            removed["leases"] = 0
            for job in PERIODIC_JOBS:
                removed["leases"] += await self.leases.forget(job, now - LEASE_RETENTION)

        day = now.astimezone(services.settings.tz).date().isoformat()
        await run_once(self.leases, "retention", "daily", day, now, work, ttl=timedelta(minutes=30))
        if removed:
            log.info("retention purged dedupe=%d outbox=%d sent=%d leases=%d", *removed.values())
        return removed

    # -- life cycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        aps = AsyncIOScheduler(timezone=UTC)
        now = datetime.now(UTC)  # APScheduler's own timers run on real time; jobs read services.clock
        aps.add_job(
            self._guarded("tick", self.tick),
            IntervalTrigger(minutes=1, timezone=UTC),
            id="tick",
            next_run_time=now + timedelta(seconds=5),
            coalesce=True,
            max_instances=1,
            misfire_grace_time=50,
        )
        aps.add_job(
            self._guarded("retention", self.retention),
            CronTrigger(hour=3, minute=17, timezone=self.services.settings.tz),
            id="retention",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )
        aps.start()
        self._aps = aps
        self._flush_task = asyncio.create_task(self._flush_loop(), name="outbox-sender")
        log.info("scheduler started owner=%s", self.leases.owner)

    async def stop(self) -> None:
        if self._aps is not None:
            self._aps.shutdown(wait=False)
            self._aps = None
        if self._flush_task is not None:
            self._flush_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flush_task
            self._flush_task = None
        log.info("scheduler stopped owner=%s", self.leases.owner)

    def _guarded(self, name: str, job: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "scheduled job failed ref=%s job=%s owner=%s", secrets.token_hex(4), name, self.leases.owner
                )

        return run

    async def _flush_loop(self) -> None:
        """Flush again at once while there is work; otherwise sleep until something is queued here, a retry
        scheduled here comes due, or ``flush_idle_s`` passes (for work queued by other instances)."""
        outbox = self.services.outbox
        while True:
            outbox.wakeup.clear()
            sent = 0
            try:
                sent = await self.flush_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sender failed ref=%s owner=%s", secrets.token_hex(4), self.leases.owner)
            if sent or outbox.last_report.deferred:
                await asyncio.sleep(0.01)
                continue
            idle = self._flush_idle_s
            retry = outbox.seconds_to_next_retry()
            if retry is not None:
                idle = min(idle, retry + 0.01)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(outbox.wakeup.wait(), idle)


async def start_scheduler(services: Services) -> None:
    """Startup hook (bot/app.py): run the scheduler on this instance when settings allow."""
    if not services.settings.scheduler_enabled:
        return
    scheduler = services.scheduler = Scheduler(services)
    scheduler.start()


async def stop_scheduler(services: Services) -> None:
    """Cleanup hook (bot/app.py)."""
    scheduler, services.scheduler = services.scheduler, None
    if scheduler is not None:
        await scheduler.stop()
