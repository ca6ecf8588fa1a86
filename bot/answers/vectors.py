"""Remembers sentence vectors so that rebuilding an index after one FAQ edit encodes only the new text, and a
question asked against several CoPs' indexes is encoded once.

Texts the inner encoder answers from memory anyway (``remembers``, e.g. the prebuilt programme vectors of
:class:`bot.answers.prebuilt.PrebuiltEncoder`) are not copied here: ~3,500 of them would be ~5 MB twice."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from bot.answers.ranker import Encoder, FloatArray

DEFAULT_CAPACITY = 4096  # 384 float32 each: about 6 MB when full


class CachingEncoder:
    """An :class:`Encoder` that keeps the most recently used ``capacity`` vectors. Thread-safe (indexes are built
    and questions encoded in worker threads)."""

    def __init__(self, inner: Encoder, capacity: int = DEFAULT_CAPACITY) -> None:
        self._inner = inner
        remembers: Callable[[str], bool] | None = getattr(inner, "remembers", None)
        self._remembered = remembers if remembers is not None else _nothing
        self._capacity = capacity
        self._vectors: OrderedDict[str, FloatArray] = OrderedDict()
        self._lock = threading.Lock()
        self.encoded = 0  # texts actually passed to the inner encoder (for tests and logs)

    def encode(self, texts: Sequence[str]) -> FloatArray:
        found: dict[str, FloatArray] = {}
        with self._lock:
            for text in texts:
                vector = self._vectors.get(text)
                if vector is not None:
                    self._vectors.move_to_end(text)
                    found[text] = vector
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        fresh: FloatArray | None = None
        if missing:
            fresh = self._inner.encode(missing)
            with self._lock:
                self.encoded += len(missing)
                for text, vector in zip(missing, fresh, strict=True):
                    found[text] = vector
                    if not self._remembered(text):
                        # a copy: a row of the batch would keep the whole batch alive while it is cached
                        self._vectors[text] = vector.copy()
                        self._vectors.move_to_end(text)
                while len(self._vectors) > self._capacity:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        if fresh is not None and len(missing) == len(texts):  # none cached nor repeated: the inner batch, not a copy
            return np.asarray(fresh, dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)


def _nothing(_: str) -> bool:
    return False
