"""Lexical matching: BM25 over the FAQ's analysed words, and how much of a question an entry covers.

Ranking is BM25 (:mod:`bot.answers.bm25`) over three indexes built from the same analysed text
(:mod:`bot.answers.text`):

- **phrasings**: one document per phrasing (the question and each alternative); an entry scores the best of its
  phrasings, so a long list of alternatives neither dilutes nor inflates it;
- **answers**: one document per entry (answer text and tags);
- **bigrams**: one document per entry holding the adjacent-word pairs of its phrasings (function words kept), to
  break ties between entries that share the question's content words.

The three scores are combined linearly (:class:`~bot.answers.calibration.Calibration` holds the weights). Question
words of 7+ letters that the index has never seen are corrected to a known word one edit away (typos such as
"comunity" or "sponser").

The lexical confidence (:class:`~bot.answers.calibration.Features`) is ours, not BM25: how much of the question the
entry explains (the IDF-weighted share of the question's words it covers, where words the index has never seen
count against it and everyday words only a little), how much of it is found in its question or alternatives, and
how much evidence there is.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bot.answers.bm25 import Bm25
from bot.answers.calibration import Calibration, Features
from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry
from bot.answers.text import (
    FILLER_WORDS,
    MIN_FUZZY_LENGTH,
    STOP_WORDS,
    SYNONYMS,
    analyse,
    deletes,
    generic_stems,
    stem,
    words,
)

__all__ = ["MAX_QUERY_CHARS", "MAX_QUERY_TOKENS", "Bm25", "LexicalIndex", "LexicalQuery"]

MAX_QUERY_CHARS = 4000  # longer questions are cut before any processing
MAX_QUERY_TOKENS = 60  # content tokens of a question that are used

_Scores = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class LexicalQuery:
    """A question analysed against one index: its content terms with their weights, and its bigrams."""

    terms: tuple[str, ...]  # distinct content terms in order
    weights: tuple[float, ...]  # coverage weight of each term (IDF; unknown terms: the unknown weight)
    generic: tuple[bool, ...]  # whether each term is an everyday word
    bigrams: tuple[str, ...]  # distinct bigrams


@dataclass(frozen=True, slots=True)
class _Indexes:
    phrasings: Bm25  # one document per phrasing
    answers: Bm25  # one document per entry: answer text and tags
    bigrams: Bm25  # one document per entry: the bigrams of all its phrasings


class TypoTable:
    """One-edit typo lookups over ``words``: which of them a deleted-letter variant (:func:`deletes`) comes from.

    Held as the sorted hashes of every (variant, word) pair and the word each points to, ~12 bytes a pair: a dict
    of variant strings to tuples of words took ~2.5 MB for the programme's words, and a dict of sets ~2.5 MB more
    while it was built. Two variants with one hash (odds ~1e-11 for the programme's) would offer a word one more
    edit away as a candidate."""

    __slots__ = ("_hashes", "_owners", "_words")

    def __init__(self, words: Iterable[str]) -> None:
        self._words = tuple(words)
        hashes: list[int] = []
        owners: list[int] = []
        for number, word in enumerate(self._words):
            for variant in deletes(word):
                hashes.append(hash(variant))
                owners.append(number)
        found = np.asarray(hashes, dtype=np.int64)
        order = np.argsort(found, kind="stable")
        self._hashes = found[order]
        self._owners = np.asarray(owners, dtype=np.int32)[order]

    def words_near(self, variants: Iterable[str]) -> set[str]:
        """The words any of ``variants`` comes from."""
        asked = np.asarray([hash(v) for v in variants], dtype=np.int64)
        first = np.searchsorted(self._hashes, asked, side="left").tolist()
        last = np.searchsorted(self._hashes, asked, side="right").tolist()
        return {self._words[k] for a, b in zip(first, last, strict=True) for k in self._owners[a:b].tolist()}


class _Counts:
    """Per word or term, how many entries hold it: a base index's counts with this index's own entries' added on
    top, so that a CoP's index keeps only the words of its own entries rather than a copy of the programme's ~3,000.
    Each value is summed in the order a single table would have summed it."""

    __slots__ = ("_base", "_own")

    def __init__(self, base: _Counts | None = None) -> None:
        self._base = base
        self._own: dict[str, float] = {}

    def add(self, key: str, amount: float) -> None:
        current = self._own.get(key)
        if current is None:
            current = self._base.get(key, 0) if self._base is not None else 0
        self._own[key] = current + amount

    def get(self, key: str, default: float = 0) -> float:
        found = self._own.get(key)
        if found is not None:
            return found
        return self._base.get(key, default) if self._base is not None else default

    def __contains__(self, key: object) -> bool:
        return key in self._own or (self._base is not None and key in self._base)

    def __getitem__(self, key: str) -> float:
        if key not in self:
            raise KeyError(key)
        return self.get(key)

    def own(self) -> Iterable[str]:
        """The keys this index's own entries counted (new ones, and the base's they added to)."""
        return self._own.keys()

    def smallest(self) -> float | None:
        """The smallest count of any key (None when there are none)."""
        values = list(self._own.values())
        if self._base is not None:
            shadowed = self._own
            values.extend(v for k, v in self._base.items() if k not in shadowed)
        return min(values, default=None)

    def items(self) -> Iterable[tuple[str, float]]:
        if self._base is not None:
            yield from ((k, v) for k, v in self._base.items() if k not in self._own)
        yield from self._own.items()


class LexicalIndex:
    """The BM25 indexes, coverage weights and typo lookups of a list of entries.

    ``phrasings``: each entry's phrasings as the index holds them (its own, and for a programme entry its labelled
    examples; see :func:`bot.answers.ranker.indexed_phrasings`). ``base``: the lexical index of the first entries
    with the same phrasings and calibration (the programme's, for a CoP's index): its analysed text, BM25 postings
    and typo lookups are shared rather than copied, and only the other entries are analysed. A ``base`` that does
    not index the first entries alike is ignored."""

    starts: npt.NDArray[np.int64]  # where each entry's phrasing documents begin
    counts: npt.NDArray[np.int64]  # how many each entry has
    _word_df: _Counts  # entries whose text holds each word
    _df: _Counts  # entries holding each term, answers counting answer_df_weight

    def __init__(
        self,
        entries: Sequence[FaqEntry],
        phrasings: Sequence[Sequence[str]],
        calibration: Calibration,
        base: LexicalIndex | None = None,
    ) -> None:
        c = self._calibration = calibration
        n = len(entries)
        self._entries = tuple(entries)
        self._phrasings = tuple(tuple(own) for own in phrasings)
        if base is not None and not self._extends(base):
            base = None
        if base is not None:
            self._phrasings = base._phrasings + self._phrasings[len(base._phrasings) :]  # the same, not copies
        first = len(base._entries) if base is not None else 0
        phrasing_docs: list[list[str]] = []
        starts: list[int] = list(base.starts) if base is not None else []
        answer_docs: list[list[str]] = []
        bigram_docs: list[list[str]] = []
        self._phrasing_terms: list[frozenset[str]] = list(base._phrasing_terms) if base is not None else []
        self._answer_terms: list[frozenset[str]] = list(base._answer_terms) if base is not None else []
        word_df = _Counts(base._word_df if base is not None else None)
        phrasing_count = int(base.counts.sum()) if base is not None else 0
        for entry, own in zip(entries[first:], self._phrasings[first:], strict=True):
            starts.append(phrasing_count + len(phrasing_docs))
            bigrams: list[str] = []
            entry_words: set[str] = set()
            entry_docs: list[list[str]] = []
            for phrasing in own:
                raw = words(phrasing)
                entry_words.update(raw)
                analysed = analyse(raw)
                entry_docs.append(analysed.terms)
                bigrams.extend(analysed.bigrams)
            phrasing_docs.extend(entry_docs)
            answer_raw = words(entry.answer) + words(" ".join(entry.tags).replace("-", " "))
            entry_words.update(answer_raw)
            answer_docs.append(analyse(answer_raw).terms)
            bigram_docs.append(bigrams)
            self._phrasing_terms.append(frozenset(t for doc in entry_docs for t in doc))
            self._answer_terms.append(frozenset(answer_docs[-1]))
            for word in entry_words:
                word_df.add(word, 1)
        # where each entry's phrasing documents begin, and how many it has (the sentence vectors share this layout)
        self.starts = np.asarray(starts, dtype=np.int64)
        self.counts = np.diff(np.append(self.starts, phrasing_count + len(phrasing_docs)))
        self._bm25: _Indexes | None
        if base is not None and base._bm25 is not None:
            self._bm25 = _Indexes(
                phrasings=base._bm25.phrasings.extend(phrasing_docs),
                answers=base._bm25.answers.extend(answer_docs),
                bigrams=base._bm25.bigrams.extend(bigram_docs),
            )
        else:
            self._bm25 = (
                _Indexes(
                    phrasings=Bm25(phrasing_docs, c.k1, c.phrasing_b),
                    answers=Bm25(answer_docs, c.k1, c.answer_b),
                    bigrams=Bm25(bigram_docs, c.k1, c.phrasing_b),
                )
                if n
                else None
            )

        # Coverage weights (IDF over entries): an entry whose phrasings contain the term counts 1, one that only
        # mentions it in its answer counts ``answer_df_weight``.
        df = _Counts(base._df if base is not None else None)
        for phrasing_terms, answer_terms in zip(self._phrasing_terms[first:], self._answer_terms[first:], strict=True):
            for term in phrasing_terms:
                df.add(term, 1.0)
            for term in answer_terms - phrasing_terms:
                df.add(term, c.answer_df_weight)
        self._df = df
        self._n = n
        rarest = df.smallest()  # the highest IDF is the rarest term's
        self._unknown_idf = c.unknown_weight * (self._idf(rarest) if rarest is not None else 1.0)
        self._boost = np.asarray(
            [1.0 if e.scope == PROGRAMME_SCOPE else c.cop_scope_boost for e in entries], dtype=np.float32
        )
        self._word_df = word_df
        # one-edit typo lookups: a CoP's index adds a table of its new words to the programme index's instead of
        # copying it
        inherited = base._fuzzy if base is not None else ()
        known = base._word_df if base is not None else _Counts()
        self._fuzzy: tuple[TypoTable, ...] = (
            *inherited,
            TypoTable(w for w in word_df.own() if len(w) >= MIN_FUZZY_LENGTH - 1 and w.isalpha() and w not in known),
        )

    def _idf(self, df: float) -> float:
        """A term's coverage weight, from how many entries hold it (``_df``)."""
        return math.log(1.0 + (self._n - df + 0.5) / (df + 0.5))

    def _extends(self, base: LexicalIndex) -> bool:
        """Whether ``base`` indexes this index's first entries with the same phrasings and calibration."""
        first = len(base._entries)
        return (
            first <= len(self._entries)
            and base._calibration == self._calibration
            and base._entries == self._entries[:first]
            and base._phrasings == self._phrasings[:first]
        )

    @property
    def empty(self) -> bool:
        return self._bm25 is None

    # -- query processing ---------------------------------------------------------------------------------
    def _correct(self, word: str) -> str:
        """A known word one edit away from an unknown one (same first letter), else the word itself."""
        if (
            word in self._word_df
            or len(word) < MIN_FUZZY_LENGTH
            or not word.isalpha()
            or word in STOP_WORDS
            or word in FILLER_WORDS
            or word in SYNONYMS
            or stem(word) in self._df
        ):
            return word
        variants = deletes(word)
        candidates = {c for table in self._fuzzy for c in table.words_near(variants) if c[0] == word[0]}
        if not candidates:
            return word
        return min(candidates, key=lambda c: (abs(len(c) - len(word)), -self._word_df[c], c))

    def query(self, text: str) -> LexicalQuery:
        """``text``'s content terms (misspellings corrected), weighted for this index, and its bigrams."""
        raw = [self._correct(w) for w in words(text[:MAX_QUERY_CHARS])]
        analysed = analyse(raw, limit=MAX_QUERY_TOKENS)
        generic = generic_stems()
        c = self._calibration
        weights: dict[str, float] = {}
        for term in analysed.terms:
            if term not in weights:
                found = self._df.get(term, -1.0)
                weight = self._idf(found) if found >= 0 else self._unknown_idf
                weights[term] = weight * c.generic_weight if term in generic else weight
        bigrams = tuple(dict.fromkeys(analysed.bigrams))
        return LexicalQuery(tuple(weights), tuple(weights.values()), tuple(t in generic for t in weights), bigrams)

    # -- scoring -----------------------------------------------------------------------------------------
    def scores(self, query: LexicalQuery) -> tuple[_Scores, _Scores]:
        """Combined score of every entry (0 for entries that share no content term with the question), and the
        weighted bigram part of it. Not for an empty index."""
        bm25 = self._bm25
        assert bm25 is not None, "an empty index has no scores"
        c = self._calibration
        strong = [t for t, g in zip(query.terms, query.generic, strict=True) if not g]
        weak = [t for t, g in zip(query.terms, query.generic, strict=True) if g]
        per_phrasing = bm25.phrasings.scores(strong, weak, c.generic_weight)
        best_phrasing = np.maximum.reduceat(per_phrasing, self.starts)
        scores: _Scores = c.phrasing_weight * best_phrasing + c.answer_weight * bm25.answers.scores(
            strong, weak, c.generic_weight
        )
        bigrams: _Scores = np.zeros_like(scores)
        if query.bigrams:
            # Bigrams only reorder entries that share a content term with the question.
            bigrams = np.where(scores > 0, c.bigram_weight * bm25.bigrams.scores(query.bigrams), 0.0).astype(np.float32)
            scores += bigrams
        scores *= self._boost
        return scores, bigrams

    def features(self, query: LexicalQuery, doc: int, bigram_evidence: float) -> Features:
        """How much of ``query`` entry number ``doc`` covers (see :class:`~bot.answers.calibration.Features`)."""
        c = self._calibration
        phrasing_terms = self._phrasing_terms[doc]
        answer_terms = self._answer_terms[doc]
        covered = phrased = 0.0
        for term, weight in zip(query.terms, query.weights, strict=True):
            if term in phrasing_terms:
                covered += weight
                phrased += weight
            elif term in answer_terms:
                covered += c.answer_credit * weight
        total = sum(query.weights)
        return Features(
            explained=min(1.0, covered / total),
            phrased=min(1.0, phrased / total),
            evidence=min(1.0, (covered + bigram_evidence) / c.evidence_scale),
        )
