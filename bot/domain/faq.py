"""FAQ storage: the programme-wide FAQ (copied from the shipped data file) and each CoP's own entries.

Table ``faq``: partition = the scope (``programme`` or the encoded CoP id). Each partition holds its entries
(row key = entry id) and one ``_meta`` row whose ETag changes whenever the partition's entries change, so a
cached ranking index (bot/domain/faq_indexes.py) can be checked with one point read. Writes to entries and
``_meta`` go in one batch, so the cache key can never lag behind the entries.

CoP entry ids are short (``f1``, ``f2``…) so a lead can type ``faq remove f3``; the counter lives in ``_meta``.
The programme partition is (re)loaded from ``bot/answers/programme_faq.json`` when its stored version is older
than the file's (:meth:`FaqRepo.ensure_programme`).
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.answers.faq import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, PROGRAMME_SCOPE, FaqEntry, load_programme_faq
from bot.domain.codec import dumps, loads
from storage.base import MAX_BATCH, AlreadyExists, BatchOp, NotFound, PreconditionFailed, Row, TableStore, encode_key

TABLE = "faq"
META = "_meta"
MAX_ALTERNATIVES = 5
MAX_CSV_ROWS = 500
MAX_CSV_CHARS = 30_000
MAX_COP_ENTRIES = 2_000

SOURCE_LEAD = "lead"
SOURCE_CSV = "csv"
SOURCE_QUERY = "query"

_ID = re.compile(r"^f(\d{1,6})$")


class FaqChanged(Exception):
    """The CoP's FAQ kept changing under concurrent edits; the caller may ask the lead to retry."""


@dataclass(frozen=True)
class Draft:
    """An entry a lead proposes (form, CSV row, answered query) before it gets an id."""

    question: str
    answer: str
    alternatives: tuple[str, ...] = ()

    def phrasings(self) -> tuple[str, ...]:
        return (self.question, *self.alternatives)


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line of the CSV record (the header is row 1 when present)
    reason: str


@dataclass(frozen=True)
class ImportPlan:
    valid: list[Draft]
    errors: list[RowError]


def normalise_question(text: str) -> str:
    """For duplicate detection: case, accents, punctuation and spacing do not make a question different."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", text))


def clean_line(text: str) -> str:
    return " ".join(text.split())


def split_alternatives(text: str) -> tuple[str, ...]:
    """Alternative phrasings typed one per line (form) or separated by ``|`` (CSV)."""
    parts = re.split(r"[\n|]", text)
    return tuple(clean_line(p) for p in parts if p.strip())


def validate_draft(draft: Draft) -> list[str]:
    """Why a draft cannot be stored (empty list when it can)."""
    problems: list[str] = []
    if not draft.question.strip():
        problems.append("the question is missing")
    elif len(draft.question) > MAX_QUESTION_CHARS:
        problems.append(f"the question is too long ({len(draft.question)} characters; at most {MAX_QUESTION_CHARS})")
    if not draft.answer.strip():
        problems.append("the answer is missing")
    elif len(draft.answer) > MAX_ANSWER_CHARS:
        problems.append(f"the answer is too long ({len(draft.answer)} characters; at most {MAX_ANSWER_CHARS})")
    if len(draft.alternatives) > MAX_ALTERNATIVES:
        problems.append(f"too many alternative phrasings ({len(draft.alternatives)}; at most {MAX_ALTERNATIVES})")
    for alternative in draft.alternatives:
        if len(alternative) > MAX_QUESTION_CHARS:
            problems.append(f"an alternative phrasing is too long (at most {MAX_QUESTION_CHARS} characters)")
            break
    return problems


_HEADER_NAMES = {"question", "answer", "alternatives", "alternative", "phrasings", "alternative phrasings"}


def plan_import(text: str, existing: Iterable[FaqEntry]) -> ImportPlan:
    """Parse pasted CSV (``question,answer[,alternatives separated by |]``; an optional header row naming the
    columns in any order) into valid drafts and per-row errors. Duplicates of existing entries (in this CoP)
    and of earlier rows are errors; valid rows are imported even when others fail."""
    errors: list[RowError] = []
    valid: list[Draft] = []
    if len(text) > MAX_CSV_CHARS:
        return ImportPlan([], [RowError(0, f"the CSV is too long ({len(text)} characters; at most {MAX_CSV_CHARS})")])
    seen = {normalise_question(q): e.entry_id for e in existing for q in e.phrasings}
    try:
        records = list(csv.reader(io.StringIO(text.strip("\ufeff"), newline=""), strict=True))
    except csv.Error as error:
        return ImportPlan([], [RowError(0, f"the CSV could not be read: {error}")])
    records = [r for r in records if any(cell.strip() for cell in r)]
    if not records:
        return ImportPlan([], [RowError(0, "there are no rows to import")])
    columns = {"question": 0, "answer": 1, "alternatives": 2}
    first = [cell.strip().lower() for cell in records[0]]
    start = 0
    if "question" in first and "answer" in first:
        columns = {"question": first.index("question"), "answer": first.index("answer")}
        for name in ("alternatives", "alternative", "phrasings", "alternative phrasings"):
            if name in first:
                columns["alternatives"] = first.index(name)
                break
        start = 1
    elif set(first) & _HEADER_NAMES:
        return ImportPlan([], [RowError(1, "the header row needs both a 'question' and an 'answer' column")])
    if len(records) - start > MAX_CSV_ROWS:
        return ImportPlan([], [RowError(0, f"too many rows ({len(records) - start}; at most {MAX_CSV_ROWS})")])
    needed = max(columns["question"], columns["answer"]) + 1
    for number, record in enumerate(records[start:], start=start + 1):
        if len(record) < needed:
            errors.append(RowError(number, f"missing columns (found {len(record)}, need question and answer)"))
            continue
        alt_col = columns.get("alternatives")
        alternatives = split_alternatives(record[alt_col]) if alt_col is not None and alt_col < len(record) else ()
        draft = Draft(clean_line(record[columns["question"]]), record[columns["answer"]].strip(), alternatives)
        problems = validate_draft(draft)
        if problems:
            errors.append(RowError(number, "; ".join(problems)))
            continue
        key = normalise_question(draft.question)
        if key in seen:
            errors.append(RowError(number, f"duplicate of {seen[key]}"))
            continue
        seen[key] = f"row {number}"
        valid.append(draft)
    return ImportPlan(valid, errors)


def _entry_from_row(scope: str, row: Row) -> FaqEntry:
    return FaqEntry(
        entry_id=row.row_key,
        question=str(row.get("question", "")),
        answer=str(row.get("answer", "")),
        alternatives=tuple(str(a) for a in loads(row.get("alternatives"), [])),
        tags=tuple(str(t) for t in loads(row.get("tags"), [])),
        scope=scope,
        source=str(row.get("source", "")),
    )


def _entry_data(entry: FaqEntry, now: datetime) -> dict[str, Any]:
    return {
        "question": entry.question,
        "answer": entry.answer,
        "alternatives": dumps(list(entry.alternatives)),
        "tags": dumps(list(entry.tags)),
        "source": entry.source,
        "updated_at": now,
    }


def id_number(entry_id: str) -> int:
    match = _ID.match(entry_id)
    return int(match.group(1)) if match else 0


class FaqRepo:
    """``on_change(scope)`` is called after every write of a scope's entries (FaqIndexes forgets its checks)."""

    def __init__(self, store: TableStore, on_change: Callable[[str], None] | None = None) -> None:
        self._store = store
        self._on_change = on_change

    def _changed(self, scope: str) -> None:
        if self._on_change is not None:
            self._on_change(scope or PROGRAMME_SCOPE)

    @staticmethod
    def partition(scope: str) -> str:
        return encode_key(scope or PROGRAMME_SCOPE)

    # -- reads ----------------------------------------------------------------------------------------
    async def meta(self, scope: str) -> Row | None:
        try:
            return await self._store.get(TABLE, self.partition(scope), META)
        except NotFound:
            return None

    async def revision(self, scope: str) -> str:
        """Changes whenever the scope's entries change ("" when the scope has never had any)."""
        meta = await self.meta(scope)
        return meta.etag if meta is not None else ""

    async def entries(self, scope: str) -> list[FaqEntry]:
        rows = await self._store.query(TABLE, self.partition(scope))
        entries = [_entry_from_row(scope, row) for row in rows if row.row_key != META]
        return sorted(entries, key=lambda e: (id_number(e.entry_id), e.entry_id))

    async def get(self, scope: str, entry_id: str) -> FaqEntry | None:
        if not entry_id or entry_id == META or len(entry_id) > 64:
            return None
        try:
            return _entry_from_row(scope, await self._store.get(TABLE, self.partition(scope), encode_key(entry_id)))
        except NotFound:
            return None

    # -- the programme FAQ ----------------------------------------------------------------------------
    async def ensure_programme(self, now: datetime) -> int:
        """Copy the shipped programme FAQ into storage if storage holds an older version (or none); returns the
        version now stored. Idempotent: two instances upgrading at once write the same rows."""
        version, entries = load_programme_faq()
        pk = self.partition(PROGRAMME_SCOPE)
        meta = await self.meta(PROGRAMME_SCOPE)
        stored = int(meta.get("version", 0)) if meta is not None else 0
        if stored >= version:
            return stored
        wanted = {e.entry_id for e in entries}
        stale = [
            row.row_key
            for row in await self._store.query(TABLE, pk)
            if row.row_key != META and row.row_key not in wanted
        ]
        ops = [BatchOp("upsert", encode_key(e.entry_id), _entry_data(e, now)) for e in entries]
        ops += [BatchOp("delete", key) for key in stale]
        # every chunk but the last; the last carries the meta row so the version flips with the final write
        chunk = MAX_BATCH - 1
        while len(ops) > chunk:
            await self._store.batch(TABLE, pk, ops[:chunk])
            ops = ops[chunk:]
        ops.append(BatchOp("upsert", META, {"version": version, "loaded_at": now, "count": len(entries)}))
        with contextlib.suppress(NotFound):  # a concurrent upgrade deleted a stale row first
            await self._store.batch(TABLE, pk, ops)
        self._changed(PROGRAMME_SCOPE)
        return version

    # -- a CoP's own entries --------------------------------------------------------------------------
    async def _write(self, cop_id: str, now: datetime, build: Any, attempts: int = 5) -> Any:
        """Read the meta row, let ``build(meta_data, next_number) -> (ops, result, next_number)`` plan entry
        operations, and apply them with the meta update in one conditional batch (retried on conflicts)."""
        pk = self.partition(cop_id)
        for _ in range(attempts):
            meta = await self.meta(cop_id)
            data = dict(meta.data) if meta is not None else {}
            next_number = int(str(data.get("next_id", 1)))
            ops, result, next_number = await build(next_number)
            if not ops:
                return result
            new_meta = {**data, "next_id": next_number, "revision": int(str(data.get("revision", 0))) + 1, "at": now}
            if meta is None:
                ops.append(BatchOp("insert", META, new_meta))
            else:
                ops.append(BatchOp("update", META, new_meta, meta.etag))
            try:
                await self._store.batch(TABLE, pk, ops)
            except (PreconditionFailed, NotFound, AlreadyExists):  # somebody else edited this FAQ first
                continue
            self._changed(cop_id)
            return result
        raise FaqChanged(cop_id)

    async def add(self, cop_id: str, drafts: Sequence[Draft], source: str, now: datetime) -> list[FaqEntry]:
        """Store drafts (already validated) as new entries of the CoP; returns them with their ids. More than 99
        drafts are written in several batches (each atomic)."""
        added: list[FaqEntry] = []
        for start in range(0, len(drafts), MAX_BATCH - 1):
            chunk = drafts[start : start + MAX_BATCH - 1]

            async def build(next_number: int, chunk: Sequence[Draft] = chunk) -> Any:
                made = [
                    FaqEntry(f"f{next_number + i}", d.question, d.answer, d.alternatives, (), cop_id, source)
                    for i, d in enumerate(chunk)
                ]
                ops = [BatchOp("insert", e.entry_id, _entry_data(e, now)) for e in made]
                return ops, made, next_number + len(chunk)

            added.extend(await self._write(cop_id, now, build))
        return added

    async def remove(self, cop_id: str, entry_id: str, now: datetime) -> FaqEntry | None:
        """Delete one CoP entry; None if there is no such entry."""

        async def build(next_number: int) -> Any:
            entry = await self.get(cop_id, entry_id)
            if entry is None:
                return [], None, next_number
            return [BatchOp("delete", encode_key(entry.entry_id))], entry, next_number

        result: FaqEntry | None = await self._write(cop_id, now, build)
        return result

    async def count(self, cop_id: str) -> int:
        return len(await self.entries(cop_id))
