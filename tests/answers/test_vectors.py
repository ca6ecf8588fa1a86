"""The vector cache in front of the sentence encoder: what it re-encodes and what it remembers."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from bot.answers.ranker import FloatArray
from bot.answers.vectors import CachingEncoder


class CountingEncoder:
    """Deterministic unit vectors derived from the text; records every batch it is asked to encode."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def encode(self, texts: Sequence[str]) -> FloatArray:
        self.batches.append(list(texts))
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")
            vector = np.random.default_rng(seed).normal(size=8)
            rows.append(vector / np.linalg.norm(vector))
        return np.asarray(rows, dtype=np.float32)


def test_only_new_texts_are_encoded_and_order_is_kept() -> None:
    inner = CountingEncoder()
    cache = CachingEncoder(inner)
    first = cache.encode(["a", "b", "a"])
    assert inner.batches == [["a", "b"]]
    assert np.array_equal(first[0], first[2])
    second = cache.encode(["b", "c", "a"])
    assert inner.batches[-1] == ["c"]
    assert np.array_equal(second[0], first[1])
    assert np.array_equal(second[2], first[0])
    assert cache.encoded == 3


def test_capacity_evicts_the_least_recently_used() -> None:
    inner = CountingEncoder()
    cache = CachingEncoder(inner, capacity=2)
    cache.encode(["a", "b"])
    cache.encode(["a"])  # "a" is now the most recent
    cache.encode(["c"])  # evicts "b"
    cache.encode(["a", "b"])
    assert inner.batches[-1] == ["b"]


def test_empty_batch() -> None:
    assert CachingEncoder(CountingEncoder()).encode([]).shape[0] == 0


class RememberingEncoder(CountingEncoder):
    """Answers some texts from memory of its own, like the prebuilt programme vectors."""

    def remembers(self, text: str) -> bool:
        return text.startswith("faq:")


def test_texts_the_inner_encoder_remembers_are_not_copied_here() -> None:
    inner = RememberingEncoder()
    cache = CachingEncoder(inner)
    first = cache.encode(["faq: how do I join?", "a question"])
    again = cache.encode(["faq: how do I join?", "a question"])
    assert inner.batches == [["faq: how do I join?", "a question"], ["faq: how do I join?"]]  # asked of the inner
    assert np.array_equal(first, again)
    cached = cache.encode(["a question"])
    assert len(inner.batches) == 2  # the question was kept here
    assert cached.shape == (1, 8)


def test_a_cached_vector_does_not_keep_its_batch_alive() -> None:
    cache = CachingEncoder(CountingEncoder())
    cache.encode([f"text {n}" for n in range(100)])
    kept = cache._vectors["text 7"]
    assert kept.base is None  # its own copy, not a view of the 100-row batch


def test_a_batch_of_new_texts_is_the_callers_own_and_the_cache_keeps_copies() -> None:
    """An index whitens what it is given in place: that must not reach the cached vectors."""
    inner = CountingEncoder()
    cache = CachingEncoder(inner)
    first = cache.encode(["a", "b"])
    expected = first.copy()
    first *= 0.0
    again = cache.encode(["b", "a"])
    assert inner.batches == [["a", "b"]]
    assert np.array_equal(again, expected[::-1])
