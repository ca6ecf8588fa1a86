"""A previewed membership list, stored, and its application, atomically per person.

Table ``imports``, partition = the import id. Row ``head``: who previewed it, for which CoPs, the digest of its
changes, the status (``previewed`` → ``applying`` → ``applied``; the move to ``applying`` is an ETag-conditional
write, so two clicks apply it once) and the counts. Rows ``e|00001``…: one per change to apply (add or change),
naming the person (``person`` = their Entra object id, for ``my data`` and ``forget me``), the tier they had at
preview time (``before``) and, once applied, the result. A change whose person no longer has the ``before`` tier
is skipped (someone changed it since the preview), so a stale preview cannot undo a newer change; the one-core
rule is held by :meth:`MembershipRepo.join`, and a conflict is listed, never resolved.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bot.domain.codec import dumps, loads
from bot.domain.import_plans import CONCURRENCY, Entry, Outcome, Plan
from bot.domain.imports import shown
from bot.domain.members import CoreElsewhere, MembershipRepo, Profile
from storage import paging
from storage.base import BatchOp, NotFound, PreconditionFailed, Row, StorageError, TableStore, Where

TABLE = "imports"
HEAD = "head"
PREVIEW_TTL = timedelta(hours=24)  # a preview not applied by then is refused, and purged a day later
APPLY_LEASE = timedelta(minutes=10)


def new_import_id() -> str:
    return secrets.token_hex(8)


def _entry_data(e: Entry) -> dict[str, Any]:
    return {
        "line": e.line,
        "cop_id": e.cop_id,
        "person": e.aad_id,
        "user_id": e.user_id,
        "name": e.name,
        "action": e.action,
        "tier": e.tier,
        "before": e.before,
        "org_area": e.org_area,
        "job_family": e.job_family,
        "joined": e.joined.isoformat() if e.joined else "",
        "result": "",
    }


def _entry(row: Row) -> Entry:
    joined = str(row.get("joined") or "")
    action = str(row.get("action"))
    return Entry(
        line=int(row.get("line", 0)),
        cop_id=str(row.get("cop_id", "")),
        aad_id=str(row.get("person", "")),
        user_id=str(row.get("user_id", "")),
        name=str(row.get("name", "")),
        action="change" if action == "change" else "add",
        tier="core" if row.get("tier") == "core" else "wider",
        before=str(row.get("before", "")),
        org_area=str(row.get("org_area", "")),
        job_family=str(row.get("job_family", "")),
        joined=date.fromisoformat(joined) if joined else None,
    )


@dataclass(frozen=True)
class Head:
    import_id: str
    importer: str
    digest: str
    status: str
    created: datetime
    cop_ids: tuple[str, ...]
    reference: str  # where to tell the importer the result (a stored, person-free reference)
    result: dict[str, Any]
    lease_until: datetime | None
    etag: str


def _head(import_id: str, row: Row) -> Head:
    return Head(
        import_id,
        str(row.get("importer", "")),
        str(row.get("digest", "")),
        str(row.get("status", "")),
        row.get("created"),
        tuple(loads(row.get("cop_ids"), [])),
        str(row.get("reference", "")),
        loads(row.get("result"), {}),
        row.get("lease_until"),
        row.etag,
    )


class ImportStore:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def save(self, plan: Plan, importer: str, reference: str, now: datetime) -> str:
        """Store the preview's changes; returns its id (the confirm button names it and the digest)."""
        import_id = new_import_id()
        changes = plan.changes
        for start in range(0, len(changes), 100):
            ops = [
                BatchOp("insert", f"e|{start + i:05d}", _entry_data(e))
                for i, e in enumerate(changes[start : start + 100])
            ]
            await self._store.batch(TABLE, import_id, ops)
        await self._store.insert(
            TABLE,
            import_id,
            HEAD,
            {
                "importer": importer,
                "person": importer,
                "digest": plan.digest,
                "status": "previewed",
                "created": now,
                "cop_ids": dumps(sorted({e.cop_id for e in changes})),
                "changes": len(changes),
                "reference": reference,
                "result": "{}",
            },
        )
        return import_id

    async def head(self, import_id: str) -> Head | None:
        try:
            return _head(import_id, await self._store.get(TABLE, import_id, HEAD))
        except (NotFound, StorageError):
            return None

    async def entries(self, import_id: str) -> list[tuple[Entry, Row]]:
        found: list[tuple[Entry, Row]] = []
        async for rows, _ in paging.pages(self._store, TABLE, import_id, [Where("RowKey", "ge", "e|")]):
            found.extend((_entry(r), r) for r in rows if r.row_key.startswith("e|"))
        return found

    async def claim(self, head: Head, now: datetime) -> Head | None:
        """Move a preview (or an application whose process died) to ``applying`` under a lease; None if another
        click or instance got there first."""
        try:
            row = await self._store.get(TABLE, head.import_id, HEAD)
            data = {**row.data, "status": "applying", "lease_until": now + APPLY_LEASE}
            updated = await self._store.update(TABLE, head.import_id, HEAD, data, etag=head.etag)
        except (NotFound, PreconditionFailed):
            return None
        return _head(head.import_id, updated)

    async def finish(self, import_id: str, outcome: Outcome, now: datetime) -> None:
        for _ in range(5):
            row = await self._store.get(TABLE, import_id, HEAD)
            data = {**row.data, "status": "applied", "result": dumps(outcome.as_json()), "applied_at": now}
            try:
                await self._store.update(TABLE, import_id, HEAD, data, etag=row.etag)
                return
            except PreconditionFailed:
                continue

    async def unfinished(self, now: datetime) -> list[Head]:
        """Applications whose process stopped before the end (their lease ran out)."""
        heads: list[Head] = []
        where = [Where("RowKey", "eq", HEAD), Where("status", "eq", "applying"), Where("lease_until", "lt", now)]
        async for rows, _ in paging.pages(self._store, TABLE, None, where, page_size=100):
            heads.extend(_head(r.partition_key, r) for r in rows)
        return heads

    async def apply(
        self,
        head: Head,
        repo: MembershipRepo,
        now: datetime,
        *,
        enforce_one_core: bool,
        may_import: Callable[[str], bool],
        cop_names: Mapping[str, str],
        notify: Callable[[Entry], Awaitable[None]],
    ) -> Outcome:
        """Apply the stored changes not applied yet, a few people at a time, each person in one atomic write."""
        outcome = Outcome(conflicts=[])
        gate = asyncio.Semaphore(CONCURRENCY)
        stored = await self.entries(head.import_id)
        for _, row in stored:  # results of an earlier, interrupted run count too
            _count(outcome, str(row.get("result") or ""), str(row.get("note") or ""))

        async def one(entry: Entry) -> tuple[str, str]:
            async with gate:
                result, note = await _apply_one(entry, repo, now, enforce_one_core, may_import, cop_names)
                if result in ("added", "changed"):
                    await notify(entry)
                return result, note

        todo = [(e, r) for e, r in stored if not r.get("result")]
        for start in range(0, len(todo), 100):  # a page of people at a time, their results in one batch
            chunk = todo[start : start + 100]
            results = await asyncio.gather(*(one(e) for e, _ in chunk))
            ops = [
                BatchOp("update", r.row_key, {**r.data, "result": result, "note": note}, r.etag)
                for (_, r), (result, note) in zip(chunk, results, strict=True)
            ]
            # another instance resuming the same import may have recorded some: the writes were idempotent
            with contextlib.suppress(NotFound, PreconditionFailed):
                await self._store.batch(TABLE, head.import_id, ops)
            for result, note in results:
                _count(outcome, result, note)
        return outcome

    # -- personal data and retention ----------------------------------------------------------------------
    async def export_person(self, aad_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for rows, _ in paging.pages(self._store, TABLE, None, [Where("person", "eq", aad_id)]):
            for r in rows:
                if r.row_key == HEAD:
                    out.append({"import": r.partition_key, "role": "imported a list", "at": str(r.get("created"))})
                else:
                    out.append({"import": r.partition_key, "cop_id": r.get("cop_id"), "tier": r.get("tier")})
        return out

    async def erase_person(self, aad_id: str) -> int:
        removed = 0
        async for rows, _ in paging.pages(self._store, TABLE, None, [Where("person", "eq", aad_id)]):
            for r in rows:
                try:
                    if r.row_key == HEAD:  # the list stays (it names others); who sent it does not
                        forgotten = {**r.data, "importer": "", "person": "", "reference": ""}  # their 1:1 chat too
                        await self._store.update(TABLE, r.partition_key, HEAD, forgotten)
                    else:
                        await self._store.delete(TABLE, r.partition_key, r.row_key)
                    removed += 1
                except (NotFound, PreconditionFailed):
                    continue
        return removed

    async def purge(self, now: datetime) -> int:
        """Drop previews never applied and applied lists' rows once they are two days old."""
        cutoff = now - 2 * PREVIEW_TTL
        old: list[str] = []
        async for rows, _ in paging.pages(
            self._store, TABLE, None, [Where("RowKey", "eq", HEAD), Where("created", "lt", cutoff)], page_size=100
        ):
            old.extend(r.partition_key for r in rows if r.get("status") != "applying")
        for import_id in old:
            while rows := await self._store.query(TABLE, import_id, limit=100):
                for row in rows:
                    with contextlib.suppress(NotFound, PreconditionFailed):
                        await self._store.delete(TABLE, import_id, row.row_key)
        return len(old)


def _count(outcome: Outcome, result: str, note: str) -> None:
    if result == "added":
        outcome.added += 1
    elif result == "changed":
        outcome.changed += 1
    elif result == "skipped":
        outcome.skipped += 1
    elif result == "conflict":
        assert outcome.conflicts is not None
        outcome.conflicts.append(note)
    elif result == "refused":
        outcome.refused += 1
    outcome.applied = outcome.added + outcome.changed


async def _apply_one(
    entry: Entry,
    repo: MembershipRepo,
    now: datetime,
    enforce: bool,
    may_import: Callable[[str], bool],
    cop_names: Mapping[str, str],
) -> tuple[str, str]:
    """(result, note) of one change: added, changed, skipped, conflict or refused."""
    name = cop_names.get(entry.cop_id, "the CoP")
    if not may_import(entry.cop_id):
        return "refused", f"you no longer lead {name}"
    state = await repo.person(entry.aad_id)
    current = state.memberships.get(entry.cop_id)
    if (current[0].tier if current else "") != entry.before:
        return "skipped", f"row {entry.line}: changed since the preview"
    old = state.profile
    profile = Profile(
        aad_id=entry.aad_id,
        user_id=entry.user_id or (old.user_id if old else ""),
        name=entry.name or (old.name if old else ""),
        org_area=entry.org_area or (old.org_area if old else ""),
        org_unit=old.org_unit if old else "",
        job_family=entry.job_family or (old.job_family if old else ""),
        interests=old.interests if old else (),
        updated_at=now,
    )
    # a new member joined on the date the list gives; a change happens now
    when = datetime.combine(entry.joined, time(9, 0), tzinfo=UTC) if entry.joined and not current else now
    try:
        await repo.join(entry.cop_id, profile, entry.tier, min(when, now), enforce_one_core=enforce, state=state)
    except CoreElsewhere as elsewhere:
        other = cop_names.get(elsewhere.other_cop_id, "another CoP")
        return "conflict", f"row {entry.line} ({shown(entry.name, 60)}): already a core member of {other}"
    except PreconditionFailed:
        return "skipped", f"row {entry.line}: kept changing while applying"
    return ("changed" if current else "added"), ""
