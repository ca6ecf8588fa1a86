"""Inviting the people already in a CoP's team: the offer a lead confirms, the run that queues one join card per
person through the outbox, and its report.

Tables:
- ``invitations`` — partition = the CoP; one row per run (its id is random): ``offered`` → ``sending`` (a lead
  confirmed: the move is an ETag-conditional write, so two leads clicking start one run) → ``queued`` (every card
  is in the outbox) → ``reported``. ``sending`` carries a lease: if the process stops while queueing, the minute
  tick takes the run over and carries on.
- ``invitees`` — partition = the CoP; one row per person offered an invitation (``person`` = their Entra object
  id): the run that offered them and whether their card is queued. A person queued once is never offered again,
  and the outbox key ``invite|<cop>|<person>`` makes their card exactly once per CoP whatever happens.

Nobody becomes a member by being invited: the card only offers the choice (core or wider).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.turn import Person, RosterEntry
from bot.domain.codec import dumps, load_reference, loads
from bot.domain.delivery import OUTBOX_PARTITION, OUTBOX_TABLE
from storage import paging
from storage.base import BatchOp, NotFound, PreconditionFailed, Row, TableStore, Where, encode_key

RUNS = "invitations"
INVITEES = "invitees"
LEASE = timedelta(minutes=5)
DEADLINE = timedelta(hours=1)  # a card Teams still throttles after this counts as not reached in the report
RETENTION = timedelta(days=90)  # runs and their rows, then dropped


def invite_key(cop_id: str, aad_id: str) -> str:
    return f"invite|{cop_id}|{aad_id}"


@dataclass(frozen=True)
class Run:
    cop_id: str
    run_id: str
    status: str
    team_size: int
    members: int
    invited_before: int
    to_invite: int
    created: datetime
    reference: str  # where the report goes (stored person-free)
    lease_until: datetime | None = None
    deadline: datetime | None = None
    report: dict[str, Any] = field(default_factory=dict)
    etag: str = ""


def _run(row: Row) -> Run:
    return Run(
        cop_id=str(row.get("cop_id", "")),
        run_id=row.row_key,
        status=str(row.get("status", "")),
        team_size=int(row.get("team_size", 0)),
        members=int(row.get("members", 0)),
        invited_before=int(row.get("invited_before", 0)),
        to_invite=int(row.get("to_invite", 0)),
        created=row.get("created"),
        reference=str(row.get("reference", "")),
        lease_until=row.get("lease_until"),
        deadline=row.get("deadline"),
        report=loads(row.get("report"), {}),
        etag=row.etag,
    )


@dataclass
class Report:
    sent: int = 0
    members: int = 0
    blocked: int = 0  # 403: the person blocked the bot or cannot be messaged
    gone: int = 0  # 404: no such user or conversation any more
    throttled: int = 0  # still throttled by Teams at the deadline
    failed: int = 0  # other refusals, or sends whose fate is unknown
    waiting: int = 0  # not final yet

    def as_json(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.__dict__.items()}


class Invitations:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def invited(self, cop_id: str) -> set[str]:
        """Everyone whose card is queued for this CoP (by any run)."""
        found: set[str] = set()
        where = [Where("state", "eq", "queued")]
        async for rows, _ in paging.pages(self._store, INVITEES, encode_key(cop_id), where):
            found.update(str(r.get("person", "")) for r in rows)
        return found

    async def offer(
        self,
        cop_id: str,
        roster: Iterable[RosterEntry],
        members: set[str],
        reference: str,
        now: datetime,
        *,
        bot_id: str = "",
    ) -> Run:
        """Record who could be invited now (the team's roster less members and those invited before)."""
        invited = await self.invited(cop_id)
        people = {e.person.aad_id: e.person for e in roster if e.person.aad_id and e.person.user_id != bot_id}
        to_invite = [p for aad, p in sorted(people.items()) if aad not in members and aad not in invited]
        run_id = secrets.token_hex(8)
        partition = encode_key(cop_id)
        for start in range(0, len(to_invite), 100):
            ops = [
                BatchOp(
                    "upsert",
                    encode_key(p.aad_id),
                    {"person": p.aad_id, "user_id": p.user_id, "name": p.name, "run_id": run_id, "state": "offered"},
                )
                for p in to_invite[start : start + 100]
            ]
            await self._store.batch(INVITEES, partition, ops)
        data: dict[str, Any] = {
            "cop_id": cop_id,
            "status": "offered",
            "team_size": len(people),
            "members": len(members & set(people)),
            "invited_before": len(invited & set(people)),
            "to_invite": len(to_invite),
            "created": now,
            "reference": reference,
            "report": "{}",
        }
        row = await self._store.insert(RUNS, partition, run_id, data)
        return _run(row)

    async def under_way(self, cop_id: str) -> bool:
        """Whether a run of this CoP is still queueing or waiting for its cards (a new offer waits for it)."""
        for status in ("sending", "queued"):
            if await self._store.query(RUNS, encode_key(cop_id), [Where("status", "eq", status)], limit=1):
                return True
        return False

    async def run(self, cop_id: str, run_id: str) -> Run | None:
        try:
            return _run(await self._store.get(RUNS, encode_key(cop_id), run_id))
        except NotFound:
            return None

    async def claim(self, run: Run, now: datetime, *, requested_by: str = "") -> Run | None:
        """``offered`` (or ``sending`` with its lease run out) → ``sending`` under a fresh lease; None if another
        click or instance got there first."""
        try:
            row = await self._store.get(RUNS, encode_key(run.cop_id), run.run_id)
            if row.etag != run.etag:
                return None
            data = {**row.data, "status": "sending", "lease_until": now + LEASE}
            if "deadline" not in row.data:
                data["deadline"] = now + DEADLINE
            if requested_by:
                data["confirmed_by"] = requested_by
            return _run(await self._store.update(RUNS, encode_key(run.cop_id), run.run_id, data, etag=row.etag))
        except (NotFound, PreconditionFailed):
            return None

    async def queue(self, run: Run, enqueue: Callable[[Person], Awaitable[None]], now: datetime) -> int:
        """Queue the card of everyone the run offered and not yet queued; a page at a time, each page's rows
        marked queued after their cards are in the outbox (a card queued twice is one card: its key)."""
        partition = encode_key(run.cop_id)
        queued = 0
        where = [Where("run_id", "eq", run.run_id), Where("state", "eq", "offered")]
        while True:
            rows = await self._store.query(INVITEES, partition, where, limit=100)
            if not rows:
                break
            for r in rows:
                await enqueue(Person(str(r.get("user_id", "")), str(r.get("person", "")), str(r.get("name", ""))))
            ops = [BatchOp("update", r.row_key, {**r.data, "state": "queued", "queued_at": now}, r.etag) for r in rows]
            try:
                await self._store.batch(INVITEES, partition, ops)
            except (PreconditionFailed, NotFound):
                continue  # another instance marked some of them: read the page again
            queued += len(rows)
            await self._renew(run, now)
        await self._set(run, {"status": "queued", "queued_at": now})
        return queued

    async def _renew(self, run: Run, now: datetime) -> None:
        await self._set(run, {"lease_until": now + LEASE})

    async def _set(self, run: Run, changes: dict[str, Any]) -> None:
        for _ in range(5):
            try:
                row = await self._store.get(RUNS, encode_key(run.cop_id), run.run_id)
                await self._store.update(
                    RUNS, encode_key(run.cop_id), run.run_id, {**row.data, **changes}, etag=row.etag
                )
                return
            except PreconditionFailed:
                continue
            except NotFound:
                return

    async def due(self, now: datetime) -> list[Run]:
        """Runs to carry on (queueing stopped part way) or to report on."""
        found: list[Run] = []
        for status in ("sending", "queued"):
            async for rows, _ in paging.pages(self._store, RUNS, None, [Where("status", "eq", status)], page_size=100):
                found.extend(_run(r) for r in rows)
        return [r for r in found if r.status == "queued" or (r.lease_until is not None and r.lease_until < now)]

    async def outcome(self, run: Run, now: datetime) -> Report:
        """How the run's cards fared, from their outbox items."""
        report = Report(members=run.members)
        late = run.deadline is not None and now >= run.deadline
        where = [Where("run_id", "eq", run.run_id)]
        async for rows, _ in paging.pages(self._store, INVITEES, encode_key(run.cop_id), where):
            for r in rows:
                status, error = await self._delivery(invite_key(run.cop_id, str(r.get("person", ""))))
                if status == "sent":
                    report.sent += 1
                elif status == "dead" and error.startswith("403"):
                    report.blocked += 1
                elif status == "dead" and error.startswith("404"):
                    report.gone += 1
                elif status in ("dead", "unknown"):
                    report.failed += 1
                elif late and error == "429":
                    report.throttled += 1
                elif late:
                    report.failed += 1
                else:
                    report.waiting += 1
        return report

    async def _delivery(self, key: str) -> tuple[str, str]:
        """(status, error) of an outbox item, read from the outbox's table."""
        try:
            row = await self._store.get(OUTBOX_TABLE, OUTBOX_PARTITION, encode_key(key))
        except NotFound:
            return "", ""
        return str(row.get("status", "")), str(row.get("error", ""))

    async def reported(self, run: Run, report: Report, now: datetime) -> None:
        await self._set(run, {"status": "reported", "report": dumps(report.as_json()), "reported_at": now})

    # -- personal data and retention ----------------------------------------------------------------------
    async def export_person(self, aad_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for rows, _ in paging.pages(self._store, INVITEES, None, [Where("person", "eq", aad_id)]):
            out.extend({"cop_id": r.get("cop_id") or _cop_of(r), "state": r.get("state")} for r in rows)
        async for rows, _ in paging.pages(self._store, RUNS, None, [Where("confirmed_by", "eq", aad_id)]):
            out.extend({"cop_id": r.get("cop_id"), "confirmed_an_invitation_run": str(r.get("created"))} for r in rows)
        return out

    async def erase_person(self, aad_id: str) -> int:
        removed = 0
        async for rows, _ in paging.pages(self._store, INVITEES, None, [Where("person", "eq", aad_id)]):
            for r in rows:
                try:
                    await self._store.delete(INVITEES, r.partition_key, r.row_key)
                    removed += 1
                except (NotFound, PreconditionFailed):
                    continue
        async for rows, _ in paging.pages(self._store, RUNS, None, [Where("confirmed_by", "eq", aad_id)]):
            for r in rows:
                try:
                    forgotten = {**r.data, "confirmed_by": ""}
                    if _personal(r.get("reference")):  # confirmed in their 1:1 chat: forget where that is too
                        forgotten["reference"] = ""
                    await self._store.update(RUNS, r.partition_key, r.row_key, forgotten)
                    removed += 1
                except (NotFound, PreconditionFailed):
                    continue
        return removed

    async def purge(self, now: datetime) -> int:
        """Runs reported (or offered and never confirmed) long ago, and their offered rows."""
        removed = 0
        where = [Where("created", "lt", now - RETENTION)]
        async for rows, _ in paging.pages(self._store, RUNS, None, where, page_size=100):
            for r in rows:
                if r.get("status") in ("reported", "offered"):
                    try:
                        await self._store.delete(RUNS, r.partition_key, r.row_key)
                        removed += 1
                    except (NotFound, PreconditionFailed):
                        continue
        return removed


def _personal(reference: Any) -> bool:
    conversation = load_reference(reference).get("conversation")
    return isinstance(conversation, dict) and conversation.get("conversationType") == "personal"


def _cop_of(row: Row) -> str:
    from storage.base import decode_key

    return decode_key(row.partition_key)
