"""BM25 (Lucene's variant) over pre-analysed documents, kept as term counts so that a larger index can share it.

A CoP's FAQ index holds the programme's ~3,600 phrasings and a handful of the CoP's own. Until 7 December 2026 the
ranking used the ``bm25s`` library, which stores every term's finished score in every document, computed with the
whole collection's statistics (document count, average length, document frequency): one more document changes
them all, so each CoP's index copied and rescored the programme's collection (~2 MB and a tenth of a second per
CoP, for a few lines of its own). Here an index keeps each term's documents and counts, and a larger index
(:meth:`Bm25.extend`) keeps only its new documents' and refers to the smaller one's; the collection's statistics
are applied when a question is scored, to the few terms it has.

The scores are ``bm25s``'s to the last bit (its ``method="lucene"``, float32 scores of float64 arithmetic, summed
over the question's terms in their order): ``tests/answers/test_bm25.py`` checks the formula, and the calibrated
FAQ figures did not move when the library was replaced.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Bm25"]

_Scores = npt.NDArray[np.float32]
_EMPTY = ""  # an empty document holds this one placeholder term (scored like any other, never asked for)


@dataclass(frozen=True, slots=True)
class _Postings:
    """Which documents hold each term, and how often: term ``vocab[t]``'s are ``docs[indptr[i]:indptr[i + 1]]``,
    numbered within the whole index, ascending."""

    vocab: dict[str, int]
    indptr: npt.NDArray[np.int64]
    docs: npt.NDArray[np.int32]
    counts: npt.NDArray[np.float32]

    @classmethod
    def of(cls, documents: Sequence[Sequence[str]], first: int) -> _Postings:
        """The postings of ``documents``, numbered from ``first``."""
        vocab: dict[str, int] = {}
        terms: list[int] = []
        docs: list[int] = []
        counts: list[int] = []
        for number, document in enumerate(documents, start=first):
            for term, count in Counter(document).items():
                terms.append(vocab.setdefault(term, len(vocab)))
                docs.append(number)
                counts.append(count)
        ids = np.asarray(terms, dtype=np.int64)
        order = np.argsort(ids, kind="stable")  # by term; each term's documents stay in ascending order
        indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
        np.cumsum(np.bincount(ids, minlength=len(vocab)), out=indptr[1:])
        return cls(vocab, indptr, np.asarray(docs, dtype=np.int32)[order], np.asarray(counts, dtype=np.float32)[order])

    def find(self, term: str) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]] | None:
        at = self.vocab.get(term)
        if at is None:
            return None
        start, end = int(self.indptr[at]), int(self.indptr[at + 1])
        return self.docs[start:end], self.counts[start:end]


class Bm25:
    """A BM25 index over pre-analysed documents (lists of terms), scored with weighted query terms.

    ``k1`` and ``b`` are BM25's term-frequency saturation and length normalisation."""

    _parts: tuple[_Postings, ...]  # the smaller indexes' postings, then this one's
    _k1: float
    _b: float
    _lengths: npt.NDArray[np.int64]  # every document's number of terms
    _size: int
    _norm: npt.NDArray[np.float64]

    def __init__(self, documents: Sequence[Sequence[str]], k1: float, b: float) -> None:
        self._init(documents, k1, b, None)

    def _init(self, documents: Sequence[Sequence[str]], k1: float, b: float, base: Bm25 | None) -> None:
        documents = [list(d) or [_EMPTY] for d in documents]
        first = base._size if base is not None else 0
        own = _Postings.of(documents, first)
        lengths = np.asarray([len(d) for d in documents], dtype=np.int64)
        if base is not None:
            lengths = np.concatenate([base._lengths, lengths])
        self._parts = (*base._parts, own) if base is not None else (own,)
        self._k1, self._b = k1, b
        self._lengths = lengths
        self._size = len(lengths)
        # each document's length normalisation, k1 * (1 - b + b * length / average length)
        self._norm = k1 * ((1 - b) + b * lengths / lengths.mean()) if self._size else np.zeros(0, dtype=np.float64)

    def extend(self, documents: Sequence[Sequence[str]]) -> Bm25:
        """An index of this index's documents followed by ``documents``, sharing this one's postings: it scores
        exactly as a new index of all of them would."""
        larger = Bm25.__new__(Bm25)
        larger._init(documents, self._k1, self._b, self)
        return larger

    def __len__(self) -> int:
        return self._size

    def __contains__(self, term: str) -> bool:
        return any(term in part.vocab for part in self._parts)

    def _term(self, term: str) -> tuple[npt.NDArray[np.int32], _Scores] | None:
        """The documents holding ``term`` and its BM25 score in each."""
        found = [hit for part in self._parts if (hit := part.find(term)) is not None]
        if not found:
            return None
        docs = found[0][0] if len(found) == 1 else np.concatenate([d for d, _ in found])
        counts = found[0][1] if len(found) == 1 else np.concatenate([c for _, c in found])
        df = len(docs)
        idf = np.float32(math.log(1 + (self._size - df + 0.5) / (df + 0.5)))
        saturation = counts / (self._norm[docs] + counts)  # float64
        return docs, (idf * saturation).astype(np.float32)

    def _sum(self, terms: Iterable[str]) -> _Scores | None:
        total: _Scores | None = None
        for term in terms:
            if not term:
                continue
            scored = self._term(term)
            if scored is None:
                continue
            if total is None:
                total = np.zeros(self._size, dtype=np.float32)
            docs, scores = scored
            total[docs] += scores  # a term's documents are distinct
        return total

    def scores(self, terms: Iterable[str], weak: Iterable[str] = (), weak_weight: float = 1.0) -> _Scores:
        """BM25 scores of every document: ``terms`` count fully, ``weak`` terms ``weak_weight`` times."""
        total: _Scores = np.zeros(self._size, dtype=np.float32)
        strong = self._sum(terms)
        if strong is not None:
            total += strong
        faint = self._sum(weak)
        if faint is not None:
            total += weak_weight * faint
        return total
