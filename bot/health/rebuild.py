"""Recount every CoP's health figures from the sources, compare them with its stored indicator snapshot, and store
the recount as the new snapshot. The command is ``python -m tools.rebuild_health [--check]`` (tools/rebuild_health.py).

The recount is the
scorecard's original reading of the sources (bot/health/providers.py ``gather``), independent of the digest code
(bot/health/digest.py), so an agreement is a real check. For each CoP it prints whether the snapshot was current
(covers every write so far), stale (a write since: the bot would not use it, it recounts), missing, or unusable
now (e.g. a survey started after it), then every figure on which the stored snapshot differs from the recount.
Exit status 1 when any figure differs. Names no person: figures only.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from bot.core.config import Settings
from bot.domain.cops import Cop, CopRepo
from bot.domain.survey import Survey, SurveyRepo
from bot.health import digest as digests
from bot.health import snapshots
from bot.health.providers import Sources, gather
from bot.health.snapshot import CopSnapshot
from bot.health.thresholds import DEFAULT_THRESHOLDS
from storage.base import TableStore, encode_key

State = Literal["current", "stale", "missing", "unusable"]


@dataclass(frozen=True)
class Check:
    cop_id: str
    name: str
    state: State
    differences: tuple[str, ...]  # "members.core: snapshot 50, recount 51"
    stored: bool  # the recount was stored as the CoP's snapshot


def differences(snapshot: Any, recount: Any, path: str = "") -> list[str]:
    """Every figure on which two snapshots differ, by dotted field name (exact comparison: no tolerance)."""
    if dataclasses.is_dataclass(snapshot) and dataclasses.is_dataclass(recount) and type(snapshot) is type(recount):
        out: list[str] = []
        for f in dataclasses.fields(snapshot):
            out += differences(getattr(snapshot, f.name), getattr(recount, f.name), f"{path}{f.name}.")
        return out
    if snapshot != recount:
        return [f"{path.rstrip('.')}: snapshot {snapshot!r}, recount {recount!r}"]
    return []


async def recount(
    store: TableStore, settings: Settings, cop: Cop, now: datetime, surveys: Sequence[Survey] | None = None
) -> CopSnapshot:
    """The full recount, from the sources, writing nothing."""
    return await gather(
        store,
        cop,
        now,
        settings=settings,
        signing_key=settings.signing_key,
        thresholds=DEFAULT_THRESHOLDS,
        sources=Sources(),
        surveys=surveys,
        record_trend=False,
    )


async def check_cop(
    store: TableStore,
    settings: Settings,
    cop: Cop,
    now: datetime,
    *,
    surveys: Sequence[Survey] | None = None,
    write: bool = True,
) -> Check:
    """Compare the CoP's stored snapshot with a full recount; with ``write``, store a fresh one."""
    stored = await snapshots.read(store, cop.cop_id)
    rows = await snapshots.channel_rows(store, cop.cop_id, snapshots.window_day(now))
    channel = rows.get(encode_key(cop.cop_id), [])
    counted = await recount(store, settings, cop, now, surveys)
    state: State
    found: list[str] = []
    if stored.digest is None:
        state = "missing"
    else:
        evaluated = digests.evaluate(
            stored.digest,
            cop,
            now,
            settings=settings,
            signing_key=settings.signing_key,
            thresholds=DEFAULT_THRESHOLDS,
            channel=channel,
        )
        if evaluated is None:
            state = "unusable"
        else:
            state = "current" if stored.current else "stale"
            found = differences(evaluated, counted)
    kept = False
    if write:
        fresh = await digests.build(
            store,
            cop,
            now,
            settings=settings,
            signing_key=settings.signing_key,
            thresholds=DEFAULT_THRESHOLDS,
            surveys=surveys,
        )
        kept = await snapshots.keep(store, cop, fresh, stored, now)
    return Check(cop.cop_id, cop.name, state, tuple(found), kept)


async def rebuild(store: TableStore, settings: Settings, now: datetime, *, write: bool = True) -> list[Check]:
    """:func:`check_cop` for every active CoP, one at a time (ten reads each)."""
    cops = await CopRepo(store).all()
    surveys = await SurveyRepo(store).all() if cops else []
    checks = []
    for cop in cops:
        checks.append(await check_cop(store, settings, cop, now, surveys=surveys, write=write))
    return checks


def describe(checks: Sequence[Check]) -> list[str]:
    lines = []
    for c in checks:
        head = f"{c.name} ({c.cop_id}): snapshot {c.state}"
        if c.stored:
            head += "; stored afresh"
        lines.append(head + (": figures equal the recount" if not c.differences and c.state != "missing" else ""))
        lines += [f"  differs: {d}" for d in c.differences]
    differing = sum(1 for c in checks if c.differences)
    lines.append(f"{len(checks)} CoPs recounted, {differing} with figures that differ from their snapshot")
    return lines
