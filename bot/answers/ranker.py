"""The FAQ index: ranks FAQ entries for a free-text question and decides whether the best one is a confident answer.

:class:`FaqIndex` combines two ways of matching a question with the entries: lexical (BM25 over their words,
:mod:`bot.answers.lexical`) and, when a sentence encoder is given (the usual case), semantic (the cosine of sentence
vectors, :mod:`bot.answers.semantic`). The two scores are fused to rank the entries; the best one's confidence comes
from the model in :mod:`bot.answers.calibration`, and below its threshold the index abstains. Without an encoder,
BM25 ranks alone with its own confidence and a stricter threshold. A question that names a CoP is ranked a second
time without the name when that put a directory entry first (:mod:`bot.answers.naming`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bot.answers.calibration import DEFAULT_CALIBRATION, Calibration, Features, SemanticFeatures
from bot.answers.examples import Examples, load_examples
from bot.answers.faq import FaqEntry
from bot.answers.lexical import MAX_QUERY_CHARS, LexicalIndex, LexicalQuery
from bot.answers.naming import directory_names, is_general, without_name
from bot.answers.semantic import NEIGHBOURS, Encoder, FloatArray, SentenceVectors
from bot.answers.text import tokenize, words

__all__ = [
    "DEFAULT_CALIBRATION",
    "Abstain",
    "AbstainReason",
    "Answer",
    "Calibration",
    "Encoder",
    "FaqIndex",
    "Features",
    "FloatArray",
    "Match",
    "SemanticFeatures",
    "encoded_text",
    "index_texts",
    "indexed_phrasings",
    "tokenize",
]


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


# -- the index -------------------------------------------------------------------------------------------

Ranked = list[tuple[Match, Features | SemanticFeatures]]


class FaqIndex:
    """An immutable index over FAQ entries. Build with :meth:`build`; cheap to rebuild on FAQ edits."""

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
        n = len(entries)
        phrasings = [indexed_phrasings(entry, examples) for entry in entries]
        # a base index to share with (see build): None when it does not index this index's first entries alike
        base = base if base is not None and self._extends(base) else None
        self._lexical: LexicalIndex = LexicalIndex(
            entries, phrasings, calibration, base._lexical if base is not None else None
        )
        starts, counts = self._lexical.starts, self._lexical.counts
        self._starts = starts
        self._owner = np.repeat(np.arange(n), counts)  # the entry of each phrasing
        self._reachable = np.minimum(counts, NEIGHBOURS)  # how many of the nearest phrasings each entry can own
        self._vectors: SentenceVectors | None = None
        shared = base._vectors if base is not None else None
        if encoder is not None and shared is not None and shared.entries == n:
            self._vectors = shared  # the same entries: nothing to add
        elif encoder is not None and n and shared is not None:
            # a CoP's index over the programme's: encode and whiten only the CoP's own entries
            first = shared.entries  # the programme's entries come first (checked by _extends)
            self._vectors = shared.extend(
                encoder,
                [p for own in phrasings[first:] for p in own],
                [entry.answer for entry in entries[first:]],
                starts[first:] - starts[first],
                counts[first:],
            )
        elif encoder is not None and n:
            self._vectors = SentenceVectors.build(
                encoder, index_texts(entries, examples), starts, counts, calibration.whitening_shrinkage
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
    ) -> Ranked:
        """:meth:`search` with what each confidence was computed from (for calibration and diagnostics).

        ``vector``: the encoder's vector of ``encoded_text(text)``, when the caller has it already (encoded
        in a batch); ``unnamed_vector``: the same for :meth:`without_cop_name`'s text. Otherwise the index's
        encoder is called here."""
        return self._explain(self._lexical.query(text), text, k, vector, unnamed_vector)

    def without_cop_name(self, text: str, vector: FloatArray | None = None) -> str | None:
        """The question ranked a second time, without the CoP name that put a directory entry first (see
        :mod:`bot.answers.naming`); None when there is no second ranking. For callers that encode it ahead."""
        if self._vectors is None or self._name_words.isdisjoint(words(text)):
            return None  # most questions name no CoP: no ranking needed to know there is no second one
        return self._unnamed(text, self._rank_semantic(self._lexical.query(text), text, 1, vector))

    def _unnamed(self, text: str, ranked: Ranked) -> str | None:
        name = self._names.get(ranked[0][0].entry.entry_id) if ranked else None
        return without_name(text, name) if name else None

    def _explain(
        self,
        query: LexicalQuery,
        text: str,
        k: int,
        vector: FloatArray | None = None,
        unnamed_vector: FloatArray | None = None,
    ) -> Ranked:
        if self._vectors is None:
            return self._rank_lexical(query, k)
        ranked = self._rank_semantic(query, text, k, vector)
        unnamed = self._unnamed(text, ranked)
        if unnamed is None:
            return ranked
        again = self._rank_semantic(self._lexical.query(unnamed), unnamed, k, unnamed_vector)
        if not again or not is_general(again[0][0].entry):
            return ranked
        # "what is the X CoP?" without the name is "what is the CoP?": unsure, so the directory entry stays
        return again if again[0][0].confidence >= min(ranked[0][0].confidence, self.min_confidence) else ranked

    def _rank_semantic(self, query: LexicalQuery, text: str, k: int, vector: FloatArray | None) -> Ranked:
        """Fused ranking: semantic_weight * the closest phrasing's cosine + the rest * saturated BM25."""
        vectors = self._vectors
        if vectors is None or self._lexical.empty or k <= 0 or not words(encoded_text(text)):
            return []
        c = self._calibration
        n = len(self._entries)
        if query.terms:
            lexical, bigrams = self._lexical.scores(query)
        else:
            lexical = bigrams = np.zeros(n, dtype=np.float32)
        raw = vector if vector is not None else vectors.encoder.encode([encoded_text(text)])[0]
        close = vectors.compare(raw, self._starts, self._owner, self._reachable)
        similarity = close.similarity
        fused = c.semantic_weight * similarity + (1.0 - c.semantic_weight) * lexical / (lexical + c.lexical_saturation)
        best_lexical = int(np.argmax(lexical)) if float(lexical.max()) > 0 else -1
        want = min(n, k)
        top = np.argpartition(-fused, want - 1)[:want] if want < n else np.arange(n)
        out: Ranked = []
        for doc in sorted((int(i) for i in top), key=lambda i: (-float(fused[i]), i)):
            lexical_confidence = (
                self._lexical.features(query, doc, float(bigrams[doc])).confidence(c)
                if query.terms and lexical[doc] > 0
                else 0.0
            )
            features = close.features(doc, lexical_confidence, doc == best_lexical)
            out.append((Match(self._entries[doc], float(fused[doc]), features.confidence(c)), features))
        return out

    def _rank_lexical(self, query: LexicalQuery, k: int) -> Ranked:
        """BM25 alone (no encoder), with the lexical confidence."""
        if not query.terms or k <= 0 or self._lexical.empty:
            return []
        scores, bigrams = self._lexical.scores(query)
        want = min(len(scores), k)
        top = np.argpartition(-scores, want - 1)[:want] if want < len(scores) else np.arange(len(scores))
        ranked = sorted((int(i) for i in top if scores[i] > 0), key=lambda i: (-float(scores[i]), i))
        out: Ranked = []
        for doc in ranked:
            features = self._lexical.features(query, doc, float(bigrams[doc]))
            confidence = features.confidence(self._calibration)
            out.append((Match(self._entries[doc], float(scores[doc]), confidence), features))
        return out

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
        query = self._lexical.query(text)
        if not query.terms and (self._vectors is None or not words(encoded_text(text))):
            return Abstain("no_terms")
        matches = [match for match, _ in self._explain(query, text, 3, vector, unnamed_vector)]
        if not matches:
            return Abstain("no_match")
        threshold = self.min_confidence if min_confidence is None else min_confidence
        if matches[0].confidence < threshold:
            return Abstain("low_confidence", tuple(matches))
        return Answer(matches[0], tuple(matches[1:]))
