"""Per-CoP indicator snapshots: the scorecard's sources digested into one stored row, recomputed when they change.

Table ``healthsnap``, one partition (``cop``) for every CoP, two rows per CoP:

- ``<CoP key>|mark``: a random token, replaced after every write to one of the CoP's sources (members, questions,
  FAQ, events and their feedback and RSVPs, recorded activities, projects, survey ballots, trend points) and after
  channel contribution markers are deleted (new ones are not a change: the digest holds those of the days before
  it was made, and readers read the days since live); written by bot/health/marking.py;
- ``<CoP key>|snap``: the CoP's digest (bot/health/digest.py) and the token it covers: the token read *before*
  the sources were read. So a snapshot is current exactly when its token is the mark's token: a write that lands
  while the digest is being made replaces the token afterwards, and the snapshot reads as stale.

Why a recomputed snapshot rather than counters updated on each write (2026-12-06): half the indicators are windows
over time (joined in the last 90 days, the median first response of the last 90 days, this term's Lunch and
Learns, six months of feedback, open questions past the answer target), which a counter cannot move forward
without a write; a digest of the sources keeps the times, so every figure is computed exactly for any ``now`` by
the same code, and the only thing that has to be right on the write paths is one blind token write.

The token write (bot/health/marking.py) runs off the turn (``background:`` work, batched: one round trip for all
the CoPs a turn touched), so no write path pays a round trip for it; until it has landed this instance treats the
CoP as stale. This module is the read side: reading, recounting, storing and refreshing the snapshots. A stale
or missing snapshot, or one that cannot give exact figures for ``now`` (a survey starts later, the
signing key changed), is never used: the reader recounts from the sources (correct, only slower) and stores the
result. The scheduler's minute tick refreshes stale snapshots (:func:`refresh_stale`), and any older than
:data:`MAX_AGE`, so a snapshot can miss a write only when a process stops between a write and its token write
(milliseconds), or when storage refuses the token write through its retries (the writing instance keeps the CoP
stale for itself and retries each minute; other instances may show the snapshot until then): the hourly refresh
bounds both to :data:`MAX_AGE`.

Two instances: the token is a blind write (any write changes it; no lost update can leave a stale snapshot looking
current), and a snapshot replaces another only under the ETag read with the token, so a slower refresh that read
an older token cannot overwrite a newer snapshot. Rows hold counts, times and pseudonyms only (no names).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.cops import Cop
from bot.domain.survey import Survey, SurveyRepo
from bot.health import digest as digests
from bot.health import history
from bot.health.digest import Digest
from bot.health.marking import PARTITION, TABLE, mark_key, marks_of, raw_store
from bot.health.providers import Sources, gather
from bot.health.snapshot import CopSnapshot
from bot.health.thresholds import DEFAULT_THRESHOLDS
from storage.base import (
    AlreadyExists,
    NotFound,
    PreconditionFailed,
    Row,
    StorageError,
    TableStore,
    Value,
    Where,
    encode_key,
)

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MAX_AGE = timedelta(hours=1)  # a snapshot older than this is refreshed by the minute tick (see the module note)
CONCURRENCY = 8  # CoPs recounted at once (ten reads each, issued together)
DECODED_KEPT = 32  # decoded digests kept per process (about 100 KB each for 200 members)


def snap_key(cop_key: str) -> str:
    return f"{cop_key}|snap"


@dataclass(frozen=True)
class Stored:
    """A CoP's two rows as read together."""

    token: str  # the mark's token ("" when nothing was ever marked)
    digest: Digest | None
    covers: str | None  # the token the snapshot covers (None: no snapshot)
    etag: str | None  # the snapshot row's, for a conditional replace
    made_at: datetime | None = None

    @property
    def current(self) -> bool:
        return self.digest is not None and self.covers == self.token


class _Decoded:
    """Digests decoded lately, by (row key, ETag): a stored row never changes under its ETag, so a copy is exact;
    it saves decoding (a few ms for 200 members) when the same CoP is looked at again. Process-wide, bounded."""

    def __init__(self, size: int = DECODED_KEPT) -> None:
        self._size = size
        self._kept: OrderedDict[tuple[str, str], Digest | None] = OrderedDict()

    def of(self, row: Row) -> Digest | None:
        key = (row.row_key, row.etag)
        if key in self._kept:
            self._kept.move_to_end(key)
            return self._kept[key]
        found = digests.decode(row.data)
        self._kept[key] = found
        while len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return found


_DECODED = _Decoded()


def _stored(mark: Row | None, snap: Row | None) -> Stored:
    token = str(mark.get("token", "")) if mark is not None else ""
    if snap is None:
        return Stored(token, None, None, None)
    made = snap.get("made_at")
    return Stored(
        token,
        _DECODED.of(snap) if snap.etag else digests.decode(snap.data),
        str(snap.get("covers", "")),
        snap.etag,
        made if isinstance(made, datetime) else None,
    )


async def read(store: TableStore, cop_id: str) -> Stored:
    """One query: the CoP's mark and snapshot."""
    key = encode_key(cop_id)
    rows = await store.query(
        TABLE, PARTITION, [Where("RowKey", "ge", mark_key(key)), Where("RowKey", "le", snap_key(key))]
    )
    by_key = {row.row_key: row for row in rows}  # a CoP whose key extends this one's may sort between: ignored
    return _stored(by_key.get(mark_key(key)), by_key.get(snap_key(key)))


async def read_all(store: TableStore) -> dict[str, Stored]:
    """One query: every CoP's mark and snapshot, by encoded CoP key."""
    pairs: dict[str, dict[str, Row]] = {}
    for row in await store.query(TABLE, PARTITION):
        cop_key, _, kind = row.row_key.rpartition("|")
        pairs.setdefault(cop_key, {})[kind] = row
    return {key: _stored(rows.get("mark"), rows.get("snap")) for key, rows in pairs.items()}


async def save(store: TableStore, cop_id: str, digest: Digest, stored: Stored) -> bool:
    """Store ``digest`` as covering ``stored.token`` unless another snapshot was written since ``stored`` was read;
    False when it was not stored (someone else's is newer, or the digest is too large for a row)."""
    props = digests.encode(digest)
    if props is None:
        log.warning("health snapshot too large for one row cop_id=%s members=%d", cop_id, len(digest.members))
        return False
    data: dict[str, Value] = {**props, "covers": stored.token, "made_at": digest.made_at}
    key = snap_key(encode_key(cop_id))
    try:
        if stored.etag is None:
            await store.insert(TABLE, PARTITION, key, data)
        else:
            await store.update(TABLE, PARTITION, key, data, etag=stored.etag)
    except (AlreadyExists, PreconditionFailed, NotFound):
        return False
    return True


async def forget_person(store: TableStore, signing_key: str, aad_id: str) -> int:
    """``forget me``: delete every snapshot that holds the person's pseudonyms (as a member or a contributor), so
    none outlives their rows; the next view recounts those CoPs from the sources, which no longer hold them."""
    markers = (digests.member_marker(signing_key, aad_id), history.contributor_marker(signing_key, aad_id))
    removed = 0
    for row in await store.query(TABLE, PARTITION):
        if not row.row_key.endswith("|snap"):
            continue
        found = digests.decode(row.data)  # compressed: the pseudonyms are inside
        if found is None or any(m in digests.as_text(found) for m in markers):
            with contextlib.suppress(NotFound, PreconditionFailed):
                await store.delete(TABLE, PARTITION, row.row_key, etag=row.etag)
                removed += 1
    return removed


def _dirty(services: Services, cop_id: str) -> bool:
    marks = marks_of(services)
    return marks is not None and marks.dirty(cop_id)


# -- reading, recounting, refreshing --------------------------------------------------------------------------


Channel = dict[str, list[tuple[str, str]]]  # encoded CoP key -> (day YYYYMMDD, contributor marker) of contrib rows


async def channel_rows(store: TableStore, cop_id: str | None, from_day: str, until_day: str = "") -> Channel:
    """``contrib`` rows from ``from_day`` on (and before ``until_day`` when given), by encoded CoP key (one CoP's
    partition, or every CoP's)."""
    pk = encode_key(cop_id) if cop_id is not None else None
    where = [Where("RowKey", "ge", from_day)] + ([Where("RowKey", "lt", until_day)] if until_day else [])
    out: Channel = {}
    for row in await store.query(history.CONTRIB, pk, where):
        out.setdefault(row.partition_key, []).append((row.row_key[:8], str(row.get("who", ""))))
    return out


def window_day(now: datetime) -> str:
    return f"{now - timedelta(days=DEFAULT_THRESHOLDS.contributors_window_days):%Y%m%d}"


def recent_day(now: datetime) -> str:
    """The first day whose contributions a digest the minute tick keeps refreshed does not hold: read live."""
    return f"{now - MAX_AGE - digests.LIVE_MARGIN:%Y%m%d}"


def _evaluate(
    services: Services, cop: Cop, digest: Digest, now: datetime, channel: Sequence[tuple[str, str]]
) -> CopSnapshot | None:
    return digests.evaluate(
        digest,
        cop,
        now,
        settings=services.settings,
        signing_key=services.settings.signing_key,
        thresholds=DEFAULT_THRESHOLDS,
        channel=channel,
    )


async def _build(services: Services, cop: Cop, now: datetime, surveys: Sequence[Survey] | None = None) -> Digest:
    return await digests.build(
        services.store,
        cop,
        now,
        settings=services.settings,
        signing_key=services.settings.signing_key,
        thresholds=DEFAULT_THRESHOLDS,
        surveys=surveys,
    )


async def keep(store: TableStore, cop: Cop, digest: Digest, stored: Stored, now: datetime) -> bool:
    """Record today's trend point when it changed, then store the snapshot (it covers the token read before the
    sources were); False when a newer snapshot won."""
    point = digests.today_point(digest, cop, now, DEFAULT_THRESHOLDS)
    if not digest.trend or digest.trend[-1] != point:
        await history.record_point(raw_store(store), cop.cop_id, point)
        digest = digests.with_point(digest, point)
    return await save(store, cop.cop_id, digest, stored)


def _keep(services: Services, cop: Cop, digest: Digest, stored: Stored, now: datetime) -> None:
    services.background.start("health snapshot", keep(services.store, cop, digest, stored, now))


async def cop_snapshot(services: Services, cop: Cop, now: datetime) -> tuple[CopSnapshot, bool]:
    """The CoP's snapshot for the scorecard, and whether it came from the stored digest. Two round trips, together,
    when the digest is current: it, and the channel contributions written since it was made (the digest holds the
    earlier ones; one more query when it is older than :data:`MAX_AGE`, as in :func:`cop_views`); otherwise a
    recount, whose digest is stored off the turn."""
    dirty = _dirty(services, cop.cop_id)  # before the read: a token write landing during it is then seen by it
    key = encode_key(cop.cop_id)
    recent = max(window_day(now), recent_day(now))
    stored, contributors = await asyncio.gather(
        read(services.store, cop.cop_id), channel_rows(services.store, cop.cop_id, recent)
    )
    channel = contributors.get(key, [])
    if stored.current and stored.digest is not None and not dirty:
        if stored.digest.live_from < recent:  # a digest the minute tick has not refreshed lately: the days between
            since = max(window_day(now), stored.digest.live_from)
            channel = (await channel_rows(services.store, cop.cop_id, since, recent)).get(key, []) + channel
        found = _evaluate(services, cop, stored.digest, now, channel)
        if found is not None:
            return found, True
    digest = await _build(services, cop, now)
    found = _evaluate(services, cop, digest, now, channel)
    if found is None:  # cannot happen for a digest made now; say so rather than show nothing
        raise RuntimeError(f"a digest made now is not usable now: {cop.cop_id}")
    _keep(services, cop, digest, stored, now)
    return found, False


async def cop_views(services: Services, cops: Sequence[Cop], now: datetime) -> dict[str, tuple[CopSnapshot, Digest]]:
    """Every CoP's snapshot and the digest it came from: one query for all stored digests and one for the channel
    contributions written since they were made (digests hold the earlier ones; one more query when a digest is
    older than :data:`MAX_AGE`); the CoPs whose digest is not current are recounted (:data:`CONCURRENCY` at a
    time) and their digests stored off the turn."""
    dirty = {c.cop_id for c in cops if _dirty(services, c.cop_id)}  # before the read, as in cop_snapshot
    recent = recent_day(now)
    stored_all, contributors = await asyncio.gather(
        read_all(services.store), channel_rows(services.store, None, recent)
    )
    older = [
        d.live_from
        for c in cops
        if (d := (stored_all.get(encode_key(c.cop_id)) or Stored("", None, None, None)).digest) is not None
        and d.live_from < recent
    ]
    if older:  # digests the minute tick has not refreshed lately: the days between, for every CoP, in one query
        earlier = await channel_rows(services.store, None, max(window_day(now), min(older)), recent)
        for key, rows in earlier.items():
            contributors[key] = rows + contributors.get(key, [])
    out: dict[str, tuple[CopSnapshot, Digest]] = {}
    stale: list[Cop] = []
    for cop in cops:
        key = encode_key(cop.cop_id)
        stored = stored_all.get(key)
        found = None
        if stored is not None and stored.current and stored.digest is not None and cop.cop_id not in dirty:
            found = _evaluate(services, cop, stored.digest, now, contributors.get(key, []))
        if found is None or stored is None or stored.digest is None:
            stale.append(cop)
        else:
            out[cop.cop_id] = (found, stored.digest)
    if stale:
        surveys = await SurveyRepo(services.store).all()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(cop: Cop) -> None:
            async with gate:
                key = encode_key(cop.cop_id)
                stored = stored_all.get(key) or Stored("", None, None, None)
                digest = await _build(services, cop, now, surveys)
                found = _evaluate(services, cop, digest, now, contributors.get(key, []))
                if found is None:
                    raise RuntimeError(f"a digest made now is not usable now: {cop.cop_id}")
                out[cop.cop_id] = (found, digest)
                _keep(services, cop, digest, stored, now)

        await asyncio.gather(*(one(c) for c in stale))
    return out


async def cop_snapshots(services: Services, cops: Sequence[Cop], now: datetime) -> dict[str, CopSnapshot]:
    """Every CoP's snapshot (:func:`cop_views` without the digests)."""
    return {cop_id: found for cop_id, (found, _) in (await cop_views(services, cops, now)).items()}


async def digests_of(services: Services, cops: Sequence[Cop], now: datetime) -> dict[str, Digest]:
    """The report's per-CoP figures: each CoP's current digest, recounting (and storing) those not current."""
    dirty = {c.cop_id for c in cops if _dirty(services, c.cop_id)}  # before the read, as in cop_snapshot
    stored_all = await read_all(services.store)
    out: dict[str, Digest] = {}
    stale: list[tuple[Cop, Stored]] = []
    for cop in cops:
        stored = stored_all.get(encode_key(cop.cop_id)) or Stored("", None, None, None)
        if stored.current and stored.digest is not None and cop.cop_id not in dirty:
            tz_ok = stored.digest.usable(now, services.settings.signing_key, stored.digest.faq_since)
            if tz_ok:
                out[cop.cop_id] = stored.digest
                continue
        stale.append((cop, stored))
    if stale:
        surveys = await SurveyRepo(services.store).all()
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(cop: Cop, stored: Stored) -> None:
            async with gate:
                digest = await _build(services, cop, now, surveys)
                out[cop.cop_id] = digest
                _keep(services, cop, digest, stored, now)

        await asyncio.gather(*(one(c, s) for c, s in stale))
    return out


async def refresh(services: Services, cop: Cop, now: datetime, surveys: Sequence[Survey] | None = None) -> bool:
    """Recount the CoP now and store its snapshot (and today's trend point); False when a newer one won."""
    stored = await read(services.store, cop.cop_id)
    digest = await _build(services, cop, now, surveys)
    return await keep(services.store, cop, digest, stored, now)


async def refresh_stale(services: Services, cops: Sequence[Cop], now: datetime) -> int:
    """The minute tick's part: refresh each CoP whose snapshot is missing, stale, or older than :data:`MAX_AGE`.
    One query when every snapshot is current. Returns the CoPs refreshed."""
    marks = marks_of(services)
    if marks is not None:
        marks.retry_unconfirmed()
    dirty = {c.cop_id for c in cops if _dirty(services, c.cop_id)}  # before the read, as in cop_snapshot
    stored_all = await read_all(services.store)
    due = []
    for cop in cops:
        stored = stored_all.get(encode_key(cop.cop_id))
        if (
            stored is None
            or not stored.current
            or stored.made_at is None
            or not timedelta(0) <= now - stored.made_at < MAX_AGE
            or cop.cop_id in dirty
        ):
            due.append(cop)
    if not due:
        return 0
    surveys = await SurveyRepo(services.store).all()
    done = 0
    for cop in due:
        try:
            done += await refresh(services, cop, now, surveys)
        except StorageError:
            log.exception("health snapshot refresh failed cop_id=%s", cop.cop_id)
    return done


# -- what the scorecard and the programme view call -----------------------------------------------------------


async def _recount(
    services: Services, cop: Cop, now: datetime, sources: Sources, surveys: Sequence[Survey] | None
) -> CopSnapshot:
    return await gather(
        services.store,
        cop,
        now,
        settings=services.settings,
        signing_key=services.settings.signing_key,
        thresholds=DEFAULT_THRESHOLDS,
        sources=sources,
        surveys=surveys,
    )


async def scorecard_snapshot(services: Services, cop: Cop, now: datetime) -> CopSnapshot:
    """The CoP's facts for the ``health`` card: from its snapshot, or the full recount when a test supplied its
    own sources (bot/health/providers.py)."""
    if services.health_sources is not None:
        return await _recount(services, cop, now, services.health_sources, None)
    found, _ = await cop_snapshot(services, cop, now)
    return found


async def scorecard_snapshots(services: Services, cops: Sequence[Cop], now: datetime) -> dict[str, CopSnapshot]:
    """Every CoP's facts for the programme view (as :func:`scorecard_snapshot`)."""
    sources = services.health_sources
    if sources is None:
        return await cop_snapshots(services, cops, now)
    surveys = await SurveyRepo(services.store).all() if cops else []
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(cop: Cop) -> CopSnapshot:
        async with gate:
            return await _recount(services, cop, now, sources, surveys)

    found = await asyncio.gather(*(one(c) for c in cops))
    return {c.cop_id: s for c, s in zip(cops, found, strict=True)}
