"""The CoP registry: one row per Teams team where the app is installed (table ``cops``, partition ``cop``).

A CoP's id is its Teams team id (19:…@thread.…). All CoPs share one partition so that the directory and the
programme view are a single query (~22 CoPs, a few KB each).

Every turn in a CoP resolves the caller's role from its row (leads, sponsor, active), so the row is read far more
often than it is written. ``CopCache`` keeps each row for a few seconds per process (``COPBOT_COP_CACHE_SECONDS``)
for that read only. Trade-off: a write made through ``CopRepo`` on this instance (built with the cache, see
``cop_repo``) drops the copy at once, but a change made on ANOTHER instance (e.g. ``leads remove``) is seen here
only when the copy expires, so for up to that many seconds a removed lead may still act as a lead on an instance
that served them just before. Writes never use a cached row: ``change`` reads afresh and writes with the ETag.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, Protocol

from bot.core.expiring import ExpiringCopies
from bot.core.turn import reference_without_person
from bot.domain.codec import dump_reference, dumps, load_reference, loads, written_before_the_cut
from storage.base import NotFound, PreconditionFailed, Row, TableStore, encode_key

TABLE = "cops"
PARTITION = "cop"
REFERENCES = ("home_reference", "lead_channel_reference")  # stored conversation references (no person: see _as_stored)
Status = Literal["launched", "preparing", "paused"]


@dataclass(frozen=True)
class PersonRef:
    """Who holds a governance role: AAD object id (stable), Teams user id (to message), display name."""

    aad_id: str
    user_id: str
    name: str

    def as_json(self) -> dict[str, str]:
        return {"aad_id": self.aad_id, "user_id": self.user_id, "name": self.name}

    @classmethod
    def from_json(cls, data: Any) -> PersonRef | None:
        if not isinstance(data, dict) or not data.get("aad_id"):
            return None
        return cls(str(data["aad_id"]), str(data.get("user_id") or ""), str(data.get("name") or ""))


@dataclass(frozen=True)
class Cop:
    cop_id: str  # the Teams team id
    name: str
    tenant_id: str
    service_url: str
    aad_group_id: str = ""
    practice_area: str = ""  # free text typed before the programme kept a list of areas (shown when no id is set)
    practice_area_id: str = ""  # one of the programme's practice areas (bot/domain/practice_areas.py)
    proposal_id: str = ""  # the approved proposal this CoP was launched from (bot/domain/proposals.py), if any
    status: Status = "preparing"
    active: bool = True
    leads: tuple[PersonRef, ...] = ()
    sponsor: PersonRef | None = None
    terms_of_reference_url: str = ""
    objectives: str = ""
    home_channel_id: str = ""
    home_reference: dict[str, Any] = field(default_factory=dict)  # conversation reference of the home channel
    lead_channel_reference: dict[str, Any] = field(default_factory=dict)  # where lead notifications go, if set
    answer_target_hours: int = 48
    timezone: str = "Europe/London"
    digest_day: int = 0  # Monday
    digest_time: str = "09:00"
    digest_enabled: bool = True
    flagged: str = ""  # e.g. "bot removed from channel" (set by the outbox on 403/404)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    etag: str = ""

    def is_lead(self, aad_id: str) -> bool:
        return any(lead.aad_id == aad_id for lead in self.leads)

    def is_sponsor(self, aad_id: str) -> bool:
        return self.sponsor is not None and self.sponsor.aad_id == aad_id


def _to_row(cop: Cop) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cop_id": cop.cop_id,
        "name": cop.name,
        "tenant_id": cop.tenant_id,
        "service_url": cop.service_url,
        "aad_group_id": cop.aad_group_id,
        "practice_area": cop.practice_area,
        "practice_area_id": cop.practice_area_id,
        "proposal_id": cop.proposal_id,
        "status": cop.status,
        "active": cop.active,
        "leads": dumps([lead.as_json() for lead in cop.leads]),
        "sponsor": dumps(cop.sponsor.as_json() if cop.sponsor else None),
        "terms_of_reference_url": cop.terms_of_reference_url,
        "objectives": cop.objectives,
        "home_channel_id": cop.home_channel_id,
        "home_reference": dump_reference(cop.home_reference),
        "lead_channel_reference": dump_reference(cop.lead_channel_reference),
        "answer_target_hours": cop.answer_target_hours,
        "timezone": cop.timezone,
        "digest_day": cop.digest_day,
        "digest_time": cop.digest_time,
        "digest_enabled": cop.digest_enabled,
        "flagged": cop.flagged,
    }
    if cop.created_at is not None:
        data["created_at"] = cop.created_at
    if cop.updated_at is not None:
        data["updated_at"] = cop.updated_at
    return data


def _as_stored(cop: Cop) -> Cop:
    """``cop`` as it will read back: its references without the person whose activity made them (the installer's,
    for the home channel), so that what a write returns is what the next read gives too."""
    return replace(
        cop,
        home_reference=reference_without_person(cop.home_reference),
        lead_channel_reference=reference_without_person(cop.lead_channel_reference),
    )


def _from_row(row: Row) -> Cop:
    get = row.get
    leads = tuple(p for p in (PersonRef.from_json(item) for item in loads(get("leads"), [])) if p is not None)
    return Cop(
        cop_id=str(get("cop_id", "")),
        name=str(get("name", "")),
        tenant_id=str(get("tenant_id", "")),
        service_url=str(get("service_url", "")),
        aad_group_id=str(get("aad_group_id", "")),
        practice_area=str(get("practice_area", "")),
        practice_area_id=str(get("practice_area_id", "") or ""),
        proposal_id=str(get("proposal_id", "") or ""),
        status=get("status", "preparing"),
        active=bool(get("active", True)),
        leads=leads,
        sponsor=PersonRef.from_json(loads(get("sponsor"), None)),
        terms_of_reference_url=str(get("terms_of_reference_url", "")),
        objectives=str(get("objectives", "")),
        home_channel_id=str(get("home_channel_id", "")),
        home_reference=load_reference(get("home_reference")),
        lead_channel_reference=load_reference(get("lead_channel_reference")),
        answer_target_hours=int(get("answer_target_hours", 48)),
        timezone=str(get("timezone", "Europe/London")),
        digest_day=int(get("digest_day", 0)),
        digest_time=str(get("digest_time", "09:00")),
        digest_enabled=bool(get("digest_enabled", True)),
        flagged=str(get("flagged", "")),
        created_at=get("created_at"),
        updated_at=get("updated_at"),
        etag=row.etag,
    )


class CopCache(ExpiringCopies[Cop]):
    """Per-process copies of CoP rows (by CoP id) for role resolution; see :mod:`bot.core.expiring`.

    Only rows that exist are kept (a CoP installed on another instance must be found at once). ``forget`` is
    called on every write through ``CopRepo``. The list of every CoP (``listing``) is kept the same way, for a
    turn that lists them to decide who the caller is or to show a card: like a row, at most ``ttl_s`` old and
    dropped by any write on this instance; a caller that finds a CoP it knows of missing reads afresh."""

    _listing: tuple[float, tuple[Cop, ...]] | None = None

    def listing(self) -> tuple[Cop, ...] | None:
        if self._listing is None or self.clock() >= self._listing[0]:
            self._listing = None
            return None
        return self._listing[1]

    def put_listing(self, cops: tuple[Cop, ...], generation: int) -> None:
        if self.ttl_s > 0 and generation == self.generation:
            self._listing = (self.clock() + self.ttl_s, cops)

    def forget(self, key: str) -> None:
        super().forget(key)
        self._listing = None

    def clear(self) -> None:
        super().clear()
        self._listing = None


class CopRepo:
    def __init__(self, store: TableStore, cache: CopCache | None = None) -> None:
        self._store = store
        self._cache = cache

    async def get(self, cop_id: str) -> Cop | None:
        """A fresh read (it also refreshes this process's cached copy)."""
        generation = self._cache.generation if self._cache is not None else 0
        try:
            cop = _from_row(await self._store.get(TABLE, PARTITION, encode_key(cop_id)))
        except NotFound:
            return None
        if self._cache is not None:
            self._cache.put(cop.cop_id, cop, generation)
        return cop

    async def get_cached(self, cop_id: str) -> Cop | None:
        """The CoP as read at most ``ttl_s`` ago on this process, for role resolution only; never for a write."""
        if self._cache is not None:
            found = self._cache.get(cop_id)
            if found is not None:
                return found
        return await self.get(cop_id)

    def peek(self, cop_id: str) -> Cop | None:
        """The CoP from this process's copy, without reading storage (None when it is not held): for deciding
        whether to start work early, never for a write."""
        return self._cache.get(cop_id) if self._cache is not None else None

    def _forget(self, cop_id: str) -> None:
        if self._cache is not None:
            self._cache.forget(cop_id)

    async def all(self, *, active_only: bool = True) -> list[Cop]:
        """A fresh read of every CoP (it also refreshes this process's cached list)."""
        generation = self._cache.generation if self._cache is not None else 0
        rows = await self._store.query(TABLE, PARTITION)
        cops = [_from_row(row) for row in rows]
        if self._cache is not None:
            self._cache.put_listing(tuple(cops), generation)
        return [c for c in cops if c.active] if active_only else cops

    async def all_cached(self, *, active_only: bool = True) -> list[Cop]:
        """Every CoP as listed at most ``ttl_s`` ago on this process: for deciding a turn's CoP and role and for
        what a card shows, never for a write."""
        listed = self._cache.listing() if self._cache is not None else None
        if listed is None:
            return await self.all(active_only=active_only)
        return [c for c in listed if c.active or not active_only]

    async def all_knowing(self, cop_ids: Iterable[str]) -> dict[str, Cop]:
        """Every CoP, closed ones included, by id, from this process's copy unless one of ``cop_ids`` (e.g. the
        caller's memberships) is missing from it: then read afresh (a CoP set up on another instance)."""
        cops = {c.cop_id: c for c in await self.all_cached(active_only=False)}
        if not set(cop_ids) <= cops.keys():
            cops = {c.cop_id: c for c in await self.all(active_only=False)}
        return cops

    async def create(self, cop: Cop) -> Cop:
        cop = _as_stored(cop)
        self._forget(cop.cop_id)
        row = await self._store.insert(TABLE, PARTITION, encode_key(cop.cop_id), _to_row(cop))
        return replace(cop, etag=row.etag)

    async def save(self, cop: Cop, now: datetime) -> Cop:
        """Conditional replace: raises PreconditionFailed if someone changed the CoP since it was read."""
        updated = _as_stored(replace(cop, updated_at=now))
        try:
            row = await self._store.update(
                TABLE, PARTITION, encode_key(cop.cop_id), _to_row(updated), etag=cop.etag or None
            )
        finally:  # after the write too: a read racing it must not keep the old row (see CopCache)
            self._forget(cop.cop_id)
        return replace(updated, etag=row.etag)

    async def cut_old_references(self, attempts: int = 5) -> int:
        """Rewrite the rows whose references were stored whole, before references were cut down (they name the
        person whose activity made them: the installer, for the home channel). Reading cuts them anyway; this
        is for erasure, after which no row may name the person. Nothing else in the row changes (not even
        ``updated_at``). Returns how many rows were rewritten."""
        rewritten = 0
        for row in await self._store.query(TABLE, PARTITION):
            for _ in range(attempts):
                old = [name for name in REFERENCES if written_before_the_cut(row.get(name))]
                if not old:
                    break
                data = {**row.data, **{name: dump_reference(load_reference(row.get(name))) for name in old}}
                try:
                    await self._store.update(TABLE, PARTITION, row.row_key, data, etag=row.etag)
                    rewritten += 1
                    break
                except PreconditionFailed:
                    try:
                        row = await self._store.get(TABLE, PARTITION, row.row_key)
                    except NotFound:
                        break
                except NotFound:
                    break
                finally:
                    self._forget(str(row.get("cop_id", "")))
        return rewritten

    async def change(self, cop_id: str, now: datetime, edit: Any, attempts: int = 5) -> Cop | None:
        """Read-modify-write with ETag retries: ``edit(cop) -> Cop``. Returns None if the CoP is unknown."""
        for _ in range(attempts):
            cop = await self.get(cop_id)
            if cop is None:
                return None
            try:
                return await self.save(edit(cop), now)
            except PreconditionFailed:
                continue
        raise PreconditionFailed(f"CoP {cop_id} kept changing; gave up after {attempts} attempts")


class _WithCops(Protocol):
    store: TableStore
    cop_cache: CopCache


def cop_repo(services: _WithCops) -> CopRepo:
    """The app's one way to reach CoP rows (features never build a ``CopRepo`` of their own), so that every write
    drops this process's cached copy and every fresh read refreshes it."""
    return CopRepo(services.store, services.cop_cache)
