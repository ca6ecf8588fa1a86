"""Short-lived per-process copies of things read from storage, for reads that may be a few seconds stale.

Each value is kept ``ttl_s`` seconds of ``clock`` (monotonic time, not the domain clock: this is about staleness,
not about what day it is); ``ttl_s`` 0 keeps nothing. Whoever writes the underlying data on this instance calls
``forget`` (or ``clear``), so the change counts here at once; the generation counter makes sure a read that started
before such a write and finished after it cannot put the old value back (pass the ``generation`` seen when the
read started to ``put``). Used for CoP rows (``bot.domain.cops.CopCache``) and FAQ index checks
(``bot.domain.faq_indexes.FaqIndexes``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class ExpiringCopies(Generic[V]):
    ttl_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    limit: int = 1000
    _rows: dict[str, tuple[float, V]] = field(default_factory=dict, repr=False)
    _generation: int = 0

    @property
    def generation(self) -> int:
        return self._generation

    def get(self, key: str) -> V | None:
        found = self._rows.get(key)
        if found is None:
            return None
        if self.clock() >= found[0]:
            del self._rows[key]
            return None
        return found[1]

    def put(self, key: str, value: V, generation: int) -> None:
        """Keep ``value`` as read when the copies were at ``generation``; ignored if a write happened since."""
        if self.ttl_s <= 0 or generation != self._generation:
            return
        if key not in self._rows and len(self._rows) >= self.limit:
            self._rows.pop(next(iter(self._rows)))
        self._rows[key] = (self.clock() + self.ttl_s, value)

    def forget(self, key: str) -> None:
        self._generation += 1
        self._rows.pop(key, None)

    def clear(self) -> None:
        self._generation += 1
        self._rows.clear()
