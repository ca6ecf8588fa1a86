"""The impact survey: one anonymous response per person per round (the statements: survey_statements.py).

A round is what one ``survey start`` opens: every CoP (an admin's) or one CoP (a lead's), one survey row per CoP
under a shared round id. A person answers a round once, and the answer counts for each of their CoPs in it.

Table ``surveys``:
- partition ``index``: one row per CoP and round (row key = survey id): the CoP, round, scope, when it opened and
  closes, when the one reminder is due, how many members were invited (who started it is in the audit log).
- partition ``round|<round id>``: ``people`` (the round's tally of respondents, each counted once, and how many
  comment pages there are), ``tally|<survey id>`` per CoP (each respondent who belongs to it), ``v|<marker>``
  per respondent, where marker = HMAC(marker key, round id + AAD id), and ``c|<page>`` rows of comments.

An answer is one batch in that partition (atomic): the marker's insert, the people tally, the tally of each of the
person's CoPs, and the comment page. Either all happen or none; a second answer fails on the marker's insert and
changes nothing. Nothing stored says what any one person answered: tallies hold sums, the marker holds nothing
but its key (a keyed hash, not reversible without the marker key), and a comment is put at a random place in a
page, never in a row of its own, so neither its position nor a timestamp ties it to a marker. Markers exist only
to refuse second answers, so :meth:`SurveyRepo.forget_markers` deletes them when the round closes.

Surveys opened before rounds (no ``layout`` field) keep their old place: partition = the survey id, one ``tally``
row and markers of HMAC(key, survey id + AAD id); each is a round of its own, answered and read the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.codec import dumps, loads
from bot.domain.survey_disclosure import Figures
from bot.domain.survey_statements import AGREE_VALUES
from bot.domain.survey_statements import SCALE as SCALE  # the bot's modules read the survey from here
from bot.domain.survey_statements import STATEMENT_KEYS as STATEMENT_KEYS
from bot.domain.survey_statements import STATEMENTS as STATEMENTS
from bot.domain.survey_statements import Statement as Statement
from bot.domain.survey_statements import first_person as first_person
from storage.base import AlreadyExists, BatchOp, NotFound, PreconditionFailed, Row, TableStore, Where, encode_key

TABLE = "surveys"
INDEX = "index"
TALLY = "tally"  # the one tally row of a survey opened before rounds
PEOPLE = "people"
MARKER_PREFIX = "v|"
COMMENT_PREFIX = "c|"
LEGACY, ROUNDS = 1, 2  # where a survey's answers live (see the module docstring)
COMMENT_MAX_CHARS = 500
PAGE_MAX_CHARS = 24_000  # UTF-16 units of a comment page's JSON: under Azure Tables' 32 K per property
DEFAULT_OPEN_DAYS = 14
MIN_OPEN_DAYS = 3
MAX_OPEN_DAYS = 60
REMIND_BEFORE_CLOSE = timedelta(days=3)


class SurveyClosed(Exception):
    """The survey's close date has passed (or it does not exist)."""


class AlreadyAnswered(Exception):
    """This person already answered this round."""


class BadAnswers(ValueError):
    """Answers missing or outside 1-5."""


class CommentTooLong(ValueError):
    """A comment over COMMENT_MAX_CHARS."""


@dataclass(frozen=True)
class Survey:
    survey_id: str
    round_id: str
    cop_id: str
    cop_name: str
    started_at: datetime
    closes_at: datetime
    remind_at: datetime
    invited: int = 0  # members of this CoP invited
    invitations_sent: bool = False
    reminded: bool = False
    closed: bool = False  # markers deleted after the close date
    etag: str = ""
    layout: int = ROUNDS
    scope: str = "cop"  # "programme" when an admin opened the round for every CoP
    round_invited: int = 0  # people invited to the round, each counted once

    def is_open(self, now: datetime) -> bool:
        return self.started_at <= now < self.closes_at

    @property
    def ballot(self) -> str:
        """The partition one answer goes to: the round's (or, before rounds, the survey's own)."""
        return encode_key(f"round|{self.round_id}" if self.layout >= ROUNDS else self.survey_id)

    @property
    def tally_row(self) -> str:
        return f"{TALLY}|{self.survey_id}" if self.layout >= ROUNDS else TALLY


def same_round(surveys: Sequence[Survey], survey: Survey) -> list[Survey]:
    """The surveys answered together with ``survey``: its round's (one, for a survey opened before rounds)."""
    return [s for s in surveys if s.ballot == survey.ballot]


def round_of(surveys: Sequence[Survey], survey: Survey) -> list[Survey]:
    """The surveys whose figures are read together with ``survey``'s: its round's (before rounds, an admin's
    ``survey start`` opened one survey per CoP under one round id, each answered on its own)."""
    return [s for s in surveys if s.round_id == survey.round_id and (s.layout >= ROUNDS) == (survey.layout >= ROUNDS)]


@dataclass(frozen=True)
class Tally:
    responses: int
    counts: Mapping[str, Sequence[int]]  # statement key -> counts of answers 1..5 (index 0 = 1)

    def agree(self, key: str) -> int:
        row = self.counts.get(key, [0] * 5)
        return sum(int(row[v - 1]) for v in AGREE_VALUES)

    def answered(self, key: str) -> int:
        return sum(int(c) for c in self.counts.get(key, [0] * 5))

    def agree_share(self, key: str) -> float | None:
        answered = self.answered(key)
        return self.agree(key) / answered if answered else None

    @property
    def overall_agree_share(self) -> float | None:
        answered = sum(self.answered(k) for k in STATEMENT_KEYS)
        return sum(self.agree(k) for k in STATEMENT_KEYS) / answered if answered else None

    def figures(self) -> Figures:
        return Figures(self.responses, tuple(self.agree(k) for k in STATEMENT_KEYS))

    @staticmethod
    def empty() -> Tally:
        return Tally(0, {k: [0] * 5 for k in STATEMENT_KEYS})

    def plus(self, other: Tally) -> Tally:
        counts = {
            k: [int(a) + int(b) for a, b in zip(self.counts.get(k, [0] * 5), other.counts.get(k, [0] * 5), strict=True)]
            for k in STATEMENT_KEYS
        }
        return Tally(self.responses + other.responses, counts)

    def adding(self, answers: Mapping[str, int]) -> Tally:
        counts = {k: list(v) for k, v in self.counts.items()}
        for key, value in answers.items():
            counts[key][value - 1] += 1
        return Tally(self.responses + 1, counts)


def survey_id_for(round_id: str, cop_id: str) -> str:
    return f"{round_id}-{hashlib.sha256(cop_id.encode()).hexdigest()[:12]}"


def marker(marker_key: str, survey: Survey, aad_id: str) -> str:
    """The respondent marker: a keyed hash of round and person, irreversible without the marker key."""
    text = (
        f"survey-round|{survey.round_id}|{aad_id}"
        if survey.layout >= ROUNDS
        else f"survey-vote|{survey.survey_id}|{aad_id}"
    )
    return MARKER_PREFIX + hmac.new(marker_key.encode(), text.encode(), hashlib.sha256).hexdigest()[:40]


def parse_answers(values: Mapping[str, Any]) -> dict[str, int]:
    """Card inputs ``s_<key>`` -> {key: 1..5}; every statement must be answered."""
    answers: dict[str, int] = {}
    for key in STATEMENT_KEYS:
        raw = values.get(f"s_{key}")
        try:
            value = int(str(raw).strip())
        except (TypeError, ValueError):
            raise BadAnswers(key) from None
        if not 1 <= value <= 5:
            raise BadAnswers(key)
        answers[key] = value
    return answers


def parse_comments(values: Mapping[str, Any]) -> dict[str, str]:
    """Card inputs ``c_<key>`` -> {key: comment}; optional, blank ones dropped, none over COMMENT_MAX_CHARS."""
    comments: dict[str, str] = {}
    for key in STATEMENT_KEYS:
        raw = values.get(f"c_{key}")
        if not isinstance(raw, str) or not raw.strip():
            continue
        comment = " ".join(raw.split())
        if len(comment) > COMMENT_MAX_CHARS:
            raise CommentTooLong(key)
        comments[key] = comment
    return comments


def _survey_from_row(row: Row) -> Survey:
    get = row.get
    return Survey(
        survey_id=row.row_key,
        round_id=str(get("round_id", "")),
        cop_id=str(get("cop_id", "")),
        cop_name=str(get("cop_name", "")),
        started_at=get("started_at"),
        closes_at=get("closes_at"),
        remind_at=get("remind_at"),
        invited=int(get("invited", 0)),
        invitations_sent=bool(get("invitations_sent", False)),
        reminded=bool(get("reminded", False)),
        closed=bool(get("closed", False)),
        etag=row.etag,
        layout=int(get("layout", LEGACY)),
        scope=str(get("scope", "cop")),
        round_invited=int(get("round_invited", get("invited", 0))),
    )


def _survey_data(s: Survey) -> dict[str, Any]:
    return {
        "round_id": s.round_id,
        "cop_id": s.cop_id,
        "cop_name": s.cop_name,
        "started_at": s.started_at,
        "closes_at": s.closes_at,
        "remind_at": s.remind_at,
        "invited": s.invited,
        "invitations_sent": s.invitations_sent,
        "reminded": s.reminded,
        "closed": s.closed,
        "layout": s.layout,
        "scope": s.scope,
        "round_invited": s.round_invited,
    }


def _tally_from_row(row: Row) -> Tally:
    counts = loads(row.get("counts"), {})
    clean = {
        k: [int(c) for c in counts.get(k, [0] * 5)][:5] if isinstance(counts.get(k), list) else [0] * 5
        for k in STATEMENT_KEYS
    }
    return Tally(int(row.get("responses", 0)), clean)


def _tally_data(tally: Tally, **extra: Any) -> dict[str, Any]:
    return {"responses": tally.responses, "counts": dumps(tally.counts), **extra}


CELLS_CHUNK = 30_000  # characters per property of the cells' JSON (Azure Tables: 32 K UTF-16 units a property)


def _cells(row: Row | None) -> list[frozenset[str]]:
    if row is None:
        return []
    text = "".join(str(row.get(f"cells{i}", "")) for i in range(int(row.get("cells_parts", 0))))
    found = loads(text, [])
    return [frozenset(c) for c in found if isinstance(c, list) and c and all(isinstance(x, str) for x in c)]


def _cells_data(cells: Sequence[frozenset[str]]) -> dict[str, Any]:
    """The cells as JSON split over as many properties as it needs (ids are ASCII: one unit a character)."""
    text = dumps(sorted(sorted(c) for c in cells))
    parts = [text[i : i + CELLS_CHUNK] for i in range(0, len(text), CELLS_CHUNK)]
    return {"cells_parts": len(parts), **{f"cells{i}": part for i, part in enumerate(parts)}}


def _page_items(row: Row | None) -> list[list[str]]:
    items = loads(row.get("items") if row is not None else None, [])
    return [i for i in items if isinstance(i, list) and len(i) == 2 and all(isinstance(x, str) for x in i)]


class SurveyRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    # -- reads ----------------------------------------------------------------------------------------
    async def all(self) -> list[Survey]:
        """Every survey, oldest first (the index is one small partition: a few per CoP per year)."""
        return [_survey_from_row(r) for r in await self._store.query(TABLE, INDEX)]

    async def get(self, survey_id: str) -> Survey | None:
        if not survey_id or len(survey_id) > 80:
            return None
        try:
            return _survey_from_row(await self._store.get(TABLE, INDEX, encode_key(survey_id)))
        except NotFound:
            return None

    async def tally(self, survey_id: str) -> Tally:
        survey = await self.get(survey_id)
        return Tally.empty() if survey is None else await self.tally_of(survey)

    async def tally_of(self, survey: Survey) -> Tally:
        try:
            return _tally_from_row(await self._store.get(TABLE, survey.ballot, survey.tally_row))
        except NotFound:
            return Tally.empty()

    async def round_tallies(self, surveys: Sequence[Survey]) -> tuple[Tally, dict[str, Tally]]:
        """One round's tallies: everyone who answered (each once), and per survey id its CoP's."""
        everyone, per, _ = await self.round_state(surveys)
        return everyone, per

    async def round_state(self, surveys: Sequence[Survey]) -> tuple[Tally, dict[str, Tally], list[frozenset[str]]]:
        """The round's tallies, and its cells: each combination of the round's surveys that someone invited (or
        answering) belongs to, as survey ids (membership, not answers; empty before rounds)."""
        if not surveys:
            return Tally.empty(), {}, []
        if surveys[0].layout < ROUNDS:
            found = await asyncio.gather(*(self.tally_of(s) for s in surveys))
            per = {s.survey_id: t for s, t in zip(surveys, found, strict=True)}
            everyone = Tally.empty()
            for t in found:
                everyone = everyone.plus(t)
            return everyone, per, []
        rows = await self._store.query(
            TABLE, surveys[0].ballot, [Where("RowKey", "ge", PEOPLE), Where("RowKey", "lt", MARKER_PREFIX)]
        )
        by_key = {r.row_key: r for r in rows}
        people = by_key.get(PEOPLE)
        per = {
            s.survey_id: _tally_from_row(by_key[s.tally_row]) if s.tally_row in by_key else Tally.empty()
            for s in surveys
        }
        everyone = _tally_from_row(people) if people is not None else Tally.empty()
        return everyone, per, _cells(people)

    async def add_cells(self, survey: Survey, cells: Sequence[frozenset[str]]) -> None:
        """Record which combinations of the round's CoPs its invited members belong to (a set, no counts)."""
        for _ in range(30):
            row = await self._store.get(TABLE, survey.ballot, PEOPLE)
            known = _cells(row)
            merged = sorted({*known, *cells}, key=sorted)
            if len(merged) == len(known):
                return
            try:
                await self._store.update(
                    TABLE, survey.ballot, PEOPLE, {**dict(row.data), **_cells_data(merged)}, etag=row.etag
                )
                return
            except PreconditionFailed:
                await asyncio.sleep(random.uniform(0, 0.01))
        raise PreconditionFailed("the survey round kept changing; try again")

    async def comments(self, survey: Survey) -> list[tuple[str, str]]:
        """The round's comments as (statement key, text), in no meaningful order."""
        rows = await self._store.query(
            TABLE, survey.ballot, [Where("RowKey", "ge", COMMENT_PREFIX), Where("RowKey", "lt", "c}")]
        )
        return [(k, t) for r in rows for k, t in _page_items(r) if k in STATEMENT_KEYS]

    async def markers(self, survey: Survey) -> set[str]:
        rows = await self._store.query(
            TABLE, survey.ballot, [Where("RowKey", "ge", MARKER_PREFIX), Where("RowKey", "lt", "v}")]
        )
        return {r.row_key for r in rows}

    async def has_answered(self, marker_key: str, survey: Survey, aad_id: str) -> bool:
        try:
            await self._store.get(TABLE, survey.ballot, marker(marker_key, survey, aad_id))
        except NotFound:
            return False
        return True

    # -- writes ---------------------------------------------------------------------------------------
    async def open(self, survey: Survey) -> Survey:
        """Create the survey and its empty tallies (tallies first: an index row without them is never seen)."""
        if survey.layout >= ROUNDS:
            with contextlib.suppress(AlreadyExists):
                await self._store.insert(TABLE, survey.ballot, PEOPLE, _tally_data(Tally.empty(), pages=0))
        await self._store.upsert(TABLE, survey.ballot, survey.tally_row, _tally_data(Tally.empty()))
        row = await self._store.insert(TABLE, INDEX, encode_key(survey.survey_id), _survey_data(survey))
        return _survey_from_row(row)

    async def save(self, survey: Survey) -> Survey:
        row = await self._store.update(
            TABLE, INDEX, encode_key(survey.survey_id), _survey_data(survey), etag=survey.etag or None
        )
        return _survey_from_row(row)

    async def answer(
        self,
        marker_key: str,
        surveys: Sequence[Survey],
        aad_id: str,
        answers: Mapping[str, int],
        now: datetime,
        comments: Mapping[str, str] | None = None,
    ) -> None:
        """Record one person's answer to a round, for each of ``surveys`` (their CoPs in it), atomically.

        Raises SurveyClosed after the close date, AlreadyAnswered on a second answer, BadAnswers on bad values."""
        if not surveys or any(not s.is_open(now) for s in surveys):
            raise SurveyClosed(surveys[0].survey_id if surveys else "")
        if len({s.ballot for s in surveys}) != 1:
            raise BadAnswers("surveys of different rounds")
        if set(answers) != set(STATEMENT_KEYS) or any(not 1 <= v <= 5 for v in answers.values()):
            raise BadAnswers("answers")
        first = surveys[0]
        rounds = first.layout >= ROUNDS
        notes = (
            [[k, t[:COMMENT_MAX_CHARS]] for k, t in (comments or {}).items() if k in STATEMENT_KEYS and t]
            if rounds
            else []
        )
        vote = marker(marker_key, first, aad_id)
        for attempt in range(30):
            try:
                ops = await self._answer_ops(surveys, vote, answers, notes)
            except NotFound:
                raise SurveyClosed(first.survey_id) from None
            try:
                await self._store.batch(TABLE, first.ballot, ops)
                return
            except AlreadyExists:
                if await self.has_answered(marker_key, first, aad_id):
                    raise AlreadyAnswered(first.survey_id) from None
            except PreconditionFailed:
                pass
            # a round's tallies are shared by everyone answering it: wait a little, longer each time, then re-read
            await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise PreconditionFailed("the survey tallies kept changing; try again")

    async def _answer_ops(
        self, surveys: Sequence[Survey], vote: str, answers: Mapping[str, int], notes: list[list[str]]
    ) -> list[BatchOp]:
        first = surveys[0]
        ops = [BatchOp("insert", vote, {})]
        rows = await asyncio.gather(*(self._store.get(TABLE, first.ballot, s.tally_row) for s in surveys))
        for row in rows:
            ops.append(BatchOp("update", row.row_key, _tally_data(_tally_from_row(row).adding(answers)), row.etag))
        if first.layout < ROUNDS:
            return ops
        people = await self._store.get(TABLE, first.ballot, PEOPLE)
        pages = int(people.get("pages", 0))
        if notes:
            page: Row | None = None
            if pages:
                with contextlib.suppress(NotFound):
                    page = await self._store.get(TABLE, first.ballot, f"{COMMENT_PREFIX}{pages - 1:05d}")
            items = _page_items(page)
            if page is None or len(dumps(items + notes).encode("utf-16-le")) // 2 > PAGE_MAX_CHARS:
                page, items, pages = None, [], pages + 1
            for note in notes:  # at a random place, so the order says nothing about who answered when
                items.insert(secrets.randbelow(len(items) + 1), note)
            key = f"{COMMENT_PREFIX}{pages - 1:05d}"
            data = {"items": dumps(items)}
            ops.append(BatchOp("insert", key, data) if page is None else BatchOp("update", key, data, page.etag))
        tally = _tally_from_row(people).adding(answers)
        cells = _cells(people)
        mine = frozenset(s.survey_id for s in surveys)
        if mine not in cells:  # someone who joined a CoP after the invitations: the set of combinations grows
            cells = [*cells, mine]
        data = _tally_data(tally, pages=pages, **_cells_data(cells))
        ops.append(BatchOp("update", PEOPLE, data, people.etag))
        return ops

    async def forget_markers(self, survey: Survey) -> int:
        """Delete every respondent marker of a closed round (they only exist to refuse second answers)."""
        keys = sorted(await self.markers(survey))
        for start in range(0, len(keys), 100):
            await self._store.batch(TABLE, survey.ballot, [BatchOp("delete", k) for k in keys[start : start + 100]])
        return len(keys)


def new_round_id(now: datetime) -> str:
    return f"{int(now.timestamp() * 1000):013d}"
