"""The sentence model for tests: the one ``make model`` fetched, loaded once per test session.

A missing model fails the tests that need it with the ``make model`` hint; ``COPBOT_ALLOW_NO_MODEL=1`` turns that
into a skip (for a quick run without the 83 MB download; CI never sets it). The encoders with the fold adapters
and the calibration's held-out indexes are :mod:`tools.answers.measure`'s, shared with ``make refit``."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import numpy as np
import pytest

from bot.answers.encoder import EncoderUnavailable, SentenceEncoder
from bot.answers.ranker import FloatArray
from tools.answers import measure
from tools.answers.measure import REPO, CachedEncoder, NoFoldAdapter, model_dir

__all__ = ["REPO", "HistogramEncoder", "cached_encoder_for_tests", "encoder_for_tests", "encoder_without", "model_dir"]


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


def cached_encoder_for_tests() -> CachedEncoder:
    """:func:`encoder_for_tests` remembering what it encoded (one per test session)."""
    encoder_for_tests()  # fails or skips as that does when there is no model
    return measure.shipped_encoder()


def encoder_without(split: str) -> CachedEncoder:
    """:func:`tools.answers.measure.encoder_without`, failing or skipping as :func:`encoder_for_tests` does."""
    encoder_for_tests()
    try:
        return measure.encoder_without(split)
    except NoFoldAdapter as error:
        pytest.fail(str(error))


class HistogramEncoder:
    """Unit vectors from a character histogram: cheap, and similar texts are close."""

    def encode(self, texts: Sequence[str]) -> FloatArray:
        rows = np.zeros((len(texts), 32), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                rows[row, ord(char) % 32] += 1.0
            rows[row] /= max(float(np.linalg.norm(rows[row])), 1e-6)
        return rows
