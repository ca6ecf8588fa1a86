"""The FAQ sentence encoder's memory, one ONNX Runtime setting (or batch size, or allocator setting) at a time.

    python -m bench.encoder_memory                 # every variant, each in a fresh process
    python -m bench.encoder_memory shipped no_arena  # only these

Each variant runs in its own child process, so RSS and its high-water mark are that variant's alone. The child
loads the encoder as the bot does (the int8 graph of ``make model``) with the variant's ONNX Runtime options, then, on
one worker thread as the bot encodes: 300 questions one at a time, 300 in batches of 32 (what the question batcher
sends under load), and 600 FAQ-like texts in one call (an index build's phrasings). It prints RSS after start,
after the load, its peak (VmHWM) and after the work, the median time of a lone question and of a question in a
batch of 32, and the largest difference of any vector component from the shipped options' vectors (the FAQ's
answers must not change: the shipped programme vectors allow 1e-4). Timings move with whatever else runs on the
machine: compare variants of the same run.
"""

from __future__ import annotations

import ctypes
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench.processes import ROOT

Tune = Callable[[Any], None]


def _rss_kb(field: str = "VmRSS") -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _config(key: str, value: str) -> Tune:
    return lambda options: options.add_session_config_entry(key, value)


def _attr(name: str, value: Any) -> Tune:
    return lambda options: setattr(options, name, value)


def _level(name: str) -> Tune:
    def tune(options: Any) -> None:
        import onnxruntime

        options.graph_optimization_level = getattr(onnxruntime.GraphOptimizationLevel, name)

    return tune


def _parallel(options: Any) -> None:
    import onnxruntime

    options.execution_mode = onnxruntime.ExecutionMode.ORT_PARALLEL
    options.inter_op_num_threads = 2


def _shared_arena(options: Any) -> None:
    """The process-wide CPU arena, growing by exactly what is asked (kSameAsRequested) instead of doubling."""
    import onnxruntime

    info = onnxruntime.OrtMemoryInfo(
        "Cpu", onnxruntime.OrtAllocatorType.ORT_ARENA_ALLOCATOR, 0, onnxruntime.OrtMemType.DEFAULT
    )
    onnxruntime.create_and_register_allocator(info, onnxruntime.OrtArenaCfg(0, 1, -1, -1))
    options.add_session_config_entry("session.use_env_allocators", "1")


# name -> (what it changes, ONNX Runtime option tunings, environment for the child, keyword settings of the run)
VARIANTS: dict[str, tuple[str, list[Tune], dict[str, str], dict[str, Any]]] = {
    "shipped": ("the options the bot ships with", [], {}, {}),
    "no_arena": ("enable_cpu_mem_arena = False", [_attr("enable_cpu_mem_arena", False)], {}, {}),
    "mem_pattern": ("enable_mem_pattern = True", [_attr("enable_mem_pattern", True)], {}, {}),
    "no_mem_reuse": ("enable_mem_reuse = False", [_attr("enable_mem_reuse", False)], {}, {}),
    "arena_same_as_requested": ("env arena, extend strategy kSameAsRequested", [_shared_arena], {}, {}),
    "threads_1": ("intra_op_num_threads = 1", [], {}, {"threads": 1}),
    "parallel": ("execution_mode ORT_PARALLEL, inter_op 2", [_parallel], {}, {}),
    "opt_basic": ("graph_optimization_level BASIC", [_level("ORT_ENABLE_BASIC")], {}, {}),
    "opt_extended": ("graph_optimization_level EXTENDED", [_level("ORT_ENABLE_EXTENDED")], {}, {}),
    "opt_none": ("graph_optimization_level DISABLE_ALL", [_level("ORT_DISABLE_ALL")], {}, {}),
    "no_prepacking": ("session.disable_prepacking = 1", [_config("session.disable_prepacking", "1")], {}, {}),
    "initializers_outside_arena": (
        "session.use_device_allocator_for_initializers = 1",
        [_config("session.use_device_allocator_for_initializers", "1")],
        {},
        {},
    ),
    "batch_tokens_512": ("encoder BATCH_TOKENS 512 (shipped 256)", [], {}, {"batch_tokens": 512}),
    "batch_tokens_1024": ("encoder BATCH_TOKENS 1024", [], {}, {"batch_tokens": 1024}),
    "question_batch_8": ("question batches of 8 (shipped 32)", [], {}, {"question_batch": 8}),
    "malloc_arena_max_2": ("MALLOC_ARENA_MAX=2 (glibc)", [], {"MALLOC_ARENA_MAX": "2"}, {}),
    "malloc_trim": ("malloc_trim(0) after the work", [], {}, {"trim": True}),
}


def _texts() -> tuple[list[str], list[str]]:
    """Questions like mixed_load's (every one new text), and FAQ-like texts: the programme FAQ's phrasings."""
    from bot.answers.faq import load_programme_faq

    questions = [f"is room {i} in the east wing bookable on saturdays?" for i in range(600)]
    _, entries = load_programme_faq()
    phrasings = [text for entry in entries for text in (entry.question, *entry.alternatives, entry.answer)]
    return questions, phrasings[:600]


def child(name: str, reference: Path) -> dict[str, Any]:
    import bot.answers.encoder as encoder_module
    from bot.answers.encoder import SentenceEncoder

    _, tunes, _, settings = VARIANTS[name]
    if "batch_tokens" in settings:
        encoder_module.BATCH_TOKENS = settings["batch_tokens"]
    shipped = encoder_module.ort_options

    def options(threads: int) -> Any:
        made = shipped(threads)
        for tune in tunes:
            tune(made)
        return made

    encoder_module.ort_options = options  # type: ignore[assignment]
    questions, phrasings = _texts()
    model_dir = Path(os.environ.get("COPBOT_MODEL_DIR", "var/models/all-MiniLM-L6-v2"))
    started_kb = _rss_kb()
    worker = ThreadPoolExecutor(max_workers=1)  # as the bot: one encoder thread
    encoder = worker.submit(SentenceEncoder.load, model_dir, threads=settings.get("threads")).result()
    worker.submit(encoder.encode, ["warm up"]).result()
    loaded_kb = _rss_kb()

    def one(text: str) -> float:
        begun = time.perf_counter()
        encoder.encode([text])
        return (time.perf_counter() - begun) * 1000

    alone = [worker.submit(one, text).result() for text in questions[:300]]
    size = settings.get("question_batch", 32)
    batched: list[float] = []
    for start in range(300, 600, size):
        chunk = questions[start : start + size]
        batched.append(worker.submit(one_batch, encoder, chunk).result() / len(chunk))
    vectors = worker.submit(encoder.encode, phrasings).result()
    if settings.get("trim"):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    result = {
        "variant": name,
        "what": VARIANTS[name][0],
        "rss_start_mb": round(started_kb / 1024, 1),
        "rss_loaded_mb": round(loaded_kb / 1024, 1),
        "rss_peak_mb": round(_rss_kb("VmHWM") / 1024, 1),
        "rss_after_mb": round(_rss_kb() / 1024, 1),
        "alone_ms": round(statistics.median(alone), 2),
        "batched_ms": round(statistics.median(batched), 2),
    }
    if reference.is_file():
        result["max_diff"] = float(np.max(np.abs(np.load(reference) - vectors)))
    else:
        np.save(reference, vectors)
        result["max_diff"] = 0.0
    return result


def one_batch(encoder: Any, texts: list[str]) -> float:
    begun = time.perf_counter()
    encoder.encode(texts)
    return (time.perf_counter() - begun) * 1000


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        print(json.dumps(child(argv[1], Path(argv[2]))))
        return
    names = argv or list(VARIANTS)
    if "shipped" not in names:
        names = ["shipped", *names]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        reference = Path(tmp) / "shipped.npy"
        for name in ["shipped", *[n for n in names if n != "shipped"]]:
            env = {**os.environ, **VARIANTS[name][2]}
            out = subprocess.run(
                [sys.executable, "-m", "bench.encoder_memory", "--child", name, str(reference)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                print(f"{name}: failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            row = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"{name:<28} start {row['rss_start_mb']:>6} MB  loaded {row['rss_loaded_mb']:>6} MB  "
                f"peak {row['rss_peak_mb']:>6} MB  after {row['rss_after_mb']:>6} MB  "
                f"alone {row['alone_ms']:>5} ms  batched {row['batched_ms']:>5} ms  diff {row['max_diff']:.1e}",
                flush=True,
            )
    print(json.dumps(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
