"""The report's figures for one viewer's CoPs, gathered from the same sources as the cards.

Everything here is a count or a share: no person is named. Each table is a :class:`Table` (the page draws it and
offers it as CSV, bot/report/page.py). Where a figure comes from:

- people and memberships per term: the CoPs' current rosters (bot/domain/members.py), counted at the end of each
  term by when each membership began. People who left are not in a roster any more, so earlier terms show who is
  still a member, not who was then;
- by practice area: the CoP's practice area (bot/domain/practice_areas.py, as the programme card groups CoPs);
- Lunch and Learns: events of that kind, not cancelled (bot/domain/events.py), plus those recorded after the fact
  (bot/domain/records.py);
- projects: bot/domain/projects.py; health: the scorecard engine and thresholds of the ``health`` card, rating
  each CoP's indicator snapshot (bot/health/summary.py), and each CoP's daily trend points;
- survey: ``bot.features.survey.results``, the results card's own reading, so a figure the disclosure rule holds
  back is never shown here either;
- questions: bot/domain/queries.py's median time to first response; digests: what the outbox recorded for each
  weekly digest (kept 30 days).

Members, events, records, projects, questions and trend points come from each CoP's indicator snapshot
(bot/health/snapshots.py: its digest holds members as pseudonyms, so people are counted across CoPs without an
AAD id): every CoP's in one query, where reading the rows themselves was ~13,000 rows (about 2 s from Azure Tables)
for 25 CoPs of 200 members. A CoP whose snapshot is stale is recounted from its rows, so the figures are current.
"""

from __future__ import annotations

import asyncio
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bot.domain.cops import Cop
from bot.domain.members import ORG_AREAS
from bot.domain.practice_areas import UNSET
from bot.domain.survey import STATEMENTS
from bot.features.programme_areas import area_context
from bot.features.survey import results as survey_results
from bot.health import history, red_streaks, snapshots
from bot.health.digest import Digest, MemberDigest
from bot.health.engine import AREAS
from bot.health.providers import TREND_DAYS
from bot.health.summary import ProgrammeRow, row_of
from bot.health.terms import Term, configured_terms
from bot.jobs.outbox import PARTITION as OUTBOX_PARTITION
from bot.jobs.outbox import TABLE as OUTBOX_TABLE
from bot.report.access import Viewer
from storage.base import Where, encode_key

if TYPE_CHECKING:
    from bot.services import Services

Cell = str | int | float
AREA_NAMES = dict(ORG_AREAS)
DIGEST_KEY = "digest|"  # the outbox keys of weekly digests (bot/features/digest.py), "digest-preview|" excluded
DIGEST_KEYS = [Where("RowKey", "ge", encode_key(DIGEST_KEY)), Where("RowKey", "lt", encode_key("digest}"))]


async def digest_statuses(services: Services) -> dict[str, Counter[str]]:
    """{CoP id: {outbox status: weekly digests}}: one range query over the outbox's digest keys."""
    rows = await services.store.query(OUTBOX_TABLE, OUTBOX_PARTITION, DIGEST_KEYS)
    out: dict[str, Counter[str]] = {}
    for row in rows:
        if str(row.get("key", "")).startswith(DIGEST_KEY):
            out.setdefault(str(row.get("cop_id", "")), Counter())[str(row.get("status", ""))] += 1
    return out


async def _red_since(services: Services) -> dict[str, dict[str, datetime]]:
    """{encoded CoP key: {area title: first seen red}}: one query over the weekly check's rows of every CoP."""
    out: dict[str, dict[str, datetime]] = {}
    for row in await services.store.query(red_streaks.TABLE, None):
        since = row.get("since")
        if isinstance(since, datetime):
            out.setdefault(row.partition_key, {})[str(row.get("area", ""))] = since
    return out


@dataclass(frozen=True)
class Table:
    key: str  # the CSV's name: /report/.../data.csv?table=<key>
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    note: str = ""


@dataclass(frozen=True)
class HealthRow:
    cop_id: str
    name: str
    ratings: tuple[str, ...]  # one per health area, in AREAS order ("none" when not measured)
    trend: tuple[int, ...]  # members per day over the trend window, oldest first


@dataclass(frozen=True)
class Report:
    scope: str  # "all CoPs", a CoP's name, or "3 CoPs"
    role: str
    generated_at: datetime
    people: int
    memberships: int
    cops: int
    tables: dict[str, Table]
    health: tuple[HealthRow, ...]
    practice_areas_shown: bool

    def table(self, key: str) -> Table | None:
        return self.tables.get(key)


@dataclass(frozen=True)
class _CopData:
    cop: Cop
    members: Sequence[MemberDigest]  # aad_id is a pseudonym: the same person has the same one in every CoP
    lunch_and_learns: list[datetime]
    projects: Counter[str]
    queries: list[tuple[datetime, timedelta | None]]  # asked at, time to first response
    trend: tuple[int, ...]
    red_since: dict[str, datetime]  # area title -> first seen red by the weekly check (bot/health/red_streaks.py)


def _cop_data(services: Services, cop: Cop, digest: Digest, red: dict[str, datetime], now: datetime) -> _CopData:
    since = history.day_key(now - timedelta(days=TREND_DAYS), services.settings.tz)
    held = [at for at in digest.lunch_and_learns if at <= now]
    asked = [(q.asked_at, (q.first_response_at - q.asked_at) if q.first_response_at else None) for q in digest.queries]
    trend = tuple(p.members for p in digest.trend if p.day >= since)
    return _CopData(cop, digest.members, held, Counter(digest.projects.statuses), asked, trend, red)


async def _figures(services: Services, cops: Sequence[Cop], now: datetime) -> tuple[list[_CopData], list[ProgrammeRow]]:
    """Each CoP's report figures and programme row, from its indicator snapshot."""
    red = asyncio.ensure_future(_red_since(services))
    try:
        if services.health_sources is None:
            views = await snapshots.cop_views(services, cops, now)
            digests = {cop_id: digest for cop_id, (_, digest) in views.items()}
            rows = [row_of(views[c.cop_id][0], c, now) for c in cops]
        else:  # a test's own scorecard sources: the rows from them, the rest from the stored features
            found = await snapshots.scorecard_snapshots(services, cops, now)
            rows = [row_of(found[c.cop_id], c, now) for c in cops]
            digests = await snapshots.digests_of(services, cops, now)
        streaks = await red
    finally:
        red.cancel()
    data = [_cop_data(services, c, digests[c.cop_id], streaks.get(encode_key(c.cop_id), {}), now) for c in cops]
    return data, rows


def _terms(services: Services, now: datetime, data: Sequence[_CopData]) -> list[Term]:
    """The terms that have begun, from the first one with any membership or CoP in it."""
    today = now.astimezone(services.settings.tz).date()
    starts = [m.joined_at for d in data for m in d.members] + [d.cop.created_at for d in data if d.cop.created_at]
    first = min(starts).astimezone(services.settings.tz).date() if starts else today
    return [t for t in configured_terms(services.settings, today) if t.first <= today and t.last >= first]


def _pct(share: float | None) -> Cell:
    return "" if share is None else round(share * 100)


def _people_tables(services: Services, data: Sequence[_CopData], terms: Sequence[Term]) -> list[Table]:
    tz = services.settings.tz
    per_term = []
    for term in terms:
        end = term.end(tz)
        held = [m for d in data for m in d.members if m.joined_at < end]
        core = sum(1 for m in held if m.tier == "core")
        per_term.append((term.name, len({m.aad_id for m in held}), len(held), core, len(held) - core))
    everyone = [m for d in data for m in d.members]
    by_area: list[tuple[Cell, ...]] = []
    for key, name in (*ORG_AREAS, ("", "Not given")):
        chosen = [m for m in everyone if (m.org_area if m.org_area in AREA_NAMES else "") == key]
        if chosen:
            core = sum(1 for m in chosen if m.tier == "core")
            by_area.append((name, len({m.aad_id for m in chosen}), len(chosen), core, len(chosen) - core))
    return [
        Table(
            "people",
            "People and memberships by term",
            ("Term", "People", "Memberships", "Core", "Wider"),
            tuple(per_term),
            "At the end of each term, counting today's members by when they joined (people who left are not "
            "counted). A person in two CoPs is one person and two memberships.",
        ),
        Table(
            "org-areas",
            "Members by organisational area and tier",
            ("Organisational area", "People", "Memberships", "Core", "Wider"),
            tuple(by_area),
            "The area each member gave when they joined.",
        ),
    ]


async def _practice_table(services: Services, data: Sequence[_CopData]) -> Table:
    area_of = (await area_context(services)).area_of
    groups: dict[str, list[_CopData]] = {}
    for d in data:
        groups.setdefault(area_of.get(d.cop.cop_id) or UNSET, []).append(d)
    rows = []
    for name in sorted(groups, key=lambda n: (n == UNSET, n.lower())):
        members = [m for d in groups[name] for m in d.members]
        core = sum(1 for m in members if m.tier == "core")
        people = len({m.aad_id for m in members})
        rows.append((name, len(groups[name]), people, len(members), core, len(members) - core))
    return Table(
        "practice-areas",
        "Members by practice area",
        ("Practice area", "CoPs", "People", "Memberships", "Core", "Wider"),
        tuple(rows),
    )


def _activity_tables(
    services: Services, data: Sequence[_CopData], terms: Sequence[Term], digests: dict[str, Counter[str]]
) -> list[Table]:
    tz = services.settings.tz
    lunch: list[tuple[Cell, ...]] = []
    queries: list[tuple[Cell, ...]] = []
    running = 0
    for term in terms:
        start, end = term.start(tz), term.end(tz)
        count = sum(1 for d in data for at in d.lunch_and_learns if start <= at < end)
        running += count
        lunch.append((term.name, count, running))
        asked = [delay for d in data for at, delay in d.queries if start <= at < end]
        answered = [delay for delay in asked if delay is not None]
        hours: Cell = round(statistics.median(d.total_seconds() for d in answered) / 3600, 1) if answered else ""
        queries.append((term.name, len(asked), len(answered), hours))
    before = sum(1 for d in data for at in d.lunch_and_learns if terms and at < terms[0].start(tz))
    projects = []
    for d in data:
        p = d.projects
        row = (p["proposed"], p["running"], p["paused"], p["finished"], p["outcome"])
        projects.append((d.cop.name, *row))
    reach = []
    for d in data:
        g = digests.get(d.cop.cop_id, Counter())
        reach.append((d.cop.name, g["sent"], g["dead"] + g["unknown"], g["pending"] + g["sending"]))
    return [
        Table(
            "lunch-and-learns",
            "Lunch and Learns by term",
            ("Term", "Held", "Cumulative"),
            tuple(lunch),
            "Announced with the bot or recorded afterwards; cancelled ones are not counted."
            + (f" {before} held before the first term shown are not counted here." if before else ""),
        ),
        Table(
            "projects",
            "Projects and outputs",
            ("CoP", "Proposed", "Running", "Paused", "Finished", "Finished with outcome recorded"),
            tuple(projects),
        ),
        Table(
            "queries",
            "Questions and time to first response by term",
            ("Term", "Questions", "Responded to", "Median first response (hours)"),
            tuple(queries),
            "Questions the bot tracked because no FAQ entry answered them.",
        ),
        Table(
            "digests",
            "Weekly digest reach (last 30 days)",
            ("CoP", "Sent", "Failed", "Waiting"),
            tuple(reach),
            "What the bot recorded when posting each CoP's digest; records are kept for 30 days.",
        ),
    ]


def _health(
    services: Services, rows: Sequence[ProgrammeRow], data: Sequence[_CopData]
) -> tuple[tuple[HealthRow, ...], Table]:
    by_cop = {d.cop.cop_id: d for d in data}
    titles = [title for _, title in AREAS]
    tz = services.settings.tz
    out: list[HealthRow] = []
    table_rows: list[tuple[Cell, ...]] = []
    for row in sorted(rows, key=lambda r: r.name.lower()):
        rated = dict(row.ratings)
        ratings = tuple(rated.get(title, "none") for title in titles)
        found = by_cop.get(row.cop_id)
        points = found.trend if found else ()
        out.append(HealthRow(row.cop_id, row.name, ratings, points))
        change: Cell = points[-1] - points[0] if len(points) > 1 else ""
        since = found.red_since if found else {}
        red = "; ".join(
            f"{title} since {since[title].astimezone(tz):%d %b %Y}"
            for title, rating in zip(titles, ratings, strict=True)
            if rating == "red" and title in since
        )
        table_rows.append((row.name, *(r if r != "none" else "not enough data" for r in ratings), change, red))
    table = Table(
        "health",
        "Health by area",
        ("CoP", *titles, f"Members change over {TREND_DAYS} days", "Red since (weekly check)"),
        tuple(table_rows),
        "The health scorecard's ratings (as the health card gives them); the change in "
        "members is read from the scorecard's daily trend points, and how long an area has been red from the weekly "
        "programme check.",
    )
    return tuple(out), table


async def _survey(services: Services, viewer: Viewer) -> Table:
    rows: list[tuple[Cell, ...]] = []
    if viewer.is_admin and len(viewer.cops) > 1:
        found = await survey_results(services, None, admin=True)
        views = [found] if found is not None else []
    else:
        views = [r for c in viewer.cops if (r := await survey_results(services, c.cop_id, admin=False)) is not None]
    for r in views:
        if r.total is None:
            continue
        for s in STATEMENTS:
            if s.key not in r.statements:
                continue
            share = r.total.agree_share(s.key)
            if share is None:
                continue
            rows.append((r.scope, s.text, _pct(s.baseline), _pct(share), round((share - s.baseline) * 100)))
        for cop in r.cops:
            rows.append((cop.name, "All statements", "", _pct(cop.tally.overall_agree_share), ""))
    if not views:
        note = "No impact survey has been run yet."
    elif not rows:
        note = "The latest round's figures are held back: they would let a CoP with too few answers be worked out."
    else:
        note = "The latest round. Figures of too few responses are held back, as in the survey results card."
    return Table(
        "survey",
        "Impact survey against the 2021 baseline",
        ("Scope", "Statement", "2021 % agree", "Latest % agree", "Change (points)"),
        tuple(rows),
        note,
    )


async def gather(services: Services, viewer: Viewer) -> Report:
    now = services.clock.now()
    cops = list(viewer.cops)
    data, rows = await _figures(services, cops, now)
    terms = _terms(services, now, data)
    health, health_table = _health(services, rows, data)
    tables = [*_people_tables(services, data, terms)]
    practice = any(c.practice_area_id or c.practice_area for c in cops)
    if practice:
        tables.append(await _practice_table(services, data))
    tables += _activity_tables(services, data, terms, await digest_statuses(services))
    tables += [health_table, await _survey(services, viewer)]
    everyone = [m for d in data for m in d.members]
    if viewer.is_admin and len(cops) > 1:
        scope = "all CoPs"
    elif len(cops) == 1:
        scope = cops[0].name
    else:
        scope = f"{len(cops)} CoPs"
    return Report(
        scope=scope,
        role=viewer.role,
        generated_at=now,
        people=len({m.aad_id for m in everyone}),
        memberships=len(everyone),
        cops=len(cops),
        tables={t.key: t for t in tables},
        health=health,
        practice_areas_shown=practice,
    )
