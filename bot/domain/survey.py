"""The impact survey: the 2021 impact survey's statements, anonymous answers, one response per person per survey.

Table ``surveys``:
- partition ``index``: one row per survey (row key = survey id): the CoP, when it opened and closes, when the
  one reminder is due, how many members were invited (who started it is in the audit log, not here). A survey
  covers one CoP; an admin's ``survey start`` opens one per CoP under a shared round id, so results can be
  shown per CoP and overall.
- partition = the survey id: a ``tally`` row (response count and, per statement, the count of each of the five
  answers) and one ``v|<marker>`` row per respondent, where marker = HMAC(signing key, survey id + AAD id).

Why there are no per-response rows: an answer is added to the tally and the marker is inserted in ONE batch
(same partition, so atomic). Either both happen or neither: a crash can never record a vote without its answer
(which would lock the person out) nor an answer without its vote (which would let them count twice); a second
answer fails on the marker's insert and changes nothing. Nothing stored says what any one person answered:
the tally holds only sums, the marker holds nothing but its key, and the marker is a keyed hash that cannot be
turned back into a person without the signing key. Markers are only needed while the survey is open, so
:meth:`SurveyRepo.forget_markers` deletes them when it closes.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.codec import dumps, loads
from storage.base import AlreadyExists, BatchOp, NotFound, PreconditionFailed, Row, TableStore, Where, encode_key

TABLE = "surveys"
INDEX = "index"
TALLY = "tally"
MARKER_PREFIX = "v|"
SCALE: tuple[tuple[int, str], ...] = (
    (5, "Strongly agree"),
    (4, "Agree"),
    (3, "Neither agree nor disagree"),
    (2, "Disagree"),
    (1, "Strongly disagree"),
)
DEFAULT_OPEN_DAYS = 14
MIN_OPEN_DAYS = 3
MAX_OPEN_DAYS = 60
REMIND_BEFORE_CLOSE = timedelta(days=3)


@dataclass(frozen=True)
class Statement:
    key: str
    text: str  # the 2021 impact survey's finding, in our own words, as a first-person statement
    baseline: float  # share who agreed in UCL's 2021 impact survey (the programme's impact page)


STATEMENTS: tuple[Statement, ...] = (
    Statement("connections", "Through this CoP I have met colleagues I would not otherwise have met.", 0.92),
    Statement("communication", "This CoP improves communication between different parts of the university.", 0.90),
    Statement("skills", "Being in this CoP has developed my skills or my knowledge of my practice.", 0.84),
    Statement("applied", "I have used new skills or knowledge from this CoP in my job.", 0.79),
    Statement("belonging", "Being in this CoP gives me a greater sense of belonging at the university.", 0.89),
    Statement("culture", "CoPs like this one make the university a better place to work.", 0.88),
    Statement("team", "My team or department benefits from my being in this CoP.", 0.83),
    Statement("service", "This CoP and what it produces improve service delivery in our practice area.", 0.80),
    Statement("university", "This CoP's activities directly benefit the university.", 0.84),
)
STATEMENT_KEYS = tuple(s.key for s in STATEMENTS)


class SurveyClosed(Exception):
    """The survey's close date has passed (or it does not exist)."""


class AlreadyAnswered(Exception):
    """This person already answered this survey."""


class BadAnswers(ValueError):
    """Answers missing or outside 1-5."""


@dataclass(frozen=True)
class Survey:
    survey_id: str
    round_id: str
    cop_id: str
    cop_name: str
    started_at: datetime
    closes_at: datetime
    remind_at: datetime
    invited: int = 0
    invitations_sent: bool = False
    reminded: bool = False
    closed: bool = False  # markers deleted after the close date
    etag: str = ""

    def is_open(self, now: datetime) -> bool:
        return self.started_at <= now < self.closes_at


@dataclass(frozen=True)
class Tally:
    responses: int
    counts: Mapping[str, Sequence[int]]  # statement key -> counts of answers 1..5 (index 0 = 1)

    def agree(self, key: str) -> int:
        row = self.counts.get(key, [0] * 5)
        return int(row[3]) + int(row[4])

    def answered(self, key: str) -> int:
        return sum(int(c) for c in self.counts.get(key, [0] * 5))

    def agree_share(self, key: str) -> float | None:
        answered = self.answered(key)
        return self.agree(key) / answered if answered else None

    @property
    def overall_agree_share(self) -> float | None:
        answered = sum(self.answered(k) for k in STATEMENT_KEYS)
        return sum(self.agree(k) for k in STATEMENT_KEYS) / answered if answered else None

    @staticmethod
    def empty() -> Tally:
        return Tally(0, {k: [0] * 5 for k in STATEMENT_KEYS})

    def plus(self, other: Tally) -> Tally:
        counts = {
            k: [int(a) + int(b) for a, b in zip(self.counts.get(k, [0] * 5), other.counts.get(k, [0] * 5), strict=True)]
            for k in STATEMENT_KEYS
        }
        return Tally(self.responses + other.responses, counts)


def survey_id_for(round_id: str, cop_id: str) -> str:
    return f"{round_id}-{hashlib.sha256(cop_id.encode()).hexdigest()[:12]}"


def marker(signing_key: str, survey_id: str, aad_id: str) -> str:
    """The respondent marker: a keyed hash of survey and person, irreversible without the signing key."""
    digest = hmac.new(signing_key.encode(), f"survey-vote|{survey_id}|{aad_id}".encode(), hashlib.sha256)
    return MARKER_PREFIX + digest.hexdigest()[:40]


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
    }


def _tally_from_row(row: Row) -> Tally:
    counts = loads(row.get("counts"), {})
    clean = {
        k: [int(c) for c in counts.get(k, [0] * 5)][:5] if isinstance(counts.get(k), list) else [0] * 5
        for k in STATEMENT_KEYS
    }
    return Tally(int(row.get("responses", 0)), clean)


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
        try:
            return _tally_from_row(await self._store.get(TABLE, encode_key(survey_id), TALLY))
        except NotFound:
            return Tally.empty()

    async def markers(self, survey_id: str) -> set[str]:
        rows = await self._store.query(TABLE, encode_key(survey_id), [Where("RowKey", "ge", MARKER_PREFIX)])
        return {r.row_key for r in rows if r.row_key.startswith(MARKER_PREFIX)}

    async def has_answered(self, signing_key: str, survey_id: str, aad_id: str) -> bool:
        try:
            await self._store.get(TABLE, encode_key(survey_id), marker(signing_key, survey_id, aad_id))
        except NotFound:
            return False
        return True

    # -- writes ---------------------------------------------------------------------------------------
    async def open(self, survey: Survey) -> Survey:
        """Create the survey and its empty tally (tally first: an index row without a tally is never seen)."""
        await self._store.upsert(
            TABLE, encode_key(survey.survey_id), TALLY, {"responses": 0, "counts": dumps(Tally.empty().counts)}
        )
        row = await self._store.insert(TABLE, INDEX, encode_key(survey.survey_id), _survey_data(survey))
        return _survey_from_row(row)

    async def save(self, survey: Survey) -> Survey:
        row = await self._store.update(
            TABLE, INDEX, encode_key(survey.survey_id), _survey_data(survey), etag=survey.etag or None
        )
        return _survey_from_row(row)

    async def answer(
        self, signing_key: str, survey: Survey, aad_id: str, answers: Mapping[str, int], now: datetime
    ) -> None:
        """Add one person's answers to the tally and record that they answered, atomically.

        Raises SurveyClosed after the close date, AlreadyAnswered on a second answer, BadAnswers on bad values."""
        if not survey.is_open(now):
            raise SurveyClosed(survey.survey_id)
        if set(answers) != set(STATEMENT_KEYS) or any(not 1 <= v <= 5 for v in answers.values()):
            raise BadAnswers("answers")
        pk = encode_key(survey.survey_id)
        vote = marker(signing_key, survey.survey_id, aad_id)
        for _ in range(20):  # the tally is per CoP: contention is a handful of members answering at once
            try:
                row = await self._store.get(TABLE, pk, TALLY)
            except NotFound:
                raise SurveyClosed(survey.survey_id) from None
            tally = _tally_from_row(row)
            counts = {k: list(v) for k, v in tally.counts.items()}
            for key, value in answers.items():
                counts[key][value - 1] += 1
            try:
                await self._store.batch(
                    TABLE,
                    pk,
                    [
                        BatchOp("insert", vote, {}),
                        BatchOp("update", TALLY, {"responses": tally.responses + 1, "counts": dumps(counts)}, row.etag),
                    ],
                )
                return
            except AlreadyExists:
                raise AlreadyAnswered(survey.survey_id) from None
            except PreconditionFailed:
                continue
        raise PreconditionFailed("the survey tally kept changing; try again")

    async def forget_markers(self, survey_id: str) -> int:
        """Delete every respondent marker of a closed survey (they only exist to refuse second answers)."""
        pk = encode_key(survey_id)
        keys = sorted(await self.markers(survey_id))
        for start in range(0, len(keys), 100):
            await self._store.batch(TABLE, pk, [BatchOp("delete", k) for k in keys[start : start + 100]])
        return len(keys)

    async def delete_marker(self, signing_key: str, survey_id: str, aad_id: str) -> bool:
        with contextlib.suppress(NotFound):
            await self._store.delete(TABLE, encode_key(survey_id), marker(signing_key, survey_id, aad_id))
            return True
        return False


def new_round_id(now: datetime) -> str:
    return f"{int(now.timestamp() * 1000):013d}"
