"""The production ranker as the calibration measures it: each split ranked by an index built without its own
examples, with an encoder whose adapter never trained on it (:mod:`tools.answers.folds`). Encoders are loaded once
per process and remember what they encoded (the calibration builds one index per split over the same texts)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bot.answers.calibration import DEFAULT_CALIBRATION, Calibration
from bot.answers.encoder import SentenceEncoder
from bot.answers.examples import load_examples
from bot.answers.faq import load_programme_faq
from bot.answers.ranker import FaqIndex, FloatArray
from bot.core.config import DEFAULT_MODEL_DIR
from tools.answers.folds import adapter_folds
from tools.answers.splits import NEWER_THAN_ADAPTER

REPO = Path(__file__).resolve().parents[2]


class NoFoldAdapter(LookupError):
    """No adapter was trained without the split: ``make retrain`` makes one for every fold."""


def model_dir() -> Path:
    """Where ``make model`` puts the model: COPBOT_MODEL_DIR, else the default, relative to the repository."""
    directory = Path(os.environ.get("COPBOT_MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR)
    return directory if directory.is_absolute() else REPO / directory


class CachedEncoder:
    """A sentence encoder with every vector kept."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self._inner = inner
        self._known: dict[str, FloatArray] = {}

    def encode(self, texts: Sequence[str]) -> FloatArray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        if missing:
            self._known.update(zip(missing, self._inner.encode(missing), strict=True))
        return np.stack([self._known[t] for t in texts]) if texts else self._inner.encode(texts)


@functools.cache
def shipped_encoder() -> CachedEncoder:
    """The encoder with the shipped adapter (raises :class:`~bot.answers.encoder.EncoderUnavailable` without the
    model: ``make model``)."""
    return CachedEncoder(SentenceEncoder.load(model_dir()))


@functools.cache
def _with_adapter(adapter: Path) -> CachedEncoder:
    return CachedEncoder(SentenceEncoder.load(model_dir(), adapter=adapter))


def encoder_without(split: str) -> CachedEncoder:
    """The encoder with the adapter of the fold that never trained on ``split`` (so the split's questions are as
    new to the encoder as to the index built without them)."""
    folds = adapter_folds()
    if split in NEWER_THAN_ADAPTER and split not in folds:
        return shipped_encoder()  # the shipped adapter was trained before the split was written
    if split not in folds:
        raise NoFoldAdapter(f"no adapter in tools/answers/adapter_folds was trained without {split} (make retrain)")
    return _with_adapter(folds[split])


def index_without(split: str, calibration: Calibration = DEFAULT_CALIBRATION) -> FaqIndex:
    """The production index of the programme FAQ, built without ``split``'s examples and with the encoder whose
    adapter never trained on them, so that split is ranked as if its questions had never been seen."""
    _, entries = load_programme_faq()
    return FaqIndex.build(entries, calibration, encoder_without(split), load_examples(without_split=split))
