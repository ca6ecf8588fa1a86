"""Teams' limits on proactive sends, kept per process: the tenant-wide request rate (a token bucket) and the
spacing and hourly cap per conversation (a pacer), plus the outbox's delivery policy (rates, concurrency,
backoff). Teams allows ~50 requests/s per app per tenant and, per thread, 7 per 3 s, 60 per 30 s and 1,800 per
hour; a personal message costs two requests (creating the 1:1 chat, then posting)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.core.config import Settings

THREAD_HOUR_LIMIT = 1800


@dataclass(frozen=True)
class DeliveryPolicy:
    rate_per_s: float = 50.0
    burst: float = 0.0  # bucket size; 0 = one second's worth
    conversation_gap_s: float = 1.0
    concurrency: int = 16
    page_size: int = 100
    max_pacing_wait_s: float = 5.0  # a busier conversation's items wait for the next flush instead
    lease: timedelta = timedelta(minutes=2)
    max_failures: int = 10
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 900.0
    recovery_every: timedelta = timedelta(minutes=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryPolicy:
        return cls(
            rate_per_s=settings.outbox_rate_per_s,
            conversation_gap_s=settings.outbox_conversation_gap_s,
            concurrency=settings.outbox_concurrency,
        )


class TokenBucket:
    """The global request rate of this process; waiters are served in order."""

    def __init__(self, rate: float, capacity: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._rate = rate
        self._capacity = max(1.0, capacity)
        self._tokens = self._capacity
        self._monotonic = monotonic
        self._stamp = monotonic()
        self._lock = asyncio.Lock()

    async def take(self, n: float = 1.0) -> None:
        async with self._lock:
            while True:
                now = self._monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._stamp) * self._rate)
                self._stamp = now
                if self._tokens >= n:
                    self._tokens -= n
                    return
                await asyncio.sleep((n - self._tokens) / self._rate)


class ConversationPacer:
    """Spacing between sends to one conversation (a reservation per send) and an hourly cap per thread."""

    def __init__(self, gap_s: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._gap = gap_s
        self._monotonic = monotonic
        self._next: dict[str, float] = {}
        self._hour: dict[str, tuple[float, int]] = {}
        self._started: dict[str, float] = {}

    def reserve(self, target: str, max_wait: float) -> float | None:
        """Seconds to wait before sending to ``target`` (the slot is booked), or None if that is too long."""
        now = self._monotonic()
        if len(self._next) > 10_000:
            self._prune(now)
        slot = max(now, self._next.get(target, 0.0))
        start, count = self._hour.get(target, (slot, 0))
        if slot - start >= 3600:
            start, count = slot, 0
        if count >= THREAD_HOUR_LIMIT:
            slot, start, count = start + 3600, start + 3600, 0
        if slot - now > max_wait:
            return None
        self._next[target] = slot + self._gap
        self._hour[target] = (start, count + 1)
        return slot - now

    async def settle(self, target: str) -> None:
        """Just before the request: make the gap hold between actual sends too, whatever storage latency
        did to the booked slots."""
        wait = self._started.get(target, float("-inf")) + self._gap - self._monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._started[target] = self._monotonic()

    def hold(self, target: str, seconds: float) -> None:
        """Nothing more to ``target`` for ``seconds`` (after a 429 with Retry-After)."""
        self._next[target] = max(self._next.get(target, 0.0), self._monotonic() + seconds)

    def _prune(self, now: float) -> None:
        for target in [t for t, at in self._next.items() if at < now]:
            del self._next[target]
            self._started.pop(target, None)
            start, _ = self._hour.get(target, (now, 0))
            if now - start >= 3600:
                self._hour.pop(target, None)
