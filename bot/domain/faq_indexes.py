"""The FAQ's ranking indexes, one per CoP (its own entries plus the programme's) and one for the programme alone,
built over the entries that :class:`bot.domain.faq.FaqRepo` stores, checked against the partitions' ``_meta``
ETags, and kept within a memory budget (:class:`FaqIndexes`), with the measure of an index's own bytes that the
budget counts (:func:`index_bytes`). Encoding runs on one worker thread of its own.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import sys
import time
import types
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import numpy as np

from bot.answers.batching import QuestionBatcher
from bot.answers.encoder import EncoderUnavailable, release_free_memory
from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry
from bot.answers.ranker import DEFAULT_CALIBRATION, Abstain, Answer, Encoder, FaqIndex, FloatArray, encoded_text
from bot.answers.vectors import CachingEncoder
from bot.core.expiring import ExpiringCopies
from bot.domain.faq import FaqRepo
from storage.base import TableStore

_T = TypeVar("_T")
log = logging.getLogger(__name__)

# The memory the ranking indexes of CoPs with FAQ entries of their own may hold in one instance, in MB
# (COPBOT_FAQ_INDEX_MB), by their measured size (:func:`index_bytes`): each shares the programme index's vectors,
# BM25 postings, counts and typo lookups and holds its own entries' (~0.14 MB for five; the programme's own index,
# ~14 MB, which every CoP's shares, is always kept and not counted). Least recently used first out: an evicted CoP
# index is rebuilt from its own entries on the encoder's thread when its CoP asks again.
DEFAULT_INDEX_MB = 16.0
QUESTION_VECTORS = 256  # questions' vectors kept (~0.5 MB): one asked again within a turn is not encoded twice


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: an early encoding that failed is not "never retrieved"


class FaqIndexes:
    """The ranking indexes, one per CoP (its own entries plus the programme's) and one for the programme alone.

    A CoP with no entries of its own shares the programme's index (~14 MB: the programme's phrasings and examples,
    their vectors, BM25 postings); one with entries of its own gets an index that shares the programme index's
    vectors, BM25 postings, word counts, typo lookups and entries and holds only its own entries' (~0.14 MB for a
    handful of entries). Those CoP indexes are kept within ``budget_mb`` (``COPBOT_FAQ_INDEX_MB``) by their
    measured size (:func:`index_bytes`), least recently used first out, so memory does not grow with the number
    of CoPs; rebuilding an evicted one analyses and encodes only its own entries (their vectors usually still in
    the encoder's cache). An index bigger than the whole budget is still built and used, and let go when another
    is built.

    Kept in ``services.faq_indexes`` and keyed by the ETags of both ``_meta`` rows, so an index is rebuilt only
    after an entry changed (here or on another instance). Checking those ETags costs two point reads, so a check
    is trusted for ``revision_seconds`` (``COPBOT_COP_CACHE_SECONDS``; 0 checks on every question): an edit made
    through :attr:`repo` on this instance counts at once, one made on another instance within that time.
    """

    def __init__(
        self,
        store: TableStore,
        encoder: Encoder | None = None,
        *,
        revision_seconds: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        budget_mb: float = DEFAULT_INDEX_MB,
    ) -> None:
        self.repo = FaqRepo(store, on_change=self.changed)
        # indexes whose revisions were checked less than revision_seconds ago (by index key: CoP id, "" = programme);
        # an index evicted from the cache is forgotten here too, so only the budget decides what stays in memory
        self._checked = ExpiringCopies[FaqIndex](revision_seconds, clock)
        self.budget_bytes = int(budget_mb * 1024 * 1024)
        self._encoder = CachingEncoder(encoder) if encoder is not None else None
        # One worker thread does all encoding: the work is CPU-bound, so more workers would not answer sooner on
        # two cores, and each extra thread keeps its own malloc arena (tens of MB under load). Questions that
        # queue behind it are encoded together (QuestionBatcher), which is several times cheaper per question.
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faq-encoder")
        # Questions keep a small cache of their own: nearly every one is new text, and in the phrasings' cache
        # (4,096 vectors) a busy minute's questions would hold ~7 MB and push out the CoP phrasings that spare an
        # evicted index's rebuild from encoding them again.
        self._questions = (
            QuestionBatcher(CachingEncoder(encoder, QUESTION_VECTORS), self.off_loop) if encoder is not None else None
        )
        # by index key: the revisions it was built at, the index, and the bytes it holds of its own (0 for the
        # programme's index and for a CoP that shares it)
        self._cache: OrderedDict[str, tuple[tuple[str, str], FaqIndex, int]] = OrderedDict()
        # the programme's entries at a revision: a CoP's index is built over these same objects, so it shares them
        self._programme: tuple[str, list[FaqEntry]] | None = None
        self.evictions = 0  # CoP indexes let go to stay within the budget (diagnostics, the bench)
        # builds under way, by index key and revisions: questions that arrive meanwhile wait for the same build
        self._building: dict[tuple[str, tuple[str, str]], asyncio.Future[FaqIndex]] = {}
        self._programme_ready = False
        self._lock = asyncio.Lock()
        # encodings under way, by text: a turn's early start and its handler share one (encode_early)
        self._early: dict[str, asyncio.Future[FloatArray]] = {}

    async def close(self) -> None:
        """Stop: builds under way are cancelled and the encoder's thread is let go (a batch it holds finishes
        in the background; nothing is written). Called when the app stops."""
        building = list(self._building.values())
        for pending in building:
            pending.cancel()
        await asyncio.gather(*building, return_exceptions=True)
        self._worker.shutdown(wait=False, cancel_futures=True)

    @property
    def batch_sizes(self) -> list[int]:
        """How many questions each of the last encode calls held (diagnostics; tests)."""
        return list(self._questions.batches) if self._questions is not None else []

    async def ensure_programme(self, now: datetime) -> None:
        if self._programme_ready:
            return
        async with self._lock:
            if not self._programme_ready:
                await self.repo.ensure_programme(now)
                self._programme_ready = True

    async def off_loop(self, work: Callable[..., _T], *args: Any) -> _T:
        """Runs CPU-bound ranking work (encoding) on the encoder's worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._worker, work, *args)

    def encode_early(self, question: str) -> asyncio.Future[FloatArray] | None:
        """Start encoding ``question`` now, so that it overlaps the storage reads a turn makes before it ranks
        (pass the result to :meth:`answer`). None without sentence vectors. A result nobody waits for is dropped
        quietly (say the turn failed on a storage error first)."""
        if self._questions is None:
            return None
        text = encoded_text(question)
        started = self._early.get(text)
        if started is not None:  # started as the activity arrived (Router early work): the same encoding
            return started
        task = self._early[text] = asyncio.ensure_future(self._questions.vector(text))
        task.add_done_callback(_consume)
        # once done it leaves this map; a later call for the text finds its vector in the questions' cache
        task.add_done_callback(lambda _: self._early.pop(text, None))
        return task

    async def answer(
        self, index: FaqIndex, question: str, vector: Awaitable[FloatArray] | None = None
    ) -> Answer | Abstain:
        """``index.answer(question)``; with sentence vectors, the question is encoded on the worker thread (with
        any others waiting; or ``vector`` from :meth:`encode_early`), and ranked here (well under a millisecond
        for a few hundred entries)."""
        if index.semantic and self._questions is not None:
            pending = vector if vector is not None else self._questions.vector(encoded_text(question))
            encoded = await asyncio.shield(pending)  # shared by callers: one cancelled leaves it to the others
            # a question that names a CoP may be ranked again without the name (bot/answers/naming.py): that text
            # is encoded here too, so that no encoding runs on the event loop
            unnamed = index.without_cop_name(question, encoded)
            again = await self._questions.vector(encoded_text(unnamed)) if unnamed is not None else None
            return index.answer(question, vector=encoded, unnamed_vector=again)
        return index.answer(question)

    async def _build(self, entries: list[FaqEntry], base: FaqIndex | None = None) -> FaqIndex:
        """An index of ``entries``; ``base``: the programme's index, whose vectors a CoP's index shares."""
        if self._encoder is not None:
            build = functools.partial(FaqIndex.build, entries, DEFAULT_CALIBRATION, self._encoder, base=base)
            try:  # encoding new phrasings is CPU work (the programme's ~3,500: ~7 s without the prebuilt file)
                index = await self.off_loop(build)
                await self.off_loop(release_free_memory)  # the build's copies, freed in the encoder thread's arena
                return index
            except EncoderUnavailable as error:
                log.error("sentence encoder unavailable, the FAQ is ranked by BM25 alone: %s", error)
                self._encoder = self._questions = None
        return FaqIndex.build(entries)

    def changed(self, scope: str) -> None:
        """A scope's entries were written on this instance: check its indexes' revisions on the next question."""
        if scope == PROGRAMME_SCOPE:
            self._checked.clear()  # every index holds the programme's entries
        else:
            self._checked.forget(scope)

    async def for_cop(self, cop_id: str | None, now: datetime) -> FaqIndex:
        await self.ensure_programme(now)
        scope = cop_id or ""
        checked = self._checked.get(scope)
        if checked is not None:
            if scope in self._cache:
                self._cache.move_to_end(scope)  # in use: the last to be let go
            return checked
        generation = self._checked.generation
        key = (await self.repo.revision(PROGRAMME_SCOPE), await self.repo.revision(cop_id) if cop_id else "")
        cached = self._cache.get(scope)
        if cached is not None and cached[0] == key:
            self._cache.move_to_end(scope)
            index = cached[1]
        else:
            index = await self._load_once(cop_id, key, now)
        self._checked.put(scope, index, generation)
        return index

    async def _load_once(self, cop_id: str | None, key: tuple[str, str], now: datetime) -> FaqIndex:
        """One build per index and revisions, however many questions arrive while it runs: after a start (or
        an edit) a burst of questions would otherwise each build the same index, queueing ~100 builds on the
        encoder's thread and starving the turns' storage calls. A waiter that is cancelled leaves the build
        running for the others; a build that fails fails every waiter, and the next question tries again."""
        slot = (cop_id or "", key)
        pending = self._building.get(slot)
        if pending is None:
            pending = self._building[slot] = asyncio.ensure_future(self._load(cop_id, key, now))
            pending.add_done_callback(lambda _: self._building.pop(slot, None))  # only this build holds the slot
            pending.add_done_callback(_consume)
        return await asyncio.shield(pending)

    async def _load(self, cop_id: str | None, key: tuple[str, str], now: datetime) -> FaqIndex:
        """Build the index and cache it, in the step that ends the build: a question that comes back from its own
        revision reads after that finds it in the cache, one that came back before finds the build."""
        own = await self.repo.entries(cop_id) if cop_id else []
        size = 0
        if cop_id and not own:
            index = await self.for_cop(None, now)  # ranks the programme's entries alone: share that index
        else:
            # a CoP's index shares the programme index's sentence vectors (~6 MB), BM25 postings, counts, typo
            # lookups and entries when it was built from the same programme entries (FaqIndex.build checks): each
            # CoP with entries of its own costs ~0.14 MB, not ~14
            base = await self.for_cop(None, now) if cop_id and self._encoder is not None else None
            entries = await self._programme_entries(key[0]) + own
            index = await self._build(entries, base)
            if cop_id:
                size = await self.off_loop(index_bytes, index, base)
            log.info("faq index built cop_id=%s entries=%d bytes=%d", cop_id or "-", len(entries), size)
        scope = cop_id or ""
        self._cache[scope] = (key, index, size)
        self._cache.move_to_end(scope)
        self._fit(scope)
        return index

    async def _programme_entries(self, revision: str) -> list[FaqEntry]:
        if self._programme is None or self._programme[0] != revision:
            self._programme = (revision, await self.repo.entries(PROGRAMME_SCOPE))
        return list(self._programme[1])

    def _fit(self, keep: str) -> None:
        """Let go of the least recently used CoP indexes until those held fit the budget (never ``keep``, the one
        just built, nor the programme's, which every CoP index shares)."""
        held = sum(size for _, _, size in self._cache.values())
        for scope in list(self._cache):
            if held <= self.budget_bytes:
                break
            size = self._cache[scope][2]
            if scope == keep or size == 0:
                continue
            del self._cache[scope]
            self._checked.forget(scope)
            held -= size
            self.evictions += 1

    @property
    def held_bytes(self) -> int:
        """The measured bytes of the CoP indexes held now (within the budget but for one bigger than it)."""
        return sum(size for _, _, size in self._cache.values())


_ATOMS = (str, bytes, int, float, complex, bool, type(None))
_CODE = (type, types.ModuleType, types.FunctionType, types.BuiltinFunctionType, types.MethodType, types.CodeType)


def index_bytes(index: object, shared: object | None = None) -> int:
    """The bytes ``index`` holds of its own: every object and array reachable from it (``sys.getsizeof``; an array
    that owns its data counts its data, a view its base), less what ``shared`` (the programme's index, whose
    vectors, typo lookups and entries a CoP's index reuses) reaches within a few steps, and less classes, modules
    and functions. ~20 ms for a CoP index over the programme's ~1,500 entries; it runs on the encoder's thread."""
    seen = _near(shared) if shared is not None else set()
    total = 0
    pending: list[object] = [index]
    while pending:
        obj = pending.pop()
        if id(obj) in seen or isinstance(obj, _CODE):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, np.ndarray):
            if obj.base is not None:
                pending.append(obj.base)
        elif not isinstance(obj, _ATOMS):
            pending.extend(gc.get_referents(obj))
    return total


def _near(root: object, depth: int = 6, wide: int = 64) -> set[int]:
    """The ids of what ``root`` reaches within ``depth`` steps, not looking inside containers of more than ``wide``
    items past the third step (a CoP's index shares whole tables, lists and arrays of the programme's, and its
    entries, which lie within three steps): ~10 ms for the programme's index, not the ~40 ms of all ~36,000
    objects it reaches, and the same size within 0.1 MB."""
    seen: set[int] = set()
    level = [root]
    for step in range(depth):
        below: list[object] = []
        for obj in level:
            if id(obj) in seen or isinstance(obj, (*_CODE, *_ATOMS)):
                continue
            seen.add(id(obj))
            if isinstance(obj, np.ndarray):
                if obj.base is not None:
                    below.append(obj.base)
                continue
            inside = gc.get_referents(obj)
            if step < 3 or len(inside) <= wide:
                below.extend(inside)
            else:
                seen.update(id(item) for item in inside)
        level = below
    seen.update(id(obj) for obj in level)
    return seen
