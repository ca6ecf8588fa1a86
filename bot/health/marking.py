"""The write side of the health snapshots (bot/health/snapshots.py): each CoP's mark, a token replaced after every
write to its sources, so that a snapshot covering an older token reads as stale.

Table ``healthsnap``, partition ``cop``: this module writes the ``<CoP key>|mark`` rows (the snapshots, the
``<CoP key>|snap`` rows, are bot/health/snapshots.py's). :class:`MarkingStore` is the app's store: a write to one of
a CoP's sources (members, questions, FAQ, events and their feedback and RSVPs, recorded activities, projects, survey
ballots, trend points; :data:`WATCHED`), and a deletion of channel contribution markers, touches the CoP's mark.

The token write (:class:`Marks`) runs off the turn (``background:`` work, batched: one round trip for all the CoPs
a turn touched), so no write path pays a round trip for it; until it has landed this instance treats the CoP as
stale (:meth:`Marks.dirty`). A token write that storage refuses through its retries (:data:`BUMP_RETRIES`) keeps the
CoP stale on the writing instance, and the scheduler's minute tick queues it again (:meth:`Marks.retry_unconfirmed`).
The token is a blind write: any write changes it, so no lost update can leave a stale snapshot looking current.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from bot.domain.events import TABLE as EVENTS_TABLE
from bot.domain.faq import TABLE as FAQ_TABLE
from bot.domain.members import ROSTER
from bot.domain.projects import TABLE as PROJECTS_TABLE
from bot.domain.queries import TABLE as QUERIES_TABLE
from bot.domain.records import TABLE as RECORDS_TABLE
from bot.domain.survey import INDEX as SURVEY_INDEX
from bot.domain.survey import TABLE as SURVEYS_TABLE
from bot.domain.survey import SurveyRepo
from bot.health import history
from bot.jobs.background import Background
from storage.base import BatchOp, Row, StorageError, TableStore, Value, Where, encode_key

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

TABLE = "healthsnap"
PARTITION = "cop"
BUMP_RETRIES = (0.5, 2.0, 5.0)  # seconds before retrying a token write that failed
# the tables whose writes change a CoP's figures; all but ``surveys`` are partitioned by the CoP's key
WATCHED = frozenset(
    {ROSTER, QUERIES_TABLE, FAQ_TABLE, EVENTS_TABLE, RECORDS_TABLE, PROJECTS_TABLE, SURVEYS_TABLE, history.TREND}
)


def mark_key(cop_key: str) -> str:
    return f"{cop_key}|mark"


def raw_store(store: TableStore) -> TableStore:
    """The store under the marking wrapper: the snapshot's own writes (trend points) must not mark it stale."""
    return store.inner if isinstance(store, MarkingStore) else store


class Marks:
    """The token writes of one app instance: CoPs touched by a write, written off the turn in one batch."""

    def __init__(self, store: TableStore, background: Background) -> None:
        self._store = store
        self._background = background
        self._pending: set[str] = set()  # CoP keys touched, token not yet written
        self._surveys: set[tuple[str, str]] = set()  # (partition, row key) of survey writes to resolve to CoPs
        self._flushing: Counter[str] = Counter()
        self._resolving = 0
        self._unconfirmed: set[str] = set()  # token writes that failed every retry
        self._running = False

    def touch(self, table: str, partition_key: str, row_keys: Iterable[str]) -> None:
        if table == SURVEYS_TABLE:
            self._surveys.update((partition_key, key) for key in row_keys)
        else:
            self._pending.add(partition_key)
        if not self._running:
            self._running = True
            self._background.start("health marks", self._flush())

    def dirty(self, cop_id: str) -> bool:
        """True while a write of this instance to the CoP's sources has not had its token written."""
        key = encode_key(cop_id)
        return (
            key in self._pending
            or self._flushing[key] > 0
            or key in self._unconfirmed
            or bool(self._surveys)
            or self._resolving > 0
        )

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # the rest of this turn's writes join the batch
            while self._pending or self._surveys:
                keys, self._pending = self._pending, set()
                surveys, self._surveys = self._surveys, set()
                self._flushing.update(keys)
                self._resolving += 1 if surveys else 0
                try:
                    for attempt, pause in enumerate((*BUMP_RETRIES, None)):
                        try:
                            wanted = keys | (await self._survey_cops(surveys) if surveys else set())
                            await bump(self._store, wanted)
                            self._unconfirmed -= wanted
                            break
                        except StorageError:
                            if pause is None:
                                log.exception("health marks not written cops=%d attempts=%d", len(keys), attempt + 1)
                                self._unconfirmed |= keys
                                break
                            await asyncio.sleep(pause)
                finally:
                    self._flushing.subtract(keys)
                    self._flushing += Counter()  # drop zeros
                    self._resolving -= 1 if surveys else 0
        finally:
            self._running = False

    async def _survey_cops(self, writes: set[tuple[str, str]]) -> set[str]:
        """The CoPs whose survey figures a write may change: every CoP of each round written (the disclosure rule
        weighs a round's CoPs together)."""
        surveys = await SurveyRepo(self._store).all()
        partitions = {pk for pk, _ in writes if pk != SURVEY_INDEX}
        named = {key for pk, key in writes if pk == SURVEY_INDEX}
        ballots = {s.ballot for s in surveys if s.ballot in partitions or encode_key(s.survey_id) in named}
        return {encode_key(s.cop_id) for s in surveys if s.ballot in ballots}

    def retry_unconfirmed(self) -> None:
        """Queue again the token writes that failed (the minute tick calls this)."""
        if self._unconfirmed:
            self._pending |= self._unconfirmed
            if not self._running:
                self._running = True
                self._background.start("health marks", self._flush())


async def bump(store: TableStore, cop_keys: Iterable[str]) -> None:
    """A new token for each CoP (encoded keys): up to 100 in one round trip."""
    ops = [BatchOp("upsert", mark_key(key), {"token": secrets.token_hex(8)}) for key in sorted(set(cop_keys))]
    for start in range(0, len(ops), 100):
        await store.batch(TABLE, PARTITION, ops[start : start + 100])


class MarkingStore:
    """The app's store: every call goes to ``inner``; a write to a table in :data:`WATCHED` touches the CoP's
    mark (after the write, whether it succeeded or not: a failed write may still have landed)."""

    def __init__(self, inner: TableStore, marks: Marks) -> None:
        self.inner = inner
        self.marks = marks

    def __getattr__(self, name: str) -> object:  # e.g. a test reaching for its SQLite file
        return getattr(self.inner, name)

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        return await self.inner.get(table, partition_key, row_key)

    async def query(
        self, table: str, partition_key: str | None, where: Sequence[Where] = (), *, limit: int | None = None
    ) -> list[Row]:
        return await self.inner.query(table, partition_key, where, limit=limit)

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        try:
            return await self.inner.insert(table, partition_key, row_key, data)
        finally:
            self._touch(table, partition_key, (row_key,))

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        try:
            return await self.inner.upsert(table, partition_key, row_key, data)
        finally:
            self._touch(table, partition_key, (row_key,))

    async def update(
        self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value], *, etag: str | None = None
    ) -> Row:
        try:
            return await self.inner.update(table, partition_key, row_key, data, etag=etag)
        finally:
            self._touch(table, partition_key, (row_key,))

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        try:
            await self.inner.delete(table, partition_key, row_key, etag=etag)
        finally:
            self._touch(table, partition_key, (row_key,), deleting=True)

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        try:
            return await self.inner.batch(table, partition_key, ops)
        finally:
            self._touch(table, partition_key, [op.row_key for op in ops], any(op.kind == "delete" for op in ops))

    async def ping(self) -> None:
        await self.inner.ping()

    async def close(self) -> None:
        await self.inner.close()

    def _touch(self, table: str, partition_key: str, row_keys: Sequence[str], deleting: bool = False) -> None:
        if table in WATCHED or (deleting and table == history.CONTRIB):
            self.marks.touch(table, partition_key, row_keys)


def marks_of(services: Services) -> Marks | None:
    store = services.store
    return store.marks if isinstance(store, MarkingStore) else None
