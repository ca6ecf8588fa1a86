"""Durable outbox for proactive messages: write first, deliver after, within Teams' limits, each kind with the
delivery promise it chose (:mod:`bot.domain.delivery`).

Every proactive message (lead notifications, welcome cards, reminders, digests, survey invitations) is
enqueued under an idempotency key; enqueuing the same key twice is a no-op, so a job that is re-run after a
crash cannot queue what it already queued. ``flush(now)`` delivers what is due.

Table ``outbox``, partition ``q``, row = the encoded key. An item moves ``pending`` → ``sending`` (claimed
with an ETag-conditional write and a lease, so two instances never send the same item) → ``sent``; or back to
``pending`` with a later ``due`` (429: after ``Retry-After``; 412/503/unreachable: exponential backoff with
jitter); or to ``dead`` (403/404: the bot was removed or the conversation is gone — the target is recorded in
``outboxdead`` and the CoP is flagged; other 4xx; too many failures).

A send whose outcome is unknown — a timeout or dropped connection after the request went out, 500/502/504, or
a process that died while the item was ``sending`` (its lease expired) — may have reached Teams. Its kind
decides: an at-most-once item (digests, announcements, invitations, reminders) becomes ``unknown`` and is not
sent again; an at-least-once item (escalations, answers, RSVP notices) is retried like any failure and may
arrive twice. ``bench/delivery.py`` measures both promises with a connector that accepts then times out.

Pacing (per process): a token bucket at ``outbox_rate_per_s`` (Teams: ~50 requests/s per app per tenant; a
personal message costs two requests, creating the 1:1 chat and posting), and at least
``outbox_conversation_gap_s`` between sends to one conversation with at most 1,800 per hour (Teams' per-thread
limits: 7 per 3 s, 60 per 30 s, 1,800 per hour). The scheduler runs the flush loop on one instance at a time
(a lease), so the global rate holds across instances too. Memory stays bounded: due items are read in pages of
``page_size`` behind a RowKey cursor and at most two pages are in flight.

Retries are persisted state (``due``, ``failures``), not in-process retry loops, so they survive restarts;
that is why no retry library (tenacity) is used here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core import logsafe
from bot.core.turn import Person, Proactive, Reply, reference_without_person
from bot.domain.codec import dump_reference, dumps, load_reference, loads
from bot.domain.cops import CopCache, CopRepo
from bot.domain.delivery import Promise, kind_of, promise_of
from bot.domain.engagement import EngagementRepo, SentMessage, mark_sent
from bot.jobs import outbox_rows
from bot.jobs.outbox_rows import (
    DEAD_PARTITION as DEAD_PARTITION,
)
from bot.jobs.outbox_rows import (
    DEAD_TABLE as DEAD_TABLE,
)
from bot.jobs.outbox_rows import (
    PARTITION as PARTITION,
)
from bot.jobs.outbox_rows import (
    RETENTION as RETENTION,
)
from bot.jobs.outbox_rows import (
    TABLE as TABLE,
)
from bot.jobs.outbox_rows import (
    broadcast_of as broadcast_of,
)
from bot.jobs.outbox_rows import (
    target_of as target_of,
)
from bot.jobs.pacing import ConversationPacer, DeliveryPolicy, TokenBucket
from bot.security.sealing import seal_card
from bot.security.signing import Signer
from storage.base import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    Row,
    StorageError,
    TableStore,
    Where,
    encode_key,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

FLAG_PREFIX = "Delivery refused"

GONE = frozenset({403, 404})  # bot removed from the team, conversation deleted, user gone
RETRY = frozenset({0, 401, 408, 412, 500, 502, 503, 504})  # 0 = unreachable; -1 (ours) = unexpected error


@dataclass
class FlushReport:
    sent: int = 0
    throttled: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    lost_race: int = 0
    unknown: int = 0  # at-most-once items whose send may or may not have reached Teams: not sent again


class Outbox:
    def __init__(
        self,
        store: TableStore,
        proactive: Proactive,
        signer: Signer,
        *,
        policy: DeliveryPolicy | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        cop_cache: CopCache | None = None,
    ) -> None:
        self._store = store
        self._cop_cache = cop_cache  # the app's cached CoP rows, dropped when the outbox flags a CoP
        self._proactive = proactive
        self._signer = signer
        self.policy = policy or DeliveryPolicy()
        self._monotonic = monotonic
        self._bucket = TokenBucket(self.policy.rate_per_s, self.policy.burst or self.policy.rate_per_s, monotonic)
        self._pacer = ConversationPacer(self.policy.conversation_gap_s, monotonic)
        self._sending = asyncio.Semaphore(self.policy.concurrency)
        self._rng = rng or random.Random()
        self._owner = secrets.token_hex(6)
        self._last_recovery: datetime | None = None
        self._soonest_retry: float | None = None  # monotonic time of the earliest retry this process scheduled
        self.last_report = FlushReport()
        self.wakeup = asyncio.Event()  # set by enqueue: the sender loop need not wait for its next round

    # -- queueing -------------------------------------------------------------------------------------
    async def enqueue(
        self,
        key: str,
        reference: Mapping[str, Any],
        message: Reply,
        now: datetime,
        *,
        cop_id: str = "",
        personal_for: Person | None = None,
        mention: Person | None = None,
        not_before: datetime | None = None,
        fallback_reference: Mapping[str, Any] | None = None,
        fallback_message: Reply | None = None,
    ) -> bool:
        """Queue one message. ``reference`` is the target conversation, or (with ``personal_for``) any
        reference of the same tenant from which to open a 1:1 chat. Returns False if ``key`` was queued before.
        With ``fallback_reference``, a personal message that cannot be delivered (403/404: no 1:1 chat possible)
        is replaced by ``fallback_message`` posted there mentioning the person (e.g. in the CoP's channel).

        References are stored cut down (:func:`bot.core.turn.reference_without_person`): an item outlives the turn
        that queued it, and the person to reach privately is ``personal_for``, never the reference's author."""
        sealed = seal_card(mark_sent(message), self._signer, now)
        data: dict[str, Any] = {
            "key": key,
            "reference": dump_reference(reference),
            "message": outbox_rows.encode_message(sealed),
            "status": "pending",
            "attempts": 0,
            "failures": 0,
            "due": not_before or now,
            "created": now,
            "cop_id": cop_id,
            "target": target_of(reference, personal_for)[:1000],
            "run": broadcast_of(key, personal_for)[:1000],  # the broadcast it belongs to, for delivery reports
        }
        if personal_for is not None:
            data["personal_for"] = outbox_rows.person_json(personal_for)
            data["person"] = personal_for.key  # for "my data" / "forget me"
            if fallback_reference is not None and fallback_message is not None:
                data["fallback"] = dumps(
                    {
                        "reference": reference_without_person(fallback_reference),
                        "message": outbox_rows.encode_message(fallback_message),
                    }
                )
        if mention is not None:
            data["mention"] = outbox_rows.person_json(mention)
        try:
            await self._store.insert(TABLE, PARTITION, encode_key(key), data)
        except AlreadyExists:
            return False
        self.wakeup.set()
        return True

    def seconds_to_next_retry(self) -> float | None:
        """How long until the soonest retry this process scheduled is due (for the sender loop's sleep)."""
        if self._soonest_retry is None:
            return None
        return max(0.0, self._soonest_retry - self._monotonic())

    def _retry_at(self, seconds: float) -> None:
        at = self._monotonic() + seconds
        if self._soonest_retry is None or at < self._soonest_retry:
            self._soonest_retry = at

    async def pending(self, now: datetime) -> int:
        rows = await self._store.query(TABLE, PARTITION, [Where("status", "eq", "pending"), Where("due", "le", now)])
        return len(rows)

    async def status(self, key: str) -> str | None:
        try:
            row = await self._store.get(TABLE, PARTITION, encode_key(key))
        except NotFound:
            return None
        return str(row.get("status", ""))

    async def sent_activity_id(self, key: str) -> str | None:
        """The activity id a delivered item got (e.g. to update an event announcement in place)."""
        try:
            row = await self._store.get(TABLE, PARTITION, encode_key(key))
        except NotFound:
            return None
        value = row.get("activity_id")
        return str(value) if value else None

    # -- delivery -------------------------------------------------------------------------------------
    async def flush(self, now: datetime, *, keep_going: Callable[[], bool] | None = None) -> int:
        """Deliver the items due at ``now`` (each at most once); returns how many were sent. Items that are
        throttled, backed off or paced past ``max_pacing_wait_s`` stay queued for a later flush."""
        started = self._monotonic()

        def clock() -> datetime:
            return now + timedelta(seconds=self._monotonic() - started)

        report = FlushReport()
        self.last_report = report
        if self._soonest_retry is not None and self._soonest_retry <= started:
            self._soonest_retry = None  # this flush picks those up
        await self._recover(now)
        dead = await self._dead_targets()
        page = self.policy.page_size
        tasks: set[asyncio.Task[None]] = set()
        cursor = ""
        try:
            while True:
                # "now" moves on during a long flush, so retries that come due are picked up in later pages
                where = [Where("status", "eq", "pending"), Where("due", "le", clock())]
                if cursor:
                    where.append(Where("RowKey", "gt", cursor))
                rows = await self._store.query(TABLE, PARTITION, where, limit=page)
                for row in rows:
                    while len(tasks) >= 2 * page:
                        done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                        for task in done:
                            task.result()
                    tasks.add(asyncio.create_task(self._deliver(row, clock, dead, report)))
                if len(rows) < page or (keep_going is not None and not keep_going()):
                    break
                cursor = rows[-1].row_key
            if tasks:
                await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        if report.sent or report.dead or report.throttled or report.retried or report.unknown:
            log.info(
                "outbox flush sent=%d throttled=%d retried=%d dead=%d unknown=%d deferred=%d",
                report.sent,
                report.throttled,
                report.retried,
                report.dead,
                report.unknown,
                report.deferred,
            )
        return report.sent

    async def deliver(self, key: str, now: datetime) -> bool:
        """Send one queued item now (e.g. ``digest now``), through the same claim, pacing and error path."""
        try:
            row = await self._store.get(TABLE, PARTITION, encode_key(key))
        except NotFound:
            return False
        if row.get("status") != "pending" or row["due"] > now:  # type: ignore[operator]
            return False
        report = FlushReport()
        await self._deliver(row, lambda: now, await self._dead_targets(), report)
        return report.sent == 1

    async def _deliver(self, row: Row, clock: Callable[[], datetime], dead: set[str], report: FlushReport) -> None:
        key = str(row.get("key", ""))
        try:
            personal = outbox_rows.person_of(row.get("personal_for"))
            target = str(row.get("target") or "") or target_of(load_reference(row.get("reference")), personal)
            delay = self._pacer.reserve(target, self.policy.max_pacing_wait_s)
            if delay is None:
                report.deferred += 1
                return
            if delay > 0:
                await asyncio.sleep(delay)
            async with self._sending:
                if encode_key(target) in dead:  # checked after waiting: an earlier send may just have found it gone
                    await self._settle(row, {"status": "dead", "error": "target gone", "ended": clock()})
                    report.dead += 1
                    return
                await self._bucket.take(2.0 if personal is not None else 1.0)
                claimed = await self._claim(row, clock())
                if claimed is None:
                    report.lost_race += 1
                    return
                if self.policy.conversation_gap_s > 0:
                    await self._pacer.settle(target)
                await self._send(claimed, target, personal, clock, dead, report)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("outbox item failed outside delivery key=%s cop_id=%s", logsafe.key(key), row.get("cop_id"))

    async def _claim(self, row: Row, now: datetime) -> Row | None:
        data = {
            **row.data,
            "status": "sending",
            "lease_until": now + self.policy.lease,
            "owner": self._owner,
            "attempts": int(row.get("attempts", 0)) + 1,
        }
        try:
            return await self._store.update(TABLE, PARTITION, row.row_key, data, etag=row.etag)
        except (PreconditionFailed, NotFound):
            return None  # another instance took it (or it was purged)

    async def _send(
        self,
        claimed: Row,
        target: str,
        personal: Person | None,
        clock: Callable[[], datetime],
        dead: set[str],
        report: FlushReport,
    ) -> None:
        from bot.teams import DeliveryError

        reference = load_reference(claimed.get("reference"))  # an item queued before the cut may name someone
        posting = False
        try:
            if personal is not None:
                reference = await self._proactive.open_personal_chat(reference, personal)
            posting = True  # from here a failure may come after Teams accepted the message
            activity_id = await self._proactive.send(
                reference,
                outbox_rows.decode_message(claimed.get("message")),
                mention=outbox_rows.person_of(claimed.get("mention")),
            )
        except DeliveryError as error:
            maybe = posting and error.maybe_delivered
            await self._failed(claimed, target, personal, error.status, error.retry_after, clock(), dead, report, maybe)
            return
        except Exception:
            log.exception("outbox send raised key=%s cop_id=%s", logsafe.key(claimed.get("key")), claimed.get("cop_id"))
            await self._failed(claimed, target, personal, -1, None, clock(), dead, report, posting)
            return
        if await self._settle(claimed, {"status": "sent", "activity_id": activity_id or "", "sent_at": clock()}):
            report.sent += 1
        await self._remember(claimed, reference, activity_id, clock())

    async def _remember(
        self, claimed: Row, reference: Mapping[str, Any], activity_id: str | None, now: datetime
    ) -> None:
        """Which broadcast this message is, for attributing its buttons' presses later (bot/domain/engagement.py)."""
        conversation = reference.get("conversation")
        conversation_id = str(conversation.get("id") or "") if isinstance(conversation, dict) else ""
        key = str(claimed.get("key", ""))
        run = str(claimed.get("run") or broadcast_of(key, outbox_rows.person_of(claimed.get("personal_for"))))
        sent = SentMessage(run, str(claimed.get("cop_id") or ""), kind_of(key).name)
        try:
            await EngagementRepo(self._store).remember_sent(conversation_id, activity_id or "", sent, now)
        except StorageError:
            log.warning("could not record a sent message key=%s", logsafe.key(key))

    async def _failed(
        self,
        claimed: Row,
        target: str,
        personal: Person | None,
        status: int,
        retry_after: float | None,
        now: datetime,
        dead: set[str],
        report: FlushReport,
        maybe_delivered: bool = False,
    ) -> None:
        item = logsafe.key(claimed.get("key"))  # a key may hold a person's id: logged as its kind and a hash
        cop_id = str(claimed.get("cop_id", ""))
        failures = int(claimed.get("failures", 0))
        changes: dict[str, Any]
        if maybe_delivered and promise_of(str(claimed.get("key", ""))) is Promise.AT_MOST_ONCE:
            changes = {"status": "unknown", "error": f"no confirmation from Teams ({status}); not resent", "ended": now}
            report.unknown += 1
            log.warning("outbox send unconfirmed; not resending key=%s cop_id=%s status=%s", item, cop_id, status)
        elif status == 429:
            wait = retry_after if retry_after is not None else self._backoff(failures + 1)
            self._pacer.hold(target, wait)
            self._retry_at(wait)
            throttled = int(claimed.get("throttled", 0)) + 1
            changes = {
                "status": "pending",
                "due": now + timedelta(seconds=wait),
                "throttled": throttled,
                "error": "429",
            }
            report.throttled += 1
            log.info("outbox throttled key=%s cop_id=%s retry_after=%s", item, cop_id, retry_after)
        elif status in GONE:
            changes = {"status": "dead", "error": str(status), "ended": now}
            report.dead += 1
            log.warning(
                "outbox target gone key=%s cop_id=%s status=%s target=%s",
                item,
                cop_id,
                status,
                logsafe.conversation(target),
            )
            if personal is None:
                await self._mark_gone(target, cop_id, status, now)
                dead.add(encode_key(target))
            else:
                await self._fall_back(claimed, personal, now)
        elif status in RETRY or status >= 500 or status < 0:
            failures += 1
            if failures >= self.policy.max_failures:
                changes = {"status": "dead", "error": f"gave up after {failures} failures ({status})", "ended": now}
                report.dead += 1
                log.error("outbox gave up key=%s cop_id=%s status=%s failures=%d", item, cop_id, status, failures)
            else:
                wait = self._backoff(failures)
                self._retry_at(wait)
                changes = {
                    "status": "pending",
                    "due": now + timedelta(seconds=wait),
                    "failures": failures,
                    "error": str(status),
                }
                report.retried += 1
                log.info("outbox retry key=%s cop_id=%s status=%s in_s=%.1f", item, cop_id, status, wait)
        else:
            changes = {"status": "dead", "error": f"refused ({status})", "ended": now}
            report.dead += 1
            log.error("outbox item refused key=%s cop_id=%s status=%s", item, cop_id, status)
        await self._settle(claimed, changes)

    async def _fall_back(self, claimed: Row, personal: Person, now: datetime) -> None:
        """Queue the fallback of an undeliverable personal message (sent by this or the next flush)."""
        fallback = loads(claimed.get("fallback"), None)
        if not isinstance(fallback, dict) or not isinstance(fallback.get("reference"), dict):
            return
        reference = reference_without_person(fallback["reference"])
        if not reference:
            return
        await self.enqueue(
            f"{claimed.get('key')}|fallback",
            reference,
            outbox_rows.decode_message(fallback.get("message")),
            now,
            cop_id=str(claimed.get("cop_id") or ""),
            mention=personal,
        )

    def _backoff(self, failures: int) -> float:
        """Exponential backoff with "equal jitter": half fixed, half random, so retries spread out."""
        ceiling = min(self.policy.backoff_cap_s, self.policy.backoff_base_s * 2 ** max(0, failures - 1))
        return float(ceiling / 2 + self._rng.uniform(0, ceiling / 2))

    async def _settle(self, row: Row, changes: Mapping[str, Any]) -> bool:
        try:
            await self._store.update(TABLE, PARTITION, row.row_key, {**row.data, **changes}, etag=row.etag)
        except (PreconditionFailed, NotFound):
            log.warning(
                "outbox item changed under us key=%s status=%s", logsafe.key(row.get("key")), changes.get("status")
            )
            return False
        return True

    async def _mark_gone(self, target: str, cop_id: str, status: int, now: datetime) -> None:
        try:
            await self._store.upsert(
                DEAD_TABLE, DEAD_PARTITION, encode_key(target), {"cop_id": cop_id, "status": status, "at": now}
            )
            if cop_id:
                flag = f"{FLAG_PREFIX} ({status}): the bot may have been removed from this CoP's channel"
                await CopRepo(self._store, self._cop_cache).change(cop_id, now, lambda cop: replace(cop, flagged=flag))
        except StorageError:
            log.warning("could not record a gone target cop_id=%s", cop_id, exc_info=True)

    async def _dead_targets(self) -> set[str]:
        return {row.row_key for row in await self._store.query(DEAD_TABLE, DEAD_PARTITION, limit=10_000)}

    async def revive(self, cop_id: str) -> int:
        """The bot is back in the CoP's team (reinstalled): forget the CoP's gone targets."""
        revived = 0
        for row in await self._store.query(DEAD_TABLE, DEAD_PARTITION, [Where("cop_id", "eq", cop_id)], limit=10_000):
            if row.get("cop_id") == cop_id:
                with contextlib.suppress(NotFound, PreconditionFailed):
                    await self._store.delete(DEAD_TABLE, DEAD_PARTITION, row.row_key, etag=row.etag)
                    revived += 1
        return revived

    async def _recover(self, now: datetime) -> None:
        """Items left ``sending`` by a process that died mid-send: an at-most-once item becomes ``unknown`` (never
        sent again), an at-least-once item is due again (it may arrive twice)."""
        if self._last_recovery is not None and now - self._last_recovery < self.policy.recovery_every:
            return
        self._last_recovery = now
        stuck = await self._store.query(
            TABLE, PARTITION, [Where("status", "eq", "sending"), Where("lease_until", "lt", now)], limit=100
        )
        for row in stuck:
            item, cop_id = logsafe.key(row.get("key")), row.get("cop_id")
            if promise_of(str(row.get("key", ""))) is Promise.AT_LEAST_ONCE:
                log.warning("outbox item abandoned mid-send; sending again key=%s cop_id=%s", item, cop_id)
                failures = int(row.get("failures", 0)) + 1
                await self._settle(row, {"status": "pending", "due": now, "failures": failures, "error": "abandoned"})
                self.wakeup.set()
                continue
            log.warning("outbox item abandoned mid-send; not resending key=%s cop_id=%s", item, cop_id)
            await self._settle(row, {"status": "unknown", "error": "sender died mid-send", "ended": now})

    # -- personal data and retention (bot/jobs/outbox_rows.py) -----------------------------------------
    async def export_person(self, aad_id: str) -> list[dict[str, Any]]:
        return await outbox_rows.export_person(self._store, aad_id)

    async def erase_person(self, aad_id: str) -> int:
        return await outbox_rows.erase_person(self._store, aad_id)

    async def purge(self, now: datetime, older_than: timedelta = RETENTION) -> int:
        return await outbox_rows.purge(self._store, now, older_than)
