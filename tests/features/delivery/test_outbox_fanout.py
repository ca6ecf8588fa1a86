"""The bench's digest fan-out at a small scale, for correctness only (speed is measured by `make bench`): the
real scheduler, sender loop, SDK seam and fake connector answering 10 % of sends with 429 + Retry-After."""

from __future__ import annotations

from bench.digest_fanout import run


async def test_fanout_delivers_every_digest_exactly_once_through_a_429_storm() -> None:
    result = await run(cops=60, rate=200.0, throttled=0.2, seed=3)
    assert result["queued"] == 60
    assert result["answered_429"] > 0
    assert result["delivered"] == 60
    assert result["duplicates"] == 0
    assert result["missing"] == 0
