"""Ranks FAQ entries for a free-text question and decides whether the best one is a confident answer.

Ranking is BM25 from the ``bm25s`` library over three indexes built from the same analysed text
(:mod:`bot.answers.text`):

- **phrasings**: one document per phrasing (the question and each alternative); an entry scores the best of its
  phrasings, so a long list of alternatives neither dilutes nor inflates it;
- **answers**: one document per entry (answer text and tags);
- **bigrams**: one document per entry holding the adjacent-word pairs of its phrasings (function words kept), to
  break ties between entries that share the question's content words.

The three scores are combined linearly (:class:`Calibration` holds the weights). Question words of 7+ letters that
the index has never seen are corrected to a known word one edit away (typos such as "comunity" or "sponser").

Confidence (0..1) is ours, not BM25: it says how much of the question the best entry explains (the IDF-weighted
share of the question's words it covers, where words the index has never seen count against it and everyday
words only a little), how much of it is found in its question or alternatives, and how much evidence there is.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import bm25s  # type: ignore[import-untyped]
import numpy as np
import numpy.typing as npt

from bot.answers.examples import Examples, load_examples
from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry
from bot.answers.naming import directory_names, is_general, without_name
from bot.answers.text import (
    FILLER_WORDS,
    MIN_FUZZY_LENGTH,
    STOP_WORDS,
    SYNONYMS,
    analyse,
    deletes,
    generic_stems,
    stem,
    tokenize,
    words,
)
from bot.answers.whitening import whiten, whitening

__all__ = [
    "DEFAULT_CALIBRATION",
    "MAX_QUERY_CHARS",
    "MAX_QUERY_TOKENS",
    "Abstain",
    "AbstainReason",
    "Answer",
    "Calibration",
    "Encoder",
    "FaqIndex",
    "Features",
    "Match",
    "SemanticFeatures",
    "bench_ranking",
    "encoded_text",
    "tokenize",
]

# -- tuning constants: all in one place ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """Ranking weights and the confidence threshold.

    Calibrated with ``bot/answers/examples.json`` (staff-style questions labelled with the entry that answers
    them, or null for "not in the FAQ"; also the vector index's examples, see :mod:`bot.answers.examples`). The
    lexical weights below were tuned on the ``tune`` and ``holdout-1`` splits only (``python -m
    tests.answers.sweep_threshold`` reads nothing else). ``tests/answers/test_calibration.py`` prints the figures of
    every split.

    The ranking weights came from a coarse grid search on the tuning splits (they matter little: between 91 %
    and 93 % right at <= 3 % wrong across the grid); ``min_confidence`` from the sweep printed by
    ``python -m tests.answers.sweep_threshold`` (0.78: 94.3 % right, 2.0 % wrong on the tuning splits, inside the
    0.66-0.92 band where both targets hold; 0.42 before the FAQ's alternatives doubled; the targets hold only in
    a band, so re-run the sweep after any change to the ranker, the text lists or the FAQ). A margin rule (runner-up
    close to the best) and phrasing recall were tried and cross-validated between the two tuning splits; neither
    helped, so neither is in the code.
    """

    k1: float = 1.2  # BM25 term-frequency saturation (all three indexes)
    phrasing_b: float = 0.75  # BM25 length normalisation of the phrasing documents
    answer_b: float = 0.75  # ... and of the answer documents
    phrasing_weight: float = 1.0  # the best phrasing's BM25 score counts this much
    answer_weight: float = 0.3  # the answer text's BM25 score counts this much
    bigram_weight: float = 0.15  # matching adjacent-word pairs of the phrasings (ties between similar entries)
    # Entries of a CoP's own FAQ beat programme entries that match about as well.
    cop_scope_boost: float = 1.2
    # -- confidence (ours, not BM25) --
    # An unknown question word (never seen in any entry) weighs this fraction of the rarest known word's IDF in the
    # "how much of the question is explained" denominator: "book annual leave" must not match the "leave a CoP"
    # entry on "leave" alone.
    unknown_weight: float = 1.0
    generic_weight: float = 0.25  # weight factor of everyday words (GENERIC_WORDS), known or not, when ranking too
    answer_credit: float = 0.5  # a question word found only in an entry's answer counts this much as covered
    # An entry that mentions a term only in its answer counts this much towards the term's document frequency
    # (for the coverage weights): a word said in passing in a few answers stays a strong signal.
    answer_df_weight: float = 0.25
    # confidence = evidence * (explained_weight * explained + (1 - explained_weight) * phrased);
    # see :class:`Features`.
    explained_weight: float = 0.7
    # Questions whose matched words are all very common (only "CoP") stay unsure unless their wording matches a
    # phrasing closely (matching bigrams: "What is a CoP?"). 0.6 since the FAQ's alternatives doubled: more phrasings
    # made every common word's IDF smaller, and with 1.0 some entries' own questions fell below the threshold.
    evidence_scale: float = 0.6
    min_confidence: float = 0.78
    # -- with a sentence encoder (the usual case; the lexical-only path above is the fallback) --
    # Ranking: fused = semantic_weight * cosine + (1 - semantic_weight) * bm25 / (bm25 + lexical_saturation),
    # the cosine being the best of the entry's phrasings (question and alternatives).
    semantic_weight: float = 0.7
    # Within-entry whitening of the sentence space (bot/answers/whitening.py): the ridge added to the phrasings'
    # within-entry scatter, as a share of its mean eigenvalue; 0 turns it off. 0.7 had the best cross-validated
    # right-with-confidence of 0.1-10 on the fitting splits (0.5-1.0 within one question of each other).
    whitening_shrinkage: float = 0.7
    lexical_saturation: float = 5.0
    # Confidence: a logistic model over SemanticFeatures, intercept first, then one weight per feature in the
    # order of SemanticFeatures.vector(). Fitted by ``python -m tests.answers.fit_confidence`` (see there) on all 24
    # splits, each ranked without its own examples and with an adapter never trained on it; the threshold is the
    # one its leave-one-split-out cross-validation keeps within 3 % confident wrong answers (90.2 % right, 3.0 %
    # wrong, with FAQ version 6, the near-miss split and holdout-21; 92.0 % / 3.0 % with version 5 before them).
    semantic_coefficients: tuple[float, ...] = (
        -5.249,
        -0.685,
        0.45,
        1.756,
        0.036,
        0.652,
        -0.219,
        -9.625,
        1.69,
        -3.915,
        4.045,
        0.989,
    )
    semantic_min_confidence: float = 0.71


DEFAULT_CALIBRATION = Calibration()

MAX_QUERY_CHARS = 4000  # longer questions are cut before any processing
MAX_QUERY_TOKENS = 60  # content tokens of a question that are used
NEIGHBOURS = 10  # how many of the closest texts SemanticFeatures.neighbours and .closer_out_of_scope count

FloatArray = npt.NDArray[np.float32]


def indexed_phrasings(entry: FaqEntry, examples: Examples) -> tuple[str, ...]:
    """The phrasings an index holds for ``entry``: its own, then (programme entries) the examples labelled with it."""
    return (*entry.phrasings, *examples.phrasings_of(entry.entry_id)) if entry.is_programme else entry.phrasings


def index_texts(entries: Sequence[FaqEntry], examples: Examples = Examples()) -> list[str]:  # noqa: B008 (immutable)
    """The texts an index encodes, in its order: every entry's phrasings (:func:`indexed_phrasings`), then every
    entry's answer, then the out-of-scope examples."""
    phrasings = [p for entry in entries for p in indexed_phrasings(entry, examples)]
    return phrasings + [entry.answer for entry in entries] + list(examples.out_of_scope)


def encoded_text(question: str) -> str:
    """The part of a question that is encoded into a sentence vector (and searched)."""
    return question[:MAX_QUERY_CHARS]


# -- results ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Match:
    """One ranked entry: ``score`` is the raw (scope-boosted) combined BM25 score, ``confidence`` is in 0..1."""

    entry: FaqEntry
    score: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Answer:
    """A confident answer; ``others`` are the next best matches (for "did you mean" links)."""

    match: Match
    others: tuple[Match, ...] = ()

    @property
    def entry(self) -> FaqEntry:
        return self.match.entry

    @property
    def confidence(self) -> float:
        return self.match.confidence


AbstainReason = Literal["empty", "no_terms", "no_match", "low_confidence"]

_ABSTAIN_MESSAGES: dict[AbstainReason, str] = {
    "empty": "the question is empty",
    "no_terms": "the question has no words to search for",
    "no_match": "no FAQ entry shares a word with the question",
    "low_confidence": "no FAQ entry matches the question confidently",
}


@dataclass(frozen=True, slots=True)
class Abstain:
    """No confident answer; ``matches`` are the best candidates found, if any."""

    reason: AbstainReason
    matches: tuple[Match, ...] = ()

    @property
    def message(self) -> str:
        return _ABSTAIN_MESSAGES[self.reason]

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


@dataclass(frozen=True, slots=True)
class Features:
    """What the confidence of one candidate is computed from (each in 0..1)."""

    explained: float  # IDF-weighted share of the question's terms the entry covers (unknown words included)
    phrased: float  # IDF-weighted share of the question's terms found in the entry's question or alternatives
    evidence: float  # covered IDF mass plus matching bigrams' weight, over evidence_scale, capped at 1

    def confidence(self, calibration: Calibration) -> float:
        w = calibration.explained_weight
        return round(self.evidence * (w * self.explained + (1.0 - w) * self.phrased), 4)


@dataclass(frozen=True, slots=True)
class SemanticFeatures:
    """What the confidence of one candidate is computed from when a sentence encoder is available."""

    similarity: float  # cosine of the question and the entry's closest phrasing
    margin: float  # that cosine minus the best cosine of any other entry (negative when another is closer)
    lexical: float  # the lexical confidence of the entry (Features.confidence; 0 when no term is shared)
    semantic_agrees: float  # 1.0 when the entry has the best cosine of all entries
    lexical_agrees: float  # 1.0 when the entry has the best BM25 score of all entries (and shares a term)
    answer_similarity: float  # cosine of the question and the entry's answer
    # cosine of the question and the closest out-of-scope example (bot/answers/examples.py) minus ``similarity``:
    # positive when the question is more like one the FAQ does not answer (-2 when the index has no such example)
    out_of_scope: float = -2.0
    # of the NEIGHBOURS phrasings closest to the question (all entries'), how many are this entry's, over as many as
    # it could have (its phrasings, at most NEIGHBOURS): a CoP's entry with three phrasings can reach 1 too
    neighbours: float = 0.0
    # how many out-of-scope examples are closer to the question than this entry's closest phrasing, over NEIGHBOURS
    # (at most 1): a CoP's own entry about parking is closer than the parking questions the FAQ cannot answer
    closer_out_of_scope: float = 0.0
    # cosine of the question and the entry's centroid (the normalised mean of its phrasings' vectors): where the
    # entry's phrasings are as a whole, not only its closest one, which one odd phrasing can bring near a question
    centroid: float = 0.0
    # that cosine minus the best centroid cosine of any other entry (negative when another entry's centroid is closer)
    centroid_margin: float = 0.0

    def vector(self) -> tuple[float, ...]:
        return (
            self.similarity,
            self.margin,
            self.lexical,
            self.semantic_agrees,
            self.lexical_agrees,
            self.answer_similarity,
            self.out_of_scope,
            self.neighbours,
            self.closer_out_of_scope,
            self.centroid,
            self.centroid_margin,
        )

    def confidence(self, calibration: Calibration) -> float:
        intercept, *weights = calibration.semantic_coefficients
        z = intercept + sum(w * x for w, x in zip(weights, self.vector(), strict=True))
        return round(1.0 / (1.0 + math.exp(-z)), 4)


class Encoder(Protocol):
    """Turns texts into L2-normalised sentence vectors, one row per text (see :mod:`bot.answers.encoder`)."""

    def encode(self, texts: Sequence[str]) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class _Vectors:
    encoder: Encoder
    matrix: FloatArray  # within-entry whitening (bot/answers/whitening.py), applied to every vector below
    # one row per phrasing, in the order of the phrasing documents, whitened; in blocks, so that a CoP's index
    # shares the programme index's block (~5 MB) and adds one of its own (see FaqIndex.build's ``base``)
    phrasings: tuple[FloatArray, ...]
    answers: FloatArray  # one row per entry, whitened
    centroids: FloatArray  # one row per entry: the mean of its whitened phrasings, normalised
    out_of_scope: FloatArray  # one row per out-of-scope example, whitened

    def phrasing_similarity(self, question: FloatArray) -> FloatArray:
        """The cosine of ``question`` (whitened) and every phrasing, in order."""
        if len(self.phrasings) == 1:
            only: FloatArray = self.phrasings[0] @ question
            return only
        joined: FloatArray = np.concatenate([block @ question for block in self.phrasings])
        return joined


# -- the index -------------------------------------------------------------------------------------------


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


def _centroids(phrasings: FloatArray, starts: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]) -> FloatArray:
    """Per entry, the mean of its (consecutive) phrasing vectors, L2-normalised."""
    means = np.add.reduceat(phrasings, starts, axis=0) / counts[:, None]
    norms = np.linalg.norm(means, axis=1, keepdims=True)
    result: FloatArray = (means / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return result


@dataclass(frozen=True, slots=True)
class _Query:
    terms: tuple[str, ...]  # distinct content terms in order
    weights: tuple[float, ...]  # coverage weight of each term (IDF; unknown terms: the unknown weight)
    generic: tuple[bool, ...]  # whether each term is an everyday word
    bigrams: tuple[str, ...]  # distinct bigrams


class Bm25:
    """One ``bm25s`` index over pre-analysed documents (lists of terms), scored with weighted query terms."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float, b: float) -> None:
        self._model = bm25s.BM25(k1=k1, b=b, method="lucene")
        # bm25s needs at least one token per document and in the corpus; "" is its own placeholder token.
        self._model.index([list(d) or [""] for d in documents], show_progress=False)
        self._vocab: dict[str, int] = self._model.vocab_dict
        self._size = len(documents)

    def __contains__(self, term: str) -> bool:
        return term in self._vocab

    def scores(self, terms: Iterable[str], weak: Iterable[str] = (), weak_weight: float = 1.0) -> FloatArray:
        """BM25 scores of every document: ``terms`` count fully, ``weak`` terms ``weak_weight`` times."""
        ids = [self._vocab[t] for t in terms if t and t in self._vocab]
        weak_ids = [self._vocab[t] for t in weak if t and t in self._vocab]
        total: FloatArray = np.zeros(self._size, dtype=np.float32)
        if ids:
            total += self._model.get_scores_from_ids(ids)
        if weak_ids:
            total += weak_weight * self._model.get_scores_from_ids(weak_ids)
        return total


@dataclass(frozen=True, slots=True)
class _Indexes:
    phrasings: Bm25  # one document per phrasing
    answers: Bm25  # one document per entry: answer text and tags
    bigrams: Bm25  # one document per entry: the bigrams of all its phrasings


class FaqIndex:
    """An immutable BM25 index over FAQ entries. Build with :meth:`build`; cheap to rebuild on FAQ edits."""

    def __init__(
        self,
        entries: tuple[FaqEntry, ...],
        calibration: Calibration,
        encoder: Encoder | None = None,
        examples: Examples | None = None,
        base: FaqIndex | None = None,
    ) -> None:
        self._entries = entries
        # labelled staff questions (bot/answers/examples.py) serve the sentence-vector index only: the lexical
        # fallback's threshold was calibrated without them
        examples = Examples() if encoder is None else load_examples() if examples is None else examples
        self._examples = examples
        self._calibration = calibration
        self._names = {entries[i].entry_id: name for i, name in directory_names(entries).items()}
        self._name_words = frozenset().union(*self._names.values())
        c = calibration
        n = len(entries)
        phrasing_docs: list[list[str]] = []
        starts: list[int] = []
        answer_docs: list[list[str]] = []
        bigram_docs: list[list[str]] = []
        self._phrasing_terms: list[frozenset[str]] = []
        self._answer_terms: list[frozenset[str]] = []
        word_df: dict[str, int] = {}
        for entry in entries:
            starts.append(len(phrasing_docs))
            bigrams: list[str] = []
            entry_words: set[str] = set()
            for phrasing in indexed_phrasings(entry, examples):
                raw = words(phrasing)
                entry_words.update(raw)
                analysed = analyse(raw)
                phrasing_docs.append(analysed.terms)
                bigrams.extend(analysed.bigrams)
            answer_raw = words(entry.answer) + words(" ".join(entry.tags).replace("-", " "))
            entry_words.update(answer_raw)
            answer_docs.append(analyse(answer_raw).terms)
            bigram_docs.append(bigrams)
            self._phrasing_terms.append(frozenset(t for doc in phrasing_docs[starts[-1] :] for t in doc))
            self._answer_terms.append(frozenset(answer_docs[-1]))
            for word in entry_words:
                word_df[word] = word_df.get(word, 0) + 1
        self._starts = np.asarray(starts, dtype=np.int64)
        counts = np.diff(np.append(self._starts, len(phrasing_docs)))
        self._owner = np.repeat(np.arange(n), counts)  # the entry of each phrasing document
        self._reachable = np.minimum(counts, NEIGHBOURS)  # how many of the nearest phrasings each entry can own
        self._vectors: _Vectors | None = None
        # a base index to share with (see build): None when it does not index this index's first entries alike
        base = base if base is not None and self._extends(base) else None
        shared = base._vectors if base is not None else None
        if encoder is not None and shared is not None and len(shared.answers) == n:
            self._vectors = shared  # the same entries: nothing to add
        elif encoder is not None and n and shared is not None:
            # a CoP's index over the programme's: encode and whiten only the CoP's own entries, with the programme
            # index's whitening (the CoP's few phrasings would hardly move the pooled within-entry scatter)
            first = len(shared.answers)  # the programme's entries come first (checked by _extends)
            added = entries[first:]
            encoded = encoder.encode(
                [p for entry in added for p in indexed_phrasings(entry, examples)] + [entry.answer for entry in added]
            )
            split = len(phrasing_docs) - int(self._starts[first])
            phrasings = whiten(encoded[:split], shared.matrix)
            own_centroids = _centroids(phrasings, self._starts[first:] - self._starts[first], counts[first:])
            self._vectors = _Vectors(
                encoder,
                shared.matrix,
                (*shared.phrasings, phrasings),
                np.vstack([shared.answers, whiten(encoded[split:], shared.matrix)]),
                np.vstack([shared.centroids, own_centroids]),
                shared.out_of_scope,
            )
        elif encoder is not None and n:
            encoded = encoder.encode(index_texts(entries, examples))
            phrasings = encoded[: len(phrasing_docs)]
            answers = encoded[len(phrasing_docs) : len(phrasing_docs) + n]
            out_of_scope = encoded[len(phrasing_docs) + n :]
            matrix = whitening(phrasings, self._starts, c.whitening_shrinkage)
            whitened = whiten(phrasings, matrix)
            self._vectors = _Vectors(
                encoder,
                matrix,
                (whitened,),
                whiten(answers, matrix),
                _centroids(whitened, self._starts, counts),
                whiten(out_of_scope, matrix),
            )
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
        df: dict[str, float] = {}
        for phrasing_terms, answer_terms in zip(self._phrasing_terms, self._answer_terms, strict=True):
            for term in phrasing_terms:
                df[term] = df.get(term, 0.0) + 1.0
            for term in answer_terms - phrasing_terms:
                df[term] = df.get(term, 0.0) + c.answer_df_weight
        self._idf = {term: math.log(1.0 + (n - d + 0.5) / (d + 0.5)) for term, d in df.items()}
        self._unknown_idf = c.unknown_weight * max(self._idf.values(), default=1.0)
        self._boost = np.asarray(
            [1.0 if e.scope == PROGRAMME_SCOPE else c.cop_scope_boost for e in entries], dtype=np.float32
        )
        self._word_df = word_df
        # one-edit typo lookups: deleted-letter variant -> known words; a CoP's index adds a map of its new words
        # to the programme index's (~1.5 MB) instead of copying it
        inherited = base._fuzzy if base is not None else ()
        known: Mapping[str, int] = base._word_df if base is not None else {}
        fuzzy: dict[str, set[str]] = {}
        for word in word_df:
            if len(word) >= MIN_FUZZY_LENGTH - 1 and word.isalpha() and word not in known:
                for variant in deletes(word):
                    fuzzy.setdefault(variant, set()).add(word)
        self._fuzzy: tuple[Mapping[str, tuple[str, ...]], ...] = (
            *inherited,
            {variant: tuple(sorted(found)) for variant, found in fuzzy.items()},
        )

    @classmethod
    def build(
        cls,
        entries: Iterable[FaqEntry],
        calibration: Calibration = DEFAULT_CALIBRATION,
        encoder: Encoder | None = None,
        examples: Examples | None = None,
        *,
        base: FaqIndex | None = None,
    ) -> FaqIndex:
        """Index ``entries`` (any mix of programme and CoP entries). Entry ids need not be unique across scopes.

        With an ``encoder`` every phrasing and answer is encoded here (CPU-bound: build in a worker thread), and
        ``examples`` (default: the shipped ones, :func:`bot.answers.examples.load_examples`) join the index.

        ``base``: an index whose entries begin ``entries`` (the programme's index, for a CoP's), built with the same
        calibration and examples: its sentence vectors, whitening and typo lookups are shared rather than copied,
        and only the other entries are encoded. Otherwise it is ignored."""
        return cls(tuple(entries), calibration, encoder, examples, base)

    def _extends(self, base: FaqIndex) -> bool:
        """Whether ``base`` indexes the first of this index's entries, with the same calibration and examples."""
        first = len(base._entries)
        return (
            0 < first <= len(self._entries)
            and base._calibration == self._calibration
            and base._examples == self._examples
            and self._entries[:first] == base._entries
        )

    @property
    def semantic(self) -> bool:
        """Whether ranking uses sentence vectors (an encoder was given) or BM25 alone."""
        return self._vectors is not None

    @property
    def min_confidence(self) -> float:
        c = self._calibration
        return c.semantic_min_confidence if self._vectors is not None else c.min_confidence

    @property
    def entries(self) -> tuple[FaqEntry, ...]:
        return self._entries

    def __len__(self) -> int:
        return len(self._entries)

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
            or stem(word) in self._idf
        ):
            return word
        candidates: set[str] = set()
        for variant in deletes(word):
            for fuzzy in self._fuzzy:
                candidates.update(fuzzy.get(variant, ()))
        candidates = {c for c in candidates if c[0] == word[0]}
        if not candidates:
            return word
        return min(candidates, key=lambda c: (abs(len(c) - len(word)), -self._word_df[c], c))

    def _query(self, text: str) -> _Query:
        raw = [self._correct(w) for w in words(text[:MAX_QUERY_CHARS])]
        analysed = analyse(raw, limit=MAX_QUERY_TOKENS)
        generic = generic_stems()
        c = self._calibration
        weights: dict[str, float] = {}
        for term in analysed.terms:
            if term not in weights:
                weight = self._idf.get(term, self._unknown_idf)
                weights[term] = weight * c.generic_weight if term in generic else weight
        bigrams = tuple(dict.fromkeys(analysed.bigrams))
        return _Query(tuple(weights), tuple(weights.values()), tuple(t in generic for t in weights), bigrams)

    # -- ranking -----------------------------------------------------------------------------------------
    def search(self, text: str, k: int = 3) -> list[Match]:
        """The ``k`` best entries for ``text``, best first, with their confidence. Empty when nothing matches."""
        return [match for match, _ in self.explain(text, k)]

    def explain(
        self,
        text: str,
        k: int = 3,
        *,
        vector: FloatArray | None = None,
        unnamed_vector: FloatArray | None = None,
    ) -> list[tuple[Match, Features | SemanticFeatures]]:
        """:meth:`search` with what each confidence was computed from (for calibration and diagnostics).

        ``vector``: the encoder's vector of ``encoded_text(text)``, when the caller has it already (encoded
        in a batch); ``unnamed_vector``: the same for :meth:`without_cop_name`'s text. Otherwise the index's
        encoder is called here."""
        return self._explain(self._query(text), text, k, vector, unnamed_vector)

    def without_cop_name(self, text: str, vector: FloatArray | None = None) -> str | None:
        """The question ranked a second time, without the CoP name that put a directory entry first (see
        :mod:`bot.answers.naming`); None when there is no second ranking. For callers that encode it ahead."""
        if self._vectors is None or self._name_words.isdisjoint(words(text)):
            return None  # most questions name no CoP: no ranking needed to know there is no second one
        return self._unnamed(text, self._rank_semantic(self._query(text), text, 1, vector))

    def _unnamed(self, text: str, ranked: list[tuple[Match, Features | SemanticFeatures]]) -> str | None:
        name = self._names.get(ranked[0][0].entry.entry_id) if ranked else None
        return without_name(text, name) if name else None

    def _explain(
        self,
        query: _Query,
        text: str,
        k: int,
        vector: FloatArray | None = None,
        unnamed_vector: FloatArray | None = None,
    ) -> list[tuple[Match, Features | SemanticFeatures]]:
        if self._vectors is None:
            return self._rank_with_features(query, k)
        ranked = self._rank_semantic(query, text, k, vector)
        unnamed = self._unnamed(text, ranked)
        if unnamed is None:
            return ranked
        again = self._rank_semantic(self._query(unnamed), unnamed, k, unnamed_vector)
        if not again or not is_general(again[0][0].entry):
            return ranked
        # "what is the X CoP?" without the name is "what is the CoP?": unsure, so the directory entry stays
        return again if again[0][0].confidence >= min(ranked[0][0].confidence, self.min_confidence) else ranked

    def _scores(self, bm25: _Indexes, query: _Query) -> tuple[FloatArray, FloatArray]:
        """Combined score of every entry (0 for entries that share no content term with the question), and the
        weighted bigram part of it."""
        c = self._calibration
        strong = [t for t, g in zip(query.terms, query.generic, strict=True) if not g]
        weak = [t for t, g in zip(query.terms, query.generic, strict=True) if g]
        per_phrasing = bm25.phrasings.scores(strong, weak, c.generic_weight)
        best_phrasing = np.maximum.reduceat(per_phrasing, self._starts)
        scores: FloatArray = c.phrasing_weight * best_phrasing + c.answer_weight * bm25.answers.scores(
            strong, weak, c.generic_weight
        )
        bigrams: FloatArray = np.zeros_like(scores)
        if query.bigrams:
            # Bigrams only reorder entries that share a content term with the question.
            bigrams = np.where(scores > 0, c.bigram_weight * bm25.bigrams.scores(query.bigrams), 0.0).astype(np.float32)
            scores += bigrams
        scores *= self._boost
        return scores, bigrams

    def _rank_semantic(
        self, query: _Query, text: str, k: int, vector: FloatArray | None
    ) -> list[tuple[Match, Features | SemanticFeatures]]:
        vectors = self._vectors
        if vectors is None or self._bm25 is None or k <= 0 or not words(encoded_text(text)):
            return []
        c = self._calibration
        n = len(self._entries)
        if query.terms:
            lexical, bigrams = self._scores(self._bm25, query)
        else:
            lexical = bigrams = np.zeros(n, dtype=np.float32)
        raw = vector if vector is not None else vectors.encoder.encode([encoded_text(text)])[0]
        question = whiten(raw, vectors.matrix)
        phrasing_similarity = vectors.phrasing_similarity(question)
        similarity = np.maximum.reduceat(phrasing_similarity, self._starts)
        answer_similarity = vectors.answers @ question
        centroid_similarity = vectors.centroids @ question
        best_centroid, centroid_runner_up = _leader(centroid_similarity)
        out_of_scope_similarity = np.sort(vectors.out_of_scope @ question)  # ascending
        closest_out_of_scope = float(out_of_scope_similarity[-1]) if len(out_of_scope_similarity) else None
        nearest_owners = self._owner[_nearest(phrasing_similarity, NEIGHBOURS)]
        fused = c.semantic_weight * similarity + (1.0 - c.semantic_weight) * lexical / (lexical + c.lexical_saturation)
        best_semantic, runner_up = _leader(similarity)
        best_lexical = int(np.argmax(lexical)) if float(lexical.max()) > 0 else -1
        want = min(n, k)
        top = np.argpartition(-fused, want - 1)[:want] if want < n else np.arange(n)
        out: list[tuple[Match, Features | SemanticFeatures]] = []
        for doc in sorted((int(i) for i in top), key=lambda i: (-float(fused[i]), i)):
            lexical_confidence = (
                self._features(query, doc, float(bigrams[doc])).confidence(c)
                if query.terms and lexical[doc] > 0
                else 0.0
            )
            best_other = runner_up if doc == best_semantic else float(similarity[best_semantic])
            best_other_centroid = (
                centroid_runner_up if doc == best_centroid else float(centroid_similarity[best_centroid])
            )
            features = SemanticFeatures(
                similarity=float(similarity[doc]),
                margin=float(similarity[doc]) - best_other,
                lexical=lexical_confidence,
                semantic_agrees=float(doc == best_semantic),
                lexical_agrees=float(doc == best_lexical),
                answer_similarity=float(answer_similarity[doc]),
                out_of_scope=(-2.0 if closest_out_of_scope is None else closest_out_of_scope - float(similarity[doc])),
                neighbours=float((nearest_owners == doc).sum()) / float(self._reachable[doc]),
                closer_out_of_scope=min(
                    1.0,
                    (len(out_of_scope_similarity) - np.searchsorted(out_of_scope_similarity, similarity[doc], "right"))
                    / NEIGHBOURS,
                ),
                centroid=float(centroid_similarity[doc]),
                centroid_margin=float(centroid_similarity[doc]) - best_other_centroid,
            )
            out.append((Match(self._entries[doc], float(fused[doc]), features.confidence(c)), features))
        return out

    def _rank_with_features(self, query: _Query, k: int) -> list[tuple[Match, Features | SemanticFeatures]]:
        if not query.terms or k <= 0 or self._bm25 is None:
            return []
        scores, bigrams = self._scores(self._bm25, query)
        want = min(len(scores), k)
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        ranked = sorted((int(i) for i in top if scores[i] > 0), key=lambda i: (-float(scores[i]), i))
        out: list[tuple[Match, Features | SemanticFeatures]] = []
        for doc in ranked:
            features = self._features(query, doc, float(bigrams[doc]))
            confidence = features.confidence(self._calibration)
            out.append((Match(self._entries[doc], float(scores[doc]), confidence), features))
        return out

    def _features(self, query: _Query, doc: int, bigram_evidence: float) -> Features:
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

    def answer(
        self,
        text: str,
        *,
        min_confidence: float | None = None,
        vector: FloatArray | None = None,
        unnamed_vector: FloatArray | None = None,
    ) -> Answer | Abstain:
        """The best entry when it is confident enough, otherwise :class:`Abstain` with the reason. ``vector`` and
        ``unnamed_vector``: as for :meth:`explain`."""
        if not text or not text.strip():
            return Abstain("empty")
        query = self._query(text)
        if not query.terms and (self._vectors is None or not words(encoded_text(text))):
            return Abstain("no_terms")
        matches = [match for match, _ in self._explain(query, text, 3, vector, unnamed_vector)]
        if not matches:
            return Abstain("no_match")
        threshold = self.min_confidence if min_confidence is None else min_confidence
        if matches[0].confidence < threshold:
            return Abstain("low_confidence", tuple(matches))
        return Answer(matches[0], tuple(matches[1:]))


# -- benchmark -------------------------------------------------------------------------------------------


def _synthetic_entries(n_entries: int, rng: random.Random) -> list[FaqEntry]:
    """``n_entries`` FAQ entries shaped like real ones: programme entries rephrased with extra vocabulary."""
    from bot.answers.faq import load_programme_faq  # local: the benchmark is the only user here

    _, base = load_programme_faq()
    syllables = ["ka", "lo", "mi", "ner", "sto", "va", "pri", "den", "qua", "rul", "te", "bo", "sin", "gar"]
    extra = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    out: list[FaqEntry] = []
    for i in range(n_entries):
        src = base[i % len(base)]
        words = rng.sample(extra, 6)
        out.append(
            FaqEntry(
                entry_id=f"{src.entry_id}-{i}",
                question=f"{src.question} {' '.join(words[:2])}",
                answer=f"{src.answer} {' '.join(words[2:])}",
                alternatives=tuple(f"{a} {words[j % 6]}" for j, a in enumerate(src.alternatives)),
                tags=src.tags,
                scope=PROGRAMME_SCOPE if i % 3 else f"cop-{i % 22}",
                source="bench",
            )
        )
    return out


def bench_ranking(n_entries: int = 2000, n_queries: int = 500, seed: int = 7) -> dict[str, float]:
    """Build an index of ``n_entries`` synthetic entries and time ``n_queries`` calls of :meth:`FaqIndex.answer`.

    Returns ``build_ms``, ``p50_ms``, ``p99_ms`` and ``max_ms`` (wall clock, one thread).
    """
    rng = random.Random(seed)
    entries = _synthetic_entries(n_entries, rng)
    started = time.perf_counter()
    index = FaqIndex.build(entries)
    build_ms = (time.perf_counter() - started) * 1000
    queries: list[str] = []
    for _ in range(n_queries):
        entry = rng.choice(entries)
        words = rng.choice(entry.phrasings).split()
        kept = [w for w in words if rng.random() > 0.3] or words
        queries.append(" ".join([*kept, rng.choice(["please", "thanks", "wifi", "deadline", "comunity"])]))
    timings: list[float] = []
    for query in queries:
        started = time.perf_counter()
        index.answer(query)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "entries": float(n_entries),
        "queries": float(n_queries),
        "build_ms": round(build_ms, 3),
        "p50_ms": round(cuts[49], 4),
        "p99_ms": round(cuts[98], 4),
        "max_ms": round(timings[-1], 4),
    }
