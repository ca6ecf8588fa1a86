"""How sure the ranker is: the tuned and fitted constants of ranking, and the confidence of a candidate entry.

:class:`Calibration` holds every weight of ranking and confidence, and the two thresholds: BM25's and the lexical
confidence's (tuned by hand on the ``tune`` and ``holdout-1`` splits, :mod:`tools.answers.sweep_threshold`), and the
semantic confidence model's coefficients and threshold (fitted by :mod:`tools.answers.fit_confidence`). A candidate
entry's confidence (0..1) is computed from its :class:`Features` (BM25 alone, when there is no sentence encoder) or
its :class:`SemanticFeatures` (the usual case), which the index (:mod:`bot.answers.ranker`) measures.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources

__all__ = ["CONFIDENCE_MODEL_FILE", "DEFAULT_CALIBRATION", "Calibration", "Features", "SemanticFeatures"]

# The fitted confidence model: its coefficients and threshold, written by ``make refit`` with the sha256 of the
# files it was fitted from (tools/answers/fit_confidence.py; tests/answers/test_artefacts.py checks them).
CONFIDENCE_MODEL_FILE = "confidence_model.json"
_FITTED = json.loads(resources.files(__package__ or "bot.answers").joinpath(CONFIDENCE_MODEL_FILE).read_text("utf-8"))


@dataclass(frozen=True, slots=True)
class Calibration:
    """Ranking weights and the confidence threshold.

    Calibrated with ``bot/answers/examples.json`` (staff-style questions labelled with the entry that answers
    them, or null for "not in the FAQ"; also the vector index's examples, see :mod:`bot.answers.examples`). The
    lexical weights below were tuned on the ``tune`` and ``holdout-1`` splits only (``python -m
    tools.answers.sweep_threshold`` reads nothing else). ``tests/answers/test_calibration.py`` prints the figures of
    every split.

    The ranking weights came from a coarse grid search on the tuning splits (they matter little: between 91 %
    and 93 % right at <= 3 % wrong across the grid); ``min_confidence`` from the sweep printed by
    ``python -m tools.answers.sweep_threshold`` (0.78: 94.3 % right, 2.0 % wrong on the tuning splits, inside the
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
    # order of SemanticFeatures.vector(), and its threshold: read from confidence_model.json, which ``make refit``
    # writes (tools/answers/fit_confidence.py) from all the splits, each ranked without its own examples and with an
    # adapter never trained on it; the threshold is the one its leave-one-split-out cross-validation keeps within
    # 3 % confident wrong answers (docs/faq-answers.md has the figures).
    semantic_coefficients: tuple[float, ...] = tuple(float(w) for w in _FITTED["coefficients"])
    semantic_min_confidence: float = float(_FITTED["threshold"])


DEFAULT_CALIBRATION = Calibration()


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
