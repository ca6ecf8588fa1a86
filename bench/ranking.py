"""The FAQ ranker's own speed: build an index of synthetic entries and time :meth:`FaqIndex.answer` (BM25 alone,
no sentence encoder), in one thread. ``python -m bench`` reports it as ``ranking_2000_entries``; the ranker's
tests call it with fewer questions as a guard against gross slowness."""

from __future__ import annotations

import random
import statistics
import time

from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry, load_programme_faq
from bot.answers.ranker import FaqIndex


def _synthetic_entries(n_entries: int, rng: random.Random) -> list[FaqEntry]:
    """``n_entries`` FAQ entries shaped like real ones: programme entries rephrased with extra vocabulary."""
    _, base = load_programme_faq()
    syllables = ["ka", "lo", "mi", "ner", "sto", "va", "pri", "den", "qua", "rul", "te", "bo", "sin", "gar"]
    extra = ["".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(3000)]
    out: list[FaqEntry] = []
    for i in range(n_entries):
        src = base[i % len(base)]
        words = rng.sample(extra, 6)
        out.append(
            FaqEntry(
                entry_id=f"{src.entry_id}-{i}",
                question=f"{src.question} {' '.join(words[:2])}",
                answer=f"{src.answer} {' '.join(words[2:])}",
                alternatives=tuple(f"{a} {words[j % 6]}" for j, a in enumerate(src.alternatives)),
                tags=src.tags,
                scope=PROGRAMME_SCOPE if i % 3 else f"cop-{i % 22}",
                source="bench",
            )
        )
    return out


def bench_ranking(n_entries: int = 2000, n_queries: int = 500, seed: int = 7) -> dict[str, float]:
    """Build an index of ``n_entries`` synthetic entries and time ``n_queries`` calls of :meth:`FaqIndex.answer`.

    Returns ``build_ms``, ``p50_ms``, ``p99_ms`` and ``max_ms`` (wall clock, one thread).
    """
    rng = random.Random(seed)
    entries = _synthetic_entries(n_entries, rng)
    started = time.perf_counter()
    index = FaqIndex.build(entries)
    build_ms = (time.perf_counter() - started) * 1000
    queries: list[str] = []
    for _ in range(n_queries):
        entry = rng.choice(entries)
        words = rng.choice(entry.phrasings).split()
        kept = [w for w in words if rng.random() > 0.3] or words
        queries.append(" ".join([*kept, rng.choice(["please", "thanks", "wifi", "deadline", "comunity"])]))
    timings: list[float] = []
    for query in queries:
        started = time.perf_counter()
        index.answer(query)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "entries": float(n_entries),
        "queries": float(n_queries),
        "build_ms": round(build_ms, 3),
        "p50_ms": round(cuts[49], 4),
        "p99_ms": round(cuts[98], 4),
        "max_ms": round(timings[-1], 4),
    }
