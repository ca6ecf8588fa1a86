"""Drive a bot with activities: sequentially and with N concurrent clients, recording latencies."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

MakeActivity = Callable[[int], dict[str, Any]]
WARMUP = 20  # untimed activities before each timed run


@dataclass
class Run:
    latencies_ms: list[float]
    wall_s: float
    errors: int

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

    @property
    def rps(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0


async def _one(http: aiohttp.ClientSession, url: str, activity: dict[str, Any]) -> tuple[float, bool]:
    started = time.perf_counter()
    async with http.post(url, json=activity) as response:
        await response.read()
        ok = response.status < 300
    return (time.perf_counter() - started) * 1000, ok


async def drive(
    url: str | Sequence[str], make: MakeActivity, *, total: int, concurrency: int, warmup: int = WARMUP
) -> Run:
    """``url``: one bot, or several taken in turn, activity by activity (a round-robin load balancer's way)."""
    urls = [url] if isinstance(url, str) else list(url)
    connector = aiohttp.TCPConnector(limit=concurrency + 5)
    async with aiohttp.ClientSession(connector=connector) as http:
        for i in range(warmup):
            await _one(http, urls[i % len(urls)], make(-1 - i))
        counter = iter(range(total))
        latencies: list[float] = []
        errors = 0

        async def client() -> None:
            nonlocal errors
            for i in counter:
                ms, ok = await _one(http, urls[i % len(urls)], make(i))
                latencies.append(ms)
                errors += 0 if ok else 1

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return Run(latencies, time.perf_counter() - started, errors)
