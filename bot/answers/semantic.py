"""Semantic matching: how close a question's sentence vector is to each FAQ entry's.

The index encodes every phrasing (an entry's question, alternatives and, for programme entries, the labelled
example questions), every answer and every out-of-scope example once (:class:`SentenceVectors`); the sentence space
is whitened within entries (:mod:`bot.answers.whitening`) so that how a question is worded counts for less than
what it asks. A question is then compared with all of them at once (:class:`Closeness`), which gives each candidate
entry its :class:`~bot.answers.calibration.SemanticFeatures`: its closest phrasing, its answer, the centre of its
phrasings, its share of the question's nearest phrasings, and the out-of-scope examples closer than it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.answers.calibration import SemanticFeatures
from bot.answers.whitening import whiten, whitening

__all__ = ["NEIGHBOURS", "Closeness", "Encoder", "FloatArray", "SentenceVectors"]

NEIGHBOURS = 10  # how many of the closest texts SemanticFeatures.neighbours and .closer_out_of_scope count

FloatArray = npt.NDArray[np.float32]
_Positions = npt.NDArray[np.int64]


class Encoder(Protocol):
    """Turns texts into L2-normalised sentence vectors, one row per text (see :mod:`bot.answers.encoder`), in an
    array of the caller's own: an index whitens it in place."""

    def encode(self, texts: Sequence[str]) -> FloatArray: ...


def _nearest(similarity: FloatArray, k: int) -> npt.NDArray[np.intp]:
    """The positions of the ``k`` largest values (all of them when there are fewer), in no particular order."""
    if len(similarity) <= k:
        return np.arange(len(similarity))
    return np.argpartition(-similarity, k - 1)[:k]


def _leader(values: FloatArray) -> tuple[int, float]:
    """The position of the largest value (the first, on a tie) and the second-largest value (-1 when there is none):
    an entry's margin is its value minus the runner-up's if it leads, else minus the leader's."""
    best = int(np.argmax(values))
    return best, float(np.partition(values, -2)[-2]) if len(values) > 1 else -1.0


def _centroids(phrasings: FloatArray, starts: _Positions, counts: _Positions) -> FloatArray:
    """Per entry, the mean of its (consecutive) phrasing vectors, L2-normalised."""
    means = np.add.reduceat(phrasings, starts, axis=0) / counts[:, None]
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    result: FloatArray = (means / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return result


def _cosines(blocks: tuple[FloatArray, ...], question: FloatArray) -> FloatArray:
    """The dot product of ``question`` and every row of ``blocks``, in order."""
    if len(blocks) == 1:
        only: FloatArray = blocks[0] @ question
        return only
    joined: FloatArray = np.concatenate([block @ question for block in blocks])
    return joined


@dataclass(frozen=True, slots=True)
class SentenceVectors:
    """The whitened sentence vectors of an index's texts. Build with :meth:`build` or :meth:`extend`."""

    encoder: Encoder
    matrix: FloatArray  # within-entry whitening (bot/answers/whitening.py), applied to every vector below
    # one row per phrasing, in the order of the phrasing documents, whitened; in blocks, so that a CoP's index
    # shares the programme index's block (~5 MB) and adds one of its own (see :meth:`extend`); so do the answers
    # and centroids (~0.1 MB each)
    phrasings: tuple[FloatArray, ...]
    answers: tuple[FloatArray, ...]  # one row per entry, whitened; in blocks like the phrasings
    centroids: tuple[FloatArray, ...]  # one row per entry: the mean of its whitened phrasings, normalised; in blocks
    out_of_scope: FloatArray  # one row per out-of-scope example, whitened

    @classmethod
    def build(
        cls,
        encoder: Encoder,
        texts: Sequence[str],
        starts: _Positions,
        counts: _Positions,
        shrinkage: float,
    ) -> SentenceVectors:
        """Encode ``texts`` (every phrasing, then every answer, then the out-of-scope examples: the order of
        :func:`bot.answers.ranker.index_texts`), learn the whitening from the phrasings, and whiten everything.
        ``starts`` and ``counts``: where each entry's phrasings begin and how many it has."""
        # whitened into the encoded rows, part by part (each part is multiplied as before, so the figures do not
        # change): a whitened copy beside the encoded vectors (~8 MB each for the programme's index) set the bot's
        # peak memory
        encoded = np.require(encoder.encode(texts), dtype=np.float32, requirements=["C", "W"])
        n_phrasings, n = int(counts.sum()), len(counts)
        matrix = whitening(encoded[:n_phrasings], starts, shrinkage)
        for part in (slice(0, n_phrasings), slice(n_phrasings, n_phrasings + n), slice(n_phrasings + n, None)):
            encoded[part] = whiten(encoded[part], matrix)
        phrasings = encoded[:n_phrasings]
        return cls(
            encoder,
            matrix,
            (phrasings,),
            (encoded[n_phrasings : n_phrasings + n],),
            (_centroids(phrasings, starts, counts),),
            encoded[n_phrasings + n :],
        )

    def extend(
        self,
        encoder: Encoder,
        phrasings: Sequence[str],
        answers: Sequence[str],
        starts: _Positions,
        counts: _Positions,
    ) -> SentenceVectors:
        """These vectors and those of more entries (a CoP's, after the programme's): encode and whiten only the
        new entries' ``phrasings`` (each entry's in turn: ``starts`` where each begins in ``phrasings``, ``counts``
        how many) and ``answers``, with this whitening (the CoP's few phrasings would hardly move the pooled
        within-entry scatter)."""
        encoded = encoder.encode([*phrasings, *answers])
        split = len(phrasings)
        whitened = whiten(encoded[:split], self.matrix)
        return SentenceVectors(
            encoder,
            self.matrix,
            (*self.phrasings, whitened),
            (*self.answers, whiten(encoded[split:], self.matrix)),
            (*self.centroids, _centroids(whitened, starts, counts)),
            self.out_of_scope,
        )

    @property
    def entries(self) -> int:
        """How many entries the vectors are of."""
        return sum(len(block) for block in self.answers)

    def phrasing_similarity(self, question: FloatArray) -> FloatArray:
        """The cosine of ``question`` (whitened) and every phrasing, in order."""
        return _cosines(self.phrasings, question)

    def compare(self, vector: FloatArray, starts: _Positions, owners: _Positions, reachable: _Positions) -> Closeness:
        """How close the question whose (unwhitened) sentence vector is ``vector`` is to every entry. ``starts``:
        where each entry's phrasings begin; ``owners``: the entry of each phrasing; ``reachable``: how many of the
        question's NEIGHBOURS nearest phrasings each entry can own (its phrasings, at most NEIGHBOURS)."""
        question = whiten(vector, self.matrix)
        phrasing_similarity = self.phrasing_similarity(question)
        similarity = np.maximum.reduceat(phrasing_similarity, starts)
        centroid = _cosines(self.centroids, question)
        best, runner_up = _leader(similarity)
        best_centroid, centroid_runner_up = _leader(centroid)
        return Closeness(
            similarity=similarity,
            answer=_cosines(self.answers, question),
            centroid=centroid,
            out_of_scope=np.sort(self.out_of_scope @ question),
            nearest_owners=owners[_nearest(phrasing_similarity, NEIGHBOURS)],
            reachable=reachable,
            best=best,
            runner_up=runner_up,
            best_centroid=best_centroid,
            centroid_runner_up=centroid_runner_up,
        )


@dataclass(frozen=True, slots=True)
class Closeness:
    """One question compared with every entry of an index (:meth:`SentenceVectors.compare`)."""

    similarity: FloatArray  # per entry: the cosine of the question and its closest phrasing
    answer: FloatArray  # per entry: the cosine of the question and its answer
    centroid: FloatArray  # per entry: the cosine of the question and the centre of its phrasings
    out_of_scope: FloatArray  # the cosine of the question and each out-of-scope example, ascending
    nearest_owners: _Positions  # the entries of the NEIGHBOURS phrasings closest to the question
    reachable: _Positions  # per entry: how many of those it can own (its phrasings, at most NEIGHBOURS)
    best: int  # the entry with the closest phrasing
    runner_up: float  # the second-best entry's similarity (-1 when there is none)
    best_centroid: int  # the entry with the closest centre
    centroid_runner_up: float  # the second-best entry's centroid cosine

    def features(self, doc: int, lexical: float, lexical_agrees: bool) -> SemanticFeatures:
        """Entry number ``doc``'s :class:`~bot.answers.calibration.SemanticFeatures`, with its lexical confidence
        and whether it has the best BM25 score."""
        similarity = float(self.similarity[doc])
        best_other = self.runner_up if doc == self.best else float(self.similarity[self.best])
        best_other_centroid = (
            self.centroid_runner_up if doc == self.best_centroid else float(self.centroid[self.best_centroid])
        )
        closest_out_of_scope = float(self.out_of_scope[-1]) if len(self.out_of_scope) else None
        return SemanticFeatures(
            similarity=similarity,
            margin=similarity - best_other,
            lexical=lexical,
            semantic_agrees=float(doc == self.best),
            lexical_agrees=float(lexical_agrees),
            answer_similarity=float(self.answer[doc]),
            out_of_scope=(-2.0 if closest_out_of_scope is None else closest_out_of_scope - similarity),
            neighbours=float((self.nearest_owners == doc).sum()) / float(self.reachable[doc]),
            closer_out_of_scope=min(
                1.0,
                (len(self.out_of_scope) - np.searchsorted(self.out_of_scope, self.similarity[doc], "right"))
                / NEIGHBOURS,
            ),
            centroid=float(self.centroid[doc]),
            centroid_margin=float(self.centroid[doc]) - best_other_centroid,
        )
