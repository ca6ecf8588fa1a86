"""The indicator snapshots (bot/health/snapshots.py) give exactly the full recount's figures.

A busy random history on each backend (SQLite and Azurite): joins, leaves, tier changes, questions asked, first
responses and answers, events created and cancelled, RSVPs, feedback, recorded activities, projects moving to
finished with outcomes, FAQ entries, a survey round and its answers, a later round that has not started yet, and
channel contributions; the clock moving on by hours and days between writes, so windows (90 days, this term, six
months of feedback, the answer target) slide under stored snapshots. Snapshots are refreshed at random times, the
token writes sometimes left pending; at every check the scorecard's facts equal the original recount's
(bot/health/providers.py ``gather``), and at the end the rebuild command finds no difference.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.clock import FakeClock
from bot.core.config import Settings
from bot.core.turn import Person
from bot.domain.cops import Cop, CopRepo, PersonRef
from bot.domain.events import Draft as EventDraft
from bot.domain.events import EventRepo, Kind
from bot.domain.faq import Draft as FaqDraft
from bot.domain.faq import FaqRepo
from bot.domain.members import MembershipRepo, Profile, Tier
from bot.domain.projects import Outcome, Project, ProjectRepo, new_project_id
from bot.domain.queries import Query, QueryRepo
from bot.domain.records import Record, RecordRepo, new_id, noon
from bot.domain.survey import STATEMENT_KEYS, Survey, SurveyRepo, new_round_id, survey_id_for
from bot.health import digest as digests
from bot.health import history, marking, rebuild, snapshots
from bot.health.marking import MarkingStore, raw_store
from bot.health.snapshot import TrendPoint
from bot.health.thresholds import DEFAULT_THRESHOLDS
from bot.jobs.background import Background, settle_background
from bot.services import Services
from storage.base import BatchOp, Row, TableStore, Unavailable
from storage.sqlite import SqliteStore
from tests.features.health.kit import make_cop
from tests.kit.activities import Team, User, team, user
from tests.kit.harness import running_bot
from tests.kit.records import channel_reference
from tools import rebuild_health

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # Spring term; the history runs into the summer and autumn
LEADS = (user(701, "Lead One"), user(702, "Lead Two"), user(703, "Lead Three"))
PEOPLE = tuple(user(800 + n, f"Person {n}") for n in range(36))
AREAS = ("central", "faculty", "vpo", "other", "")
KINDS: tuple[Kind, ...] = ("lunch_and_learn", "core_meeting", "lead_sponsor", "workshop", "social")
LONDON = ZoneInfo("Europe/London")


def fresh_teams() -> tuple[Team, Team, Team]:
    """Three CoPs no other test uses (Azurite is shared by the whole test run)."""
    base = 700_000 + random.SystemRandom().randrange(100_000) * 10
    return team(base + 1, "Snapshot One"), team(base + 2, "Snapshot Two"), team(base + 3, "Snapshot Three")


def _person(u: User) -> Person:
    return Person(u.id, u.aad, u.name)


class History:
    """Random writes through the app's store, remembering what exists so later writes can refer to it."""

    def __init__(
        self, teams: tuple[Team, ...], store: TableStore, services: Services, clock: FakeClock, url: str, seed: int
    ) -> None:
        self.teams = teams
        self.store = store
        self.services = services
        self.clock = clock
        self.url = url
        self.rng = random.Random(seed)
        self.members: dict[str, set[str]] = {t.id: set() for t in teams}
        self.queries: dict[str, list[Query]] = {t.id: [] for t in teams}
        self.events: dict[str, list[str]] = {t.id: [] for t in teams}
        self.records: dict[str, list[str]] = {t.id: [] for t in teams}
        self.projects: dict[str, list[str]] = {t.id: [] for t in teams}
        self.surveys: list[Survey] = []

    async def step(self) -> str:
        rng = self.rng
        where = rng.choice(self.teams)
        cop = where.id
        lead = LEADS[self.teams.index(where)]
        now = self.clock.now()
        who = rng.choice(PEOPLE)
        action = rng.choices(
            ["join", "leave", "ask", "respond", "answer", "event", "cancel", "rsvp", "feedback", "record",
             "unrecord", "project", "finish", "faq", "contribute", "survey"],
            [14, 3, 8, 6, 4, 5, 1, 3, 5, 2, 1, 2, 2, 2, 6, 10],
        )[0]  # fmt: skip
        if action == "join" or (action == "leave" and not self.members[cop]):
            tier: Tier = "core" if rng.random() < 0.3 else "wider"
            area = AREAS[PEOPLE.index(who) % len(AREAS)]
            await MembershipRepo(self.store).join(
                cop, Profile(who.aad, who.id, who.name, org_area=area), tier, now, enforce_one_core=False
            )
            self.members[cop].add(who.aad)
            return "join"
        if action == "leave":
            gone = rng.choice(sorted(self.members[cop]))
            await MembershipRepo(self.store).leave(cop, gone, now)
            self.members[cop].discard(gone)
            return action
        if action == "ask" or (action in ("respond", "answer") and not self.queries[cop]):
            asked = now - timedelta(hours=rng.randint(0, 200))
            query = await QueryRepo(self.store).open(
                cop, _person(who), f"Question {rng.random()}?", asked, place_kind="channel",
                reference=channel_reference(where, self.url),
            )  # fmt: skip
            self.queries[cop].append(query)
            return "ask"
        if action == "respond":
            open_ = [q for q in self.queries[cop] if q.first_response_at is None]
            if open_:
                q = rng.choice(open_)
                done = await QueryRepo(self.store).record_first_response(q, _person(lead), max(now, q.created_at))
                self.queries[cop][self.queries[cop].index(q)] = done
            return action
        if action == "answer":
            open_ = [q for q in self.queries[cop] if q.is_open]
            if open_:
                q = rng.choice(open_)
                done = await QueryRepo(self.store).close(q, _person(lead), max(now, q.created_at), "Answer.")
                self.queries[cop][self.queries[cop].index(q)] = done
            return action
        if action == "event" or (action in ("cancel", "rsvp", "feedback") and not self.events[cop]):
            start = now + timedelta(days=rng.randint(-120, 40), hours=rng.randint(0, 8))
            kind = rng.choice(KINDS)
            draft = EventDraft(f"{kind} {rng.random()}", kind, start, start + timedelta(hours=1), "Europe/London")
            event = await EventRepo(self.store).create(cop, draft, lead.aad, lead.name, now)
            self.events[cop].append(event.event_id)
            return "event"
        if action == "cancel":
            await EventRepo(self.store).cancel(cop, rng.choice(self.events[cop]), now)
            return action
        if action == "rsvp":
            event_id = rng.choice(self.events[cop])
            choice = rng.choice(("going", "maybe", "no"))
            await EventRepo(self.store).rsvp(cop, event_id, who.aad, who.id, who.name, choice, now)  # type: ignore[arg-type]
            return action
        if action == "feedback":
            event_id = rng.choice(self.events[cop])
            rating = rng.choice((0, 1, 2, 3, 4, 5, 5, 4, 6))  # out-of-range ratings are not counted
            await EventRepo(self.store).record_feedback(cop, event_id, who.aad, who.name, rating, "", now)
            return action
        if action == "record" or (action == "unrecord" and not self.records[cop]):
            day = (now - timedelta(days=rng.randint(0, 150))).astimezone(LONDON).date()
            kind = rng.choice(KINDS)
            by = PersonRef(lead.aad, lead.id, lead.name)
            record = Record(new_id(), cop, kind, day, noon(day, LONDON), "Held", 12, (), "", by, now)
            await RecordRepo(self.store).add(record)
            self.records[cop].append(record.record_id)
            return "record"
        if action == "unrecord":
            gone = self.records[cop].pop(rng.randrange(len(self.records[cop])))
            await RecordRepo(self.store).remove(cop, gone)
            return action
        if action == "project" or (action == "finish" and not self.projects[cop]):
            project = Project(
                cop, new_project_id(), f"Project {rng.random()}", status=rng.choice(("proposed", "running"))
            )
            await ProjectRepo(self.store).create(project)
            self.projects[cop].append(project.project_id)
            return "project"
        if action == "finish":
            outcome = Outcome("Faster", "Finance", "", (), now) if rng.random() < 0.6 else None
            await ProjectRepo(self.store).change(
                cop, rng.choice(self.projects[cop]), now, lambda p: replace(p, status="finished", outcome=outcome)
            )
            return action
        if action == "faq":
            await FaqRepo(self.store).add(cop, [FaqDraft(f"Where is item {rng.random()}?", "There.")], "lead", now)
            return action
        if action == "contribute":
            await history.record_contribution(self.store, self.services.settings.signing_key, cop, who.aad, now)
            return action
        return await self.survey(who, now)

    async def survey(self, who: User, now: datetime) -> str:
        repo = SurveyRepo(self.store)
        live = [s for s in self.surveys if s.started_at <= now < s.closes_at]
        if not self.surveys or (not live and self.rng.random() < 0.5):
            # a round for every CoP, starting now or in a few days (a snapshot made before then must not be used)
            started = now + timedelta(days=self.rng.choice((0, 0, 3)))
            round_id = new_round_id(started)
            for where in self.teams:
                self.surveys.append(
                    await repo.open(
                        Survey(survey_id_for(round_id, where.id), round_id, where.id, where.name, started,
                               started + timedelta(days=30), started + timedelta(days=7), invited=12)
                    )
                )  # fmt: skip
            return "survey round"
        if not live:
            return "survey (none open)"
        latest = max(s.started_at for s in live)
        mine = [s for s in live if s.started_at == latest and who.aad in self.members[s.cop_id]]
        if not mine or await repo.has_answered(self.services.settings.marker_key, mine[0], who.aad):
            return "survey (not asked)"
        answers = {key: self.rng.randint(1, 5) for key in STATEMENT_KEYS}
        await repo.answer(self.services.settings.marker_key, mine, who.aad, answers, now)
        return "survey answer"


async def _cops(store: TableStore, teams: tuple[Team, ...]) -> list[Cop]:
    return [c for c in await CopRepo(store).all() if c.cop_id in {t.id for t in teams}]


async def _check(services: Services, teams: tuple[Team, ...], now: datetime) -> int:
    """Every CoP's scorecard facts equal the original recount's; returns how many came from a stored snapshot."""
    used = 0
    cops = await _cops(services.store, teams)
    views = await snapshots.cop_views(services, cops, now)  # the programme view's and the report's reading
    for cop in cops:
        found, from_snapshot = await snapshots.cop_snapshot(services, cop, now)
        counted = await rebuild.recount(services.store, services.settings, cop, now)
        assert rebuild.differences(found, counted) == [], (cop.name, now, from_snapshot)
        assert rebuild.differences(views[cop.cop_id][0], counted) == [], (cop.name, now, "all CoPs")
        used += from_snapshot
    return used


async def test_a_busy_history_gives_the_full_recount_figures_at_every_step(store: TableStore) -> None:
    clock = FakeClock(START)
    async with running_bot(store, clock=clock) as bot:
        services = bot.services
        assert isinstance(services.store, MarkingStore)
        teams = fresh_teams()
        for where, lead in zip(teams, LEADS, strict=True):
            await make_cop(services.store, bot.connector.url, where, START - timedelta(days=200), leads=[lead])
        history_ = History(teams, services.store, services, clock, bot.connector.url, seed=2026)
        used = 0
        done: list[str] = []
        for step in range(240):
            clock.advance(timedelta(hours=history_.rng.choice((1, 3, 9, 26, 70))))
            done.append(await history_.step())
            roll = history_.rng.random()
            if roll < 0.35:
                await settle_background(services)  # token writes landed (else: still pending on this instance)
            if roll < 0.15:
                await snapshots.refresh_stale(services, await _cops(services.store, teams), clock.now())
            if step % 8 == 7:
                used += await _check(services, teams, clock.now())
                await settle_background(services)
        # the history touched every kind of source, and the check read stored snapshots, not only recounts
        assert {"join", "leave", "ask", "respond", "answer", "event", "rsvp", "feedback", "record", "finish",
                "faq", "contribute", "survey answer"} <= set(done), Counter(done)  # fmt: skip
        assert used >= 5
        # quiet weeks: no writes, the windows slide under the stored snapshots (a term ends, 90 days pass)
        await settle_background(services)
        await snapshots.refresh_stale(services, await _cops(services.store, teams), clock.now())
        for days in (0, 1, 6, 20, 45, 95):
            clock.advance(timedelta(days=days, hours=1))
            assert await _check(services, teams, clock.now()) >= 1
            await settle_background(services)
        store_ = raw_store(services.store)
        cops = await _cops(store_, teams)
        checks = [await rebuild.check_cop(store_, services.settings, c, clock.now(), write=False) for c in cops]
        assert [c.differences for c in checks] == [(), (), ()]
        assert {c.state for c in checks} <= {"current", "stale"}


async def test_a_write_marks_the_snapshot_stale_until_it_is_refreshed(store: TableStore) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    async with running_bot(store, clock=clock) as bot:
        services = bot.services
        where, lead = fresh_teams()[0], LEADS[0]
        cop = await make_cop(services.store, bot.connector.url, where, clock.now(), leads=[lead])
        now = clock.now()
        assert await snapshots.refresh(services, cop, now)
        stored = await snapshots.read(services.store, cop.cop_id)
        assert stored.current
        member = PEOPLE[0]
        await MembershipRepo(services.store).join(cop.cop_id, Profile(member.aad, member.id, member.name), "core", now)
        marks = marking.marks_of(services)
        assert marks is not None
        assert marks.dirty(cop.cop_id)  # before the token write has landed, this instance already knows
        found, from_snapshot = await snapshots.cop_snapshot(services, cop, now)
        assert (found.members.core, from_snapshot) == (1, False)
        await settle_background(services)
        assert not marks.dirty(cop.cop_id)
        after = await snapshots.read(services.store, cop.cop_id)
        assert after.token != stored.token  # the write replaced the token
        # the recount the scorecard made was stored under the token it read: current when the token write had
        # landed before that read, else stale until the minute tick refreshes it
        assert await snapshots.refresh_stale(services, [cop], now) == (0 if after.current else 1)
        found, from_snapshot = await snapshots.cop_snapshot(services, cop, now)
        assert (found.members.core, from_snapshot) == (1, True)


async def test_a_slower_refresh_never_replaces_a_newer_snapshot(store: TableStore) -> None:
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    async with running_bot(store, clock=clock) as bot:
        services = bot.services
        cop = await make_cop(services.store, bot.connector.url, fresh_teams()[1], clock.now(), leads=[LEADS[1]])
        now = clock.now()
        early = await snapshots.read(services.store, cop.cop_id)  # a refresh that read the token, then stalled
        old = await digests.build(
            services.store, cop, now, settings=services.settings, signing_key=services.settings.signing_key,
            thresholds=DEFAULT_THRESHOLDS,
        )  # fmt: skip
        member = PEOPLE[1]
        await MembershipRepo(services.store).join(cop.cop_id, Profile(member.aad, member.id, member.name), "wider", now)
        await settle_background(services)
        assert await snapshots.refresh(services, cop, now)  # the newer snapshot, covering the new token
        assert not await snapshots.save(services.store, cop.cop_id, old, early)  # the stalled one is refused
        stored = await snapshots.read(services.store, cop.cop_id)
        assert stored.current
        assert stored.digest is not None
        assert len(stored.digest.members) == 1


def test_a_digest_survives_its_stored_form_and_a_damaged_one_is_refused() -> None:
    day = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    d = digests.Digest(
        cop_id="19:x@thread.tacv2",
        made_at=day,
        key="abc",
        members=(digests.MemberDigest("m1", day, "core", "vpo", day - timedelta(days=3)),),
        queries=(digests.QueryDigest(day, None, True, True, "a", ""),),
        faq_since=day - timedelta(days=30),
        faq=(day,),
        activities=(("lunch_and_learn", day),),
        feedback=((day, 9, 2),),
        projects=digests.ProjectDigest(2, 1, 0, {"finished": 1, "running": 1, "outcome": 1}),
        survey=None,
        trend=(TrendPoint("2026-05-01", 1, 1, 2.5),),
        valid_until=day + timedelta(days=2),
        lunch_and_learns=(day,),
    )
    props = digests.encode(d)
    assert props is not None
    assert digests.decode(props) == d
    assert digests.decode({**props, "d0": b"not zlib"}) is None
    assert digests.decode({}) is None
    assert digests.from_json({**digests.to_json(d), "v": 0}) is None
    # a digest is not used past a survey's start, before it was made, or under another signing key
    assert d.usable(day + timedelta(days=1), "abc-key", d.faq_since) is False  # another key's fingerprint
    keyed = replace(d, key=digests.key_fingerprint("k" * 32))
    assert keyed.usable(day + timedelta(days=1), "k" * 32, d.faq_since)
    assert not keyed.usable(day + timedelta(days=2), "k" * 32, d.faq_since)
    assert not keyed.usable(day - timedelta(seconds=1), "k" * 32, d.faq_since)
    assert not keyed.usable(day, "k" * 32, d.faq_since - timedelta(days=1))  # the term began before its FAQ list
    assert date(2026, 5, 1) == day.date()


async def test_the_rebuild_command_reports_a_wrong_snapshot_and_replaces_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``python -m tools.rebuild_health``: a snapshot that claims to be current but holds a member too many (as a
    lost write would leave it) is reported figure by figure with exit status 1; the run stores the recount, and
    the next check agrees."""
    path = tmp_path / "bot.sqlite3"
    store = SqliteStore(path)
    settings = Settings(signing_key="k" * 40, sqlite_path=path)
    now = datetime.now(UTC)
    where, lead = fresh_teams()[2], LEADS[2]
    try:
        cop = await make_cop(store, "http://127.0.0.1:1", where, now - timedelta(days=30), leads=[lead])
        for n in range(3):
            member = PEOPLE[n]
            await MembershipRepo(store).join(cop.cop_id, Profile(member.aad, member.id, member.name), "wider", now)
        [check] = await rebuild.rebuild(store, settings, now)
        assert (check.state, check.differences, check.stored) == ("missing", (), True)
        stored = await snapshots.read(store, cop.cop_id)
        assert stored.current
        assert stored.digest is not None
        extra = digests.MemberDigest("someone", now, "core", "vpo", None)
        wrong = replace(stored.digest, members=(*stored.digest.members, extra))
        assert await snapshots.save(store, cop.cop_id, wrong, stored)
    finally:
        await store.close()
    monkeypatch.setenv("COPBOT_STORAGE", "sqlite")
    monkeypatch.setenv("COPBOT_SQLITE_PATH", str(path))
    monkeypatch.setenv("COPBOT_SIGNING_KEY", "k" * 40)
    assert await rebuild_health.run(write=False) == 1
    out = capsys.readouterr().out
    assert "snapshot current" in out
    assert "differs: members.core: snapshot 1, recount 0" in out
    assert "differs: contributors_30d" not in out
    assert "1 CoPs recounted, 1 with figures that differ from their snapshot" in out
    assert await rebuild_health.run(write=True) == 1  # reported once more, and replaced
    assert await rebuild_health.run(write=False) == 0
    assert "figures equal the recount" in capsys.readouterr().out


async def test_new_channel_contributions_are_read_live_and_erased_ones_mark_the_snapshot_stale(
    store: TableStore,
) -> None:
    """Contribution markers are written on every channel message without marking the snapshot (the days since it
    was made are read live); ``forget me`` deleting a person's markers does mark it."""
    clock = FakeClock(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    async with running_bot(store, clock=clock) as bot:
        services = bot.services
        key = services.settings.signing_key
        cop = await make_cop(services.store, bot.connector.url, fresh_teams()[0], clock.now(), leads=[LEADS[0]])
        now = clock.now()
        for n in range(3):
            await history.record_contribution(services.store, key, cop.cop_id, PEOPLE[n].aad, now - timedelta(days=2))
        await settle_background(services)
        assert await snapshots.refresh(services, cop, now)
        found, from_snapshot = await snapshots.cop_snapshot(services, cop, now)
        assert (found.contributors_30d, from_snapshot) == (3, True)
        await history.record_contribution(services.store, key, cop.cop_id, PEOPLE[3].aad, now)
        found, from_snapshot = await snapshots.cop_snapshot(services, cop, now)
        assert (found.contributors_30d, from_snapshot) == (4, True)  # today's marker, read live
        await history.erase_contributions(services.store, key, PEOPLE[0].aad)
        found, from_snapshot = await snapshots.cop_snapshot(services, cop, now)
        assert (found.contributors_30d, from_snapshot) == (3, False)
        views = await snapshots.cop_views(services, [cop], now)
        assert views[cop.cop_id][0].contributors_30d == 3


class _FailingTokens:
    """A store whose token writes fail ``failures`` times (Azure Tables unreachable for a moment)."""

    def __init__(self, inner: TableStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        if table == marking.TABLE and self.failures > 0:
            self.failures -= 1
            raise Unavailable("storage unreachable")
        return await self.inner.batch(table, partition_key, ops)


async def test_a_token_write_that_fails_keeps_the_cop_stale_here_until_it_lands(
    sqlite_store: TableStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(marking, "BUMP_RETRIES", (0.0,))  # one retry, at once
    failing = _FailingTokens(sqlite_store, failures=2)
    background = Background()
    marks = marking.Marks(failing, background)  # type: ignore[arg-type]
    store = MarkingStore(sqlite_store, marks)
    member = PEOPLE[5]
    cop_id = fresh_teams()[0].id
    await MembershipRepo(store).join(cop_id, Profile(member.aad, member.id, member.name), "wider", datetime.now(UTC))
    await background.settle()
    assert marks.dirty(cop_id)  # both attempts failed: this instance still treats the CoP as stale
    assert (await snapshots.read(sqlite_store, cop_id)).token == ""
    marks.retry_unconfirmed()  # the minute tick does this
    await background.settle()
    assert not marks.dirty(cop_id)
    assert (await snapshots.read(sqlite_store, cop_id)).token != ""
