"""The sentence model for tests: the one ``make model`` fetched, loaded once per test session.

A missing model fails the tests that need it with the ``make model`` hint; ``COPBOT_ALLOW_NO_MODEL=1`` turns that
into a skip (for a quick run without the 83 MB download; CI never sets it)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bot.answers.adapter import Adapter
from bot.answers.encoder import EncoderUnavailable, SentenceEncoder
from bot.answers.ranker import FloatArray
from bot.core.config import DEFAULT_MODEL_DIR
from tests.answers.splits import NEWER_THAN_ADAPTER

REPO = Path(__file__).resolve().parents[2]
# Encoder adapters each trained without some splits (tests/answers/finetune.py), for measuring a split as unseen.
ADAPTER_FOLDS = Path(__file__).with_name("adapter_folds")


def model_dir() -> Path:
    """Where ``make model`` puts the model: COPBOT_MODEL_DIR, else the default, relative to the repository."""
    directory = Path(os.environ.get("COPBOT_MODEL_DIR", "").strip() or DEFAULT_MODEL_DIR)
    return directory if directory.is_absolute() else REPO / directory


@functools.cache
def _load() -> SentenceEncoder:
    return SentenceEncoder.load(model_dir())


def encoder_for_tests() -> SentenceEncoder:
    """The shared encoder; fails (or skips, with COPBOT_ALLOW_NO_MODEL=1) when the model was not fetched."""
    try:
        return _load()
    except EncoderUnavailable as error:
        if os.environ.get("COPBOT_ALLOW_NO_MODEL") == "1":
            pytest.skip(f"COPBOT_ALLOW_NO_MODEL=1 and {error}")
        pytest.fail(f"{error} (or set COPBOT_ALLOW_NO_MODEL=1 to skip the tests that need the model)")


class _Cached:
    """The test encoder with every vector kept: the calibration builds one index per split over the same texts."""

    def __init__(self, inner: SentenceEncoder) -> None:
        self._inner = inner
        self._known: dict[str, FloatArray] = {}

    def encode(self, texts: Sequence[str]) -> FloatArray:
        missing = [t for t in dict.fromkeys(texts) if t not in self._known]
        if missing:
            self._known.update(zip(missing, self._inner.encode(missing), strict=True))
        return np.stack([self._known[t] for t in texts]) if texts else self._inner.encode(texts)


@functools.cache
def _cached() -> _Cached:
    return _Cached(encoder_for_tests())


def cached_encoder_for_tests() -> _Cached:
    """:func:`encoder_for_tests` remembering what it encoded (one per test session)."""
    encoder_for_tests()  # fails or skips as that does when there is no model
    return _cached()


@functools.cache
def adapter_folds() -> dict[str, Path]:
    """Split -> the fold adapter that was trained without it (from each file's recorded settings)."""
    folds: dict[str, Path] = {}
    for path in sorted(ADAPTER_FOLDS.glob("*.npz")):
        without = Adapter.load(path).settings.get("without", [])
        assert isinstance(without, list)
        for split in without:
            assert split not in folds, f"{split} is left out of both {folds[split].name} and {path.name}"
            folds[str(split)] = path
    return folds


@functools.cache
def _cached_with(adapter: Path) -> _Cached:
    return _Cached(SentenceEncoder.load(model_dir(), adapter=adapter))


def encoder_without(split: str) -> _Cached:
    """The test encoder with the adapter of the fold that never trained on ``split`` (so the split's questions
    are as new to the encoder as to the index built without them); remembers what it encoded."""
    encoder_for_tests()  # fails or skips as that does when there is no model
    folds = adapter_folds()
    if split in NEWER_THAN_ADAPTER and split not in folds:
        return _cached()  # the shipped adapter was trained before the split was written
    if split not in folds:
        pytest.fail(f"no adapter in {ADAPTER_FOLDS} was trained without {split} (see tests/answers/finetune.py)")
    return _cached_with(folds[split])


class HistogramEncoder:
    """Unit vectors from a character histogram: cheap, and similar texts are close."""

    def encode(self, texts: Sequence[str]) -> FloatArray:
        rows = np.zeros((len(texts), 32), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                rows[row, ord(char) % 32] += 1.0
            rows[row] /= max(float(np.linalg.norm(rows[row])), 1e-6)
        return rows
