"""What a CoP's scorecard and report rows are computed from, kept small enough to store in one row: a digest.

The full recount (bot/health/providers.py ``gather``) reads ten partitions for one CoP; a digest holds what those
reads yield that any figure needs, with its times, so the figures for any later ``now`` are computed from it
exactly, windows included ("joined in the last 90 days", the median first response of the last 90 days, Lunch
and Learns this term, feedback of the last six months, open questions past the answer target):

- members: when each joined, tier, organisational area, when a wider member became core, and a pseudonymous
  marker (HMAC of the AAD id with the signing key) so the report counts people across CoPs without names;
- questions: when each was asked and first responded to, whether it is open, and the contributor markers of the
  askers and first responders of the last :data:`~bot.health.thresholds.Thresholds.contributors_window_days`;
- when each FAQ entry changed since the term began, what kind of event was held when (events not cancelled and
  recorded activities), event feedback summed per event, the projects' statuses, the survey figures as the
  disclosure rule lets them through, and the trend points of the last :data:`TREND_DAYS` days.

:func:`build` reads the sources (one round trip each, issued together); :func:`evaluate` turns a digest into the
:class:`~bot.health.snapshot.CopSnapshot` the engine rates, and returns None when the digest cannot give exact
figures for ``now`` (a survey starts after it was made, the term began before the FAQ changes it kept, the
signing key changed, a clock before it): the caller then recounts. Counts and pseudonyms only: no names.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import statistics
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.cops import Cop
from bot.domain.events import EventRepo
from bot.domain.faq import TABLE as FAQ_TABLE
from bot.domain.members import MembershipRepo
from bot.domain.projects import ProjectRepo
from bot.domain.queries import QueryRepo
from bot.domain.records import RecordRepo
from bot.domain.survey import Survey as SurveyRecord
from bot.domain.survey import SurveyRepo
from bot.health import history
from bot.health.providers import FEEDBACK_WINDOW_DAYS, TREND_DAYS, survey_facts
from bot.health.snapshot import (
    CopSnapshot,
    EventFacts,
    MembershipFacts,
    ProjectFacts,
    QueryFacts,
    SurveyFacts,
    TrendPoint,
    cop_fields,
)
from bot.health.terms import configured_terms, current_term
from bot.health.thresholds import Thresholds
from storage.base import TableStore, Value, Where, encode_key

VERSION = 2  # 2: channel contributions of the window up to just before the digest was made
CHUNK_BYTES = 60 * 1024  # a binary property holds 64 KiB
MAX_CHUNKS = 15  # ~900 KiB compressed, under the 1 MiB entity limit: some 20,000 members
# channel contributions of days from (made_at - LIVE_MARGIN) on are read live: a day's rows keep being written
# that day, and another instance's clock may be a little behind
LIVE_MARGIN = timedelta(minutes=10)


def _us(at: datetime) -> int:
    """Microseconds since the epoch: exact, unlike a float of seconds."""
    delta = at.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _at(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def member_marker(signing_key: str, aad_id: str) -> str:
    """A person's pseudonym in digests: the same in every CoP, so the report counts people, not memberships."""
    return hmac.new(signing_key.encode(), f"member|{aad_id}".encode(), hashlib.sha256).hexdigest()[:24]


def key_fingerprint(signing_key: str) -> str:
    """Which key made a digest's markers: a digest made with another key is recounted, not mixed."""
    return hmac.new(signing_key.encode(), b"health-digest", hashlib.sha256).hexdigest()[:12]


@dataclass(frozen=True)
class MemberDigest:
    marker: str
    joined_at: datetime
    tier: str  # "core" or "wider"
    org_area: str
    moved_at: datetime | None  # core now, was wider, and when the tier changed

    @property
    def aad_id(self) -> str:
        """The pseudonym, under the name the report's people counts use (distinct per person)."""
        return self.marker


@dataclass(frozen=True)
class QueryDigest:
    asked_at: datetime
    first_response_at: datetime | None
    open: bool
    unanswered: bool  # no first response yet (first_response_at is None)
    asker: str = ""  # contributor markers, kept only within the contributors window of the digest's time
    responder: str = ""


@dataclass(frozen=True)
class ProjectDigest:
    total: int
    finished_with_outcome: int
    finished_without_outcome: int
    statuses: Mapping[str, int]  # status -> projects, plus "outcome": projects with an impact recorded


@dataclass(frozen=True)
class Digest:
    cop_id: str
    made_at: datetime
    key: str  # key_fingerprint of the signing key
    members: tuple[MemberDigest, ...]
    queries: tuple[QueryDigest, ...]
    faq_since: datetime  # FAQ changes from here on are in ``faq``
    faq: tuple[datetime, ...]
    activities: tuple[tuple[str, datetime], ...]  # (kind, start): events not cancelled, and recorded activities
    feedback: tuple[tuple[datetime, int, int], ...]  # (event start, sum of 1-5 ratings, ratings), events not cancelled
    projects: ProjectDigest
    survey: SurveyFacts | None
    trend: tuple[TrendPoint, ...]
    valid_until: datetime | None = None  # the next time a figure changes without a write (a survey starting)
    lunch_and_learns: tuple[datetime, ...] = field(default=())  # for the report: held, events and records
    # (day YYYYMMDD, contributor marker) of ``contrib`` rows of the window before ``live_from``; later days are read
    # live by the caller (their rows are written without marking the snapshot; deletions mark it)
    channel: tuple[tuple[str, str], ...] = field(default=())
    live_from: str = ""

    def usable(self, now: datetime, signing_key: str, term_start: datetime) -> bool:
        return (
            self.key == key_fingerprint(signing_key)
            and self.made_at <= now
            and (self.valid_until is None or now < self.valid_until)
            and self.faq_since <= term_start
        )


async def build(
    store: TableStore,
    cop: Cop,
    now: datetime,
    *,
    settings: Any,
    signing_key: str,
    thresholds: Thresholds,
    surveys: Sequence[SurveyRecord] | None = None,
) -> Digest:
    """Read the CoP's sources (ten round trips, issued together; nine when ``surveys`` is given) into a digest."""
    tz = ZoneInfo(cop.timezone or "Europe/London")
    term = current_term(now, configured_terms(settings, now.date()), tz)
    term_start = term.start(tz)
    events_repo = EventRepo(store)

    async def survey_part() -> tuple[SurveyFacts | None, datetime | None]:
        known = surveys if surveys is not None else await SurveyRepo(store).all()
        later = [s.started_at for s in known if s.cop_id == cop.cop_id and s.started_at > now]
        facts = await survey_facts(store, cop.cop_id, known, thresholds, now)
        return facts, min(later) if later else None

    since_day = history.day_key(now - timedelta(days=TREND_DAYS), tz)
    recent = now - timedelta(days=thresholds.contributors_window_days)
    live_from = f"{now - LIVE_MARGIN:%Y%m%d}"
    (
        members,
        queries,
        faq_rows,
        events,
        feedback,
        records,
        projects,
        (survey, survey_start),
        trend,
        contrib,
    ) = await _all(
        MembershipRepo(store).members_of(cop.cop_id),
        QueryRepo(store).of_cop(cop.cop_id),
        store.query(FAQ_TABLE, encode_key(cop.cop_id), [Where("updated_at", "ge", term_start)]),
        events_repo.of_cop(cop.cop_id),
        events_repo.feedback(cop.cop_id),
        RecordRepo(store).of_cop(cop.cop_id),
        ProjectRepo(store).of_cop(cop.cop_id),
        survey_part(),
        history.trend(store, cop.cop_id, since_day),
        store.query(history.CONTRIB, encode_key(cop.cop_id), [Where("RowKey", "ge", f"{recent:%Y%m%d}")]),
    )
    query_digests = []
    for q in queries:
        asker = q.created_at >= recent and q.asker_aad
        responder = q.first_response_at is not None and q.first_response_at >= recent and q.first_responder_aad
        query_digests.append(
            QueryDigest(
                q.created_at,
                q.first_response_at,
                q.is_open,
                q.first_response_at is None,
                history.contributor_marker(signing_key, q.asker_aad) if asker else "",
                history.contributor_marker(signing_key, q.first_responder_aad) if responder else "",
            )
        )
    kept = [e for e in events if not e.cancelled]
    starts = {e.event_id: e.start for e in kept}
    sums: dict[str, tuple[int, int]] = {}
    for f in feedback:
        if f.event_id in starts and 1 <= f.rating <= 5:
            total, count = sums.get(f.event_id, (0, 0))
            sums[f.event_id] = (total + f.rating, count + 1)
    finished = [p for p in projects if p.status == "finished"]
    with_outcome = sum(1 for p in finished if p.outcome is not None)
    statuses: Counter[str] = Counter(p.status for p in projects)
    statuses["outcome"] = sum(1 for p in projects if p.has_impact)
    activities = [(e.kind, e.start) for e in kept] + [(r.kind, r.held_at) for r in records]
    return Digest(
        cop_id=cop.cop_id,
        made_at=now,
        key=key_fingerprint(signing_key),
        members=tuple(
            MemberDigest(
                member_marker(signing_key, m.aad_id),
                m.joined_at,
                "core" if m.tier == "core" else "wider",
                m.org_area,
                m.tier_changed_at if m.tier == "core" and m.was_wider else None,
            )
            for m in members
        ),
        queries=tuple(query_digests),
        faq_since=term_start,
        faq=tuple(
            row["updated_at"]  # type: ignore[misc]
            for row in faq_rows
            if not row.row_key.startswith("_") and isinstance(row.get("updated_at"), datetime)
        ),
        activities=tuple(activities),
        feedback=tuple((starts[event_id], total, count) for event_id, (total, count) in sums.items()),
        projects=ProjectDigest(len(projects), with_outcome, len(finished) - with_outcome, dict(statuses)),
        survey=survey,
        trend=tuple(trend),
        valid_until=survey_start,
        lunch_and_learns=tuple(sorted(start for kind, start in activities if kind == "lunch_and_learn")),
        channel=tuple(
            sorted((row.row_key[:8], str(row.get("who", ""))) for row in contrib if row.row_key[:8] < live_from)
        ),
        live_from=live_from,
    )


async def _all(*reads: Any) -> list[Any]:
    tasks = [asyncio.ensure_future(r) for r in reads]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        raise


def with_point(digest: Digest, point: TrendPoint) -> Digest:
    """The digest with today's trend point recorded (replacing one of the same day)."""
    trend = (*(p for p in digest.trend if p.day != point.day), point)
    return replace(digest, trend=tuple(sorted(trend, key=lambda p: p.day)))


def today_point(digest: Digest, cop: Cop, now: datetime, thresholds: Thresholds) -> TrendPoint:
    """The trend point the scorecard shows for today (members, core, median first response)."""
    tz = ZoneInfo(cop.timezone or "Europe/London")
    facts = _membership(digest, now, thresholds, tz)
    median = _queries(digest, cop, now, thresholds).median_first_response_hours
    return TrendPoint(history.day_key(now, tz), facts.total, facts.core, median)


def _membership(digest: Digest, now: datetime, t: Thresholds, tz: ZoneInfo) -> MembershipFacts:
    """As bot/health/providers.py ``membership_facts`` computes it from the roster and the trend."""
    window_start = now - timedelta(days=t.growth_window_days)
    start_day = history.day_key(window_start, tz)
    earlier = [p for p in digest.trend if p.day <= start_day]
    by_area: dict[str, int] = {}
    for m in digest.members:
        by_area[m.org_area] = by_area.get(m.org_area, 0) + 1
    return MembershipFacts(
        core=sum(1 for m in digest.members if m.tier == "core"),
        wider=sum(1 for m in digest.members if m.tier != "core"),
        by_area=by_area,
        joined_in_window=sum(1 for m in digest.members if m.joined_at >= window_start),
        members_at_window_start=earlier[-1].members if earlier else None,
        estimated_start=sum(1 for m in digest.members if m.joined_at < window_start),
        wider_to_core_in_window=sum(1 for m in digest.members if m.moved_at is not None and m.moved_at >= window_start),
    )


def _queries(digest: Digest, cop: Cop, now: datetime, t: Thresholds) -> QueryFacts:
    since = now - timedelta(days=t.queries_window_days)
    window = [q for q in digest.queries if q.asked_at >= since]
    delays = [
        (q.first_response_at - q.asked_at).total_seconds() / 3600 for q in window if q.first_response_at is not None
    ]
    target = timedelta(hours=cop.answer_target_hours)
    return QueryFacts(
        asked=len(window),
        responded=len(delays),
        median_first_response_hours=statistics.median(delays) if delays else None,
        open_total=sum(1 for q in digest.queries if q.open),
        open_past_target=sum(1 for q in digest.queries if q.open and q.unanswered and now - q.asked_at > target),
        answer_target_hours=cop.answer_target_hours,
    )


def _events(digest: Digest, term_start: datetime, term_end: datetime, now: datetime) -> EventFacts:
    def last(kind: str) -> datetime | None:
        found = [start for k, start in digest.activities if k == kind and start <= now]
        return max(found) if found else None

    in_term = [(kind, start) for kind, start in digest.activities if term_start <= start < term_end]
    recent = now - timedelta(days=FEEDBACK_WINDOW_DAYS)
    rated = [(total, count) for start, total, count in digest.feedback if recent <= start <= now]
    count = sum(c for _, c in rated)
    return EventFacts(
        events_this_term=len(in_term),
        lunch_and_learns_this_term=sum(1 for kind, _ in in_term if kind == "lunch_and_learn"),
        last_core_meeting=last("core_meeting"),
        last_lead_sponsor_meeting=last("lead_sponsor"),
        feedback_average=sum(total for total, _ in rated) / count if count else None,
        feedback_count=count,
    )


def contributors_since(digest: Digest, since: datetime) -> set[str]:
    """Contributor markers of the askers and first responders within the window starting at ``since``."""
    out: set[str] = set()
    for q in digest.queries:
        if q.asker and q.asked_at >= since:
            out.add(q.asker)
        if q.responder and q.first_response_at is not None and q.first_response_at >= since:
            out.add(q.responder)
    return out


def evaluate(
    digest: Digest,
    cop: Cop,
    now: datetime,
    *,
    settings: Any,
    signing_key: str,
    thresholds: Thresholds,
    channel: Iterable[tuple[str, str]],
) -> CopSnapshot | None:
    """The CoP's snapshot at ``now`` from ``digest`` and ``channel``, the (day, marker) of the CoP's ``contrib`` rows
    read live from ``digest.live_from`` on (rows of earlier days may be included: they are in the digest), exactly
    as the full recount gives it; None when the digest cannot say (recount)."""
    tz = ZoneInfo(cop.timezone or "Europe/London")
    term = current_term(now, configured_terms(settings, now.date()), tz)
    term_start, term_end = term.start(tz), term.end(tz)
    if not digest.usable(now, signing_key, term_start):
        return None
    facts = _membership(digest, now, thresholds, tz)
    queries = _queries(digest, cop, now, thresholds)
    window = now - timedelta(days=thresholds.contributors_window_days)
    first_day = f"{window:%Y%m%d}"
    contributors = contributors_since(digest, window)
    contributors.update(marker for day, marker in digest.channel if day >= first_day)
    contributors.update(marker for day, marker in channel if day >= first_day and day >= digest.live_from)
    today = history.day_key(now, tz)
    since_day = history.day_key(now - timedelta(days=TREND_DAYS), tz)
    point = TrendPoint(today, facts.total, facts.core, queries.median_first_response_hours)
    trend = [p for p in digest.trend if p.day >= since_day and p.day != today] + [point]
    p = digest.projects
    return CopSnapshot(
        **cop_fields(cop),
        term=term,
        members=facts,
        contributors_30d=len(contributors),
        queries=queries,
        faq_added_this_term=sum(1 for at in digest.faq if at >= term_start),
        events=_events(digest, term_start, term_end, now),
        survey=digest.survey,
        trend=tuple(trend),
        gaps=(),
        projects=ProjectFacts(p.total, p.finished_with_outcome, p.finished_without_outcome),
    )


# -- stored form ----------------------------------------------------------------------------------------------


def _opt(at: datetime | None) -> int | None:
    return None if at is None else _us(at)


def _opt_at(us: int | None) -> datetime | None:
    return None if us is None else _at(us)


def to_json(d: Digest) -> dict[str, Any]:
    s = d.survey
    return {
        "v": VERSION,
        "cop": d.cop_id,
        "at": _us(d.made_at),
        "key": d.key,
        "m": [[m.marker, _us(m.joined_at), m.tier, m.org_area, _opt(m.moved_at)] for m in d.members],
        "q": [
            [_us(q.asked_at), _opt(q.first_response_at), int(q.open), int(q.unanswered), q.asker, q.responder]
            for q in d.queries
        ],
        "fs": _us(d.faq_since),
        "f": [_us(at) for at in d.faq],
        "a": [[kind, _us(at)] for kind, at in d.activities],
        "fb": [[_us(at), total, count] for at, total, count in d.feedback],
        "p": [
            d.projects.total,
            d.projects.finished_with_outcome,
            d.projects.finished_without_outcome,
            dict(d.projects.statuses),
        ],
        "s": None if s is None else [s.survey_id, s.invited, s.responses, s.agree_share],
        "t": [[p.day, p.members, p.core, p.median_response_hours] for p in d.trend],
        "vu": _opt(d.valid_until),
        "ll": [_us(at) for at in d.lunch_and_learns],
        "c": [[day, marker] for day, marker in d.channel],
        "lf": d.live_from,
    }


def from_json(data: Mapping[str, Any]) -> Digest | None:
    """The digest, or None for another version or a damaged one (the caller recounts)."""
    if data.get("v") != VERSION:
        return None
    try:
        p = data["p"]
        s = data["s"]
        return Digest(
            cop_id=str(data["cop"]),
            made_at=_at(int(data["at"])),
            key=str(data["key"]),
            members=tuple(
                MemberDigest(str(mk), _at(int(j)), str(tier), str(area), _opt_at(mv))
                for mk, j, tier, area, mv in data["m"]
            ),
            queries=tuple(
                QueryDigest(_at(int(a)), _opt_at(r), bool(o), bool(u), str(ak), str(rs))
                for a, r, o, u, ak, rs in data["q"]
            ),
            faq_since=_at(int(data["fs"])),
            faq=tuple(_at(int(at)) for at in data["f"]),
            activities=tuple((str(kind), _at(int(at))) for kind, at in data["a"]),
            feedback=tuple((_at(int(at)), int(total), int(count)) for at, total, count in data["fb"]),
            projects=ProjectDigest(int(p[0]), int(p[1]), int(p[2]), {str(k): int(v) for k, v in p[3].items()}),
            survey=None
            if s is None
            else SurveyFacts(
                str(s[0]), int(s[1]), None if s[2] is None else int(s[2]), None if s[3] is None else float(s[3])
            ),
            trend=tuple(
                TrendPoint(str(day), int(m), int(c), None if med is None else float(med))
                for day, m, c, med in data["t"]
            ),
            valid_until=_opt_at(data.get("vu")),
            lunch_and_learns=tuple(_at(int(at)) for at in data.get("ll", [])),
            channel=tuple((str(day), str(marker)) for day, marker in data["c"]),
            live_from=str(data["lf"]),
        )
    except (KeyError, TypeError, ValueError, IndexError, AttributeError):
        return None


def encode(d: Digest) -> dict[str, Value] | None:
    """The digest as row properties (compressed JSON in 60 KiB binary chunks); None when it is too large for one
    row (the CoP is then always recounted)."""
    raw = zlib.compress(as_text(d).encode(), 6)
    chunks = [raw[i : i + CHUNK_BYTES] for i in range(0, len(raw), CHUNK_BYTES)]
    if len(chunks) > MAX_CHUNKS:
        return None
    props: dict[str, Value] = {f"d{i}": chunk for i, chunk in enumerate(chunks)}
    props["chunks"] = len(chunks)
    return props


def as_text(d: Digest) -> str:
    """The digest as the JSON text it is stored as (before compression): what a search for a pseudonym reads."""
    return json.dumps(to_json(d), separators=(",", ":"))


def decode(row: Mapping[str, Any]) -> Digest | None:
    try:
        count = int(row.get("chunks", 0))
        parts = [row.get(f"d{i}") for i in range(count)]
        if not count or not all(isinstance(p, bytes) for p in parts):
            return None
        data = json.loads(zlib.decompress(b"".join(p for p in parts if isinstance(p, bytes))))
    except (ValueError, TypeError, zlib.error):
        return None
    return from_json(data) if isinstance(data, dict) else None
