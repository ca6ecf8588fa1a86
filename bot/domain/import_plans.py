"""A membership list matched against the teams' rosters and the stored memberships: what would change, person by
person (nothing is written here). :mod:`bot.domain.import_store` stores a preview and applies it.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import Any, Literal

from bot.core.turn import RosterEntry
from bot.domain.codec import dumps
from bot.domain.cops import Cop
from bot.domain.imports import BadRow, ImportRow, shown
from bot.domain.members import PEOPLE, ROSTER, Membership, MembershipRepo, PersonState, Profile, Tier
from storage import paging
from storage.base import (
    TableStore,
    Where,
    decode_key,
    encode_key,
)

SCAN_FROM = 200  # people in a preview from which the whole people table is read page by page
CONCURRENCY = 8  # people read or written at once: more only queues up in Azure Tables' emulator and costs time
Action = Literal["add", "change", "unchanged", "conflict"]


@dataclass(frozen=True)
class Entry:
    """One row of a list, matched to a person and compared with what is stored."""

    line: int
    cop_id: str
    aad_id: str
    user_id: str
    name: str
    action: Action
    tier: Tier
    before: str = ""  # their tier in this CoP at preview time; "" = not a member
    org_area: str = ""
    job_family: str = ""
    joined: date | None = None
    note: str = ""  # why a conflict


@dataclass(frozen=True)
class Unknown:
    line: int
    identifier: str  # as shown (escaped by the card)


@dataclass(frozen=True)
class Plan:
    entries: tuple[Entry, ...]
    unknown: tuple[Unknown, ...]
    bad: tuple[BadRow, ...]

    def of(self, action: Action) -> list[Entry]:
        return [e for e in self.entries if e.action == action]

    @property
    def changes(self) -> list[Entry]:
        return [e for e in self.entries if e.action in ("add", "change")]

    @property
    def digest(self) -> str:
        return digest_of(self.changes)


@dataclass
class Outcome:
    applied: int = 0
    added: int = 0
    changed: int = 0
    skipped: int = 0  # changed by someone else since the preview
    conflicts: list[str] | None = None
    refused: int = 0  # CoPs the importer no longer leads

    def as_json(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "changed": self.changed,
            "skipped": self.skipped,
            "conflicts": (self.conflicts or [])[:50],
            "refused": self.refused,
        }


def digest_of(changes: Iterable[Entry]) -> str:
    canonical = sorted(
        (
            e.cop_id,
            e.aad_id,
            e.action,
            e.tier,
            e.before,
            e.org_area,
            e.job_family,
            e.joined.isoformat() if e.joined else "",
        )
        for e in changes
    )
    return hashlib.sha256(dumps(canonical).encode("utf-8", "surrogatepass")).hexdigest()[:32]


def resolve_cop(value: str, cops: Sequence[Cop]) -> Cop | None:
    """The CoP a ``cop`` cell names: its team id, or its name (case and spacing ignored)."""
    wanted = " ".join(value.split()).casefold()
    for cop in cops:
        if value == cop.cop_id or " ".join(cop.name.split()).casefold() == wanted:
            return cop
    return None


def index_roster(roster: Iterable[RosterEntry]) -> dict[str, RosterEntry]:
    """Roster entries by lower-cased email, UPN and object id."""
    found: dict[str, RosterEntry] = {}
    for entry in roster:
        for key in (entry.email, entry.upn, entry.person.aad_id):
            if key:
                found.setdefault(key.lower(), entry)
    return found


async def read_states(store: TableStore, aad_ids: Iterable[str], cop_ids: Iterable[str]) -> dict[str, PersonState]:
    """The stored state of each person, as far as a preview needs it: their profile, their core CoP and their
    memberships of ``cop_ids``. A few people are read one partition each; a long list reads the CoPs' roster
    indexes and the people table's ``core`` and ``profile`` rows page by page instead (a few requests for any
    number of rows, where 2,000 partition reads would take longer than a preview should)."""
    wanted = set(aad_ids)
    if len(wanted) <= SCAN_FROM:
        repo = MembershipRepo(store)
        gate = asyncio.Semaphore(CONCURRENCY)
        states: dict[str, PersonState] = {}

        async def one(aad_id: str) -> None:
            async with gate:
                states[aad_id] = await repo.person(aad_id)

        await asyncio.gather(*(one(a) for a in wanted))
        return states
    core: dict[str, str] = {}
    profiles: dict[str, Profile] = {}
    async for rows, _ in paging.pages(store, PEOPLE, None, [Where("RowKey", "eq", "core")], page_size=1000):
        core.update((decode_key(r.partition_key), str(r.get("cop_id", ""))) for r in rows)
    async for rows, _ in paging.pages(store, PEOPLE, None, [Where("RowKey", "eq", "profile")], page_size=1000):
        for r in rows:
            aad_id = decode_key(r.partition_key)
            if aad_id in wanted:
                profiles[aad_id] = Profile(
                    aad_id,
                    str(r.get("user_id", "")),
                    str(r.get("name", "")),
                    org_area=str(r.get("org_area", "")),
                    job_family=str(r.get("job_family", "")),
                )
    memberships: dict[str, dict[str, tuple[Membership, str]]] = {a: {} for a in wanted}
    for cop_id in set(cop_ids):
        async for rows, _ in paging.pages(store, ROSTER, encode_key(cop_id), page_size=1000):
            for r in rows:
                aad_id = str(r.get("aad_id", ""))
                if aad_id in wanted:
                    tier: Tier = "core" if r.get("tier") == "core" else "wider"
                    member = Membership(cop_id, aad_id, "", "", tier, r.get("joined_at"), str(r.get("org_area", "")))
                    memberships[aad_id][cop_id] = (member, r.etag)
    out: dict[str, PersonState] = {}
    for aad_id in wanted:
        mine = memberships[aad_id]
        other = core.get(aad_id)
        if other and other not in mine:  # core elsewhere: the CoP's roster was not read, its row is implied
            mine[other] = (Membership(other, aad_id, "", "", "core", datetime.now(UTC)), "")
        out[aad_id] = PersonState(profiles.get(aad_id), other, None, mine)
    return out


async def plan_import(
    rows: Sequence[ImportRow],
    bad: Sequence[BadRow],
    targets: Mapping[int, Cop | str],  # line -> the row's CoP, or why the row has none it may use
    rosters: Mapping[str, Mapping[str, RosterEntry]],  # cop id -> indexed roster
    store: TableStore,
    *,
    enforce_one_core: bool,
    cop_names: Mapping[str, str],
) -> Plan:
    """Compare each row with the stored memberships (nothing is written)."""
    problems = list(bad)
    matched: list[tuple[ImportRow, Cop, RosterEntry]] = []
    unknown: list[Unknown] = []
    for row in rows:
        target = targets.get(row.line)
        if not isinstance(target, Cop):
            problems.append(BadRow(row.line, target or "no CoP for this row"))
            continue
        entry = rosters.get(target.cop_id, {}).get(row.identifier)
        if entry is None or not entry.person.aad_id:
            unknown.append(Unknown(row.line, shown(row.identifier, 80)))
            continue
        matched.append((row, target, entry))
    states = await read_states(store, (e.person.aad_id for _, _, e in matched), (c.cop_id for _, c, _ in matched))
    seen: dict[tuple[str, str], int] = {}
    core_in: dict[str, str] = {}  # person -> the CoP this list makes them core in
    entries: list[Entry] = []
    for row, cop, roster_entry in matched:
        person = roster_entry.person
        if (cop.cop_id, person.aad_id) in seen:
            problems.append(BadRow(row.line, f"the same person as row {seen[(cop.cop_id, person.aad_id)]}"))
            continue
        seen[(cop.cop_id, person.aad_id)] = row.line
        state = states[person.aad_id]
        current = state.memberships.get(cop.cop_id)
        before = current[0].tier if current else ""
        profile = state.profile
        base = Entry(
            row.line,
            cop.cop_id,
            person.aad_id,
            person.user_id,
            person.name or (profile.name if profile else ""),
            "add",
            row.tier,
            before,
            row.org_area,
            row.job_family,
            row.joined,
        )
        same = (
            before == row.tier
            and (not row.org_area or (current is not None and current[0].org_area == row.org_area))
            and (not row.job_family or (profile is not None and profile.job_family == row.job_family))
        )
        if same:
            entries.append(replace(base, action="unchanged"))
            continue
        if row.tier == "core" and enforce_one_core:
            other = state.core_cop_id
            if other and other != cop.cop_id and other in state.memberships:
                note = f"already a core member of {cop_names.get(other, 'another CoP')}"
                entries.append(replace(base, action="conflict", note=note))
                continue
            listed = core_in.get(person.aad_id)
            if listed and listed != cop.cop_id:
                note = f"this list also makes them core in {cop_names.get(listed, 'another CoP')}"
                entries.append(replace(base, action="conflict", note=note))
                continue
            core_in[person.aad_id] = cop.cop_id
        entries.append(replace(base, action="change" if before else "add"))
    problems.sort(key=lambda b: b.line)
    return Plan(tuple(entries), tuple(unknown), tuple(problems))
