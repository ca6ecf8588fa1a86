"""Where CoP Bot's CPU goes under a bench scenario: py-spy samples the bot process's Python stacks while the load runs.

    python -m bench.profile                  # mixed_load (200 users on Azurite)
    python -m bench.profile mixed_load 100   # at another concurrency
    python -m bench.profile health 1 3000    # and another number of activities (more samples)

Starts Azurite and a CoP Bot process as the bench does (no echo bots), seeds and sets up the scenario, then drives its
timed activities while ``py-spy record --nonblocking`` samples the bot (100 samples/s, threads that are not idle).
Prints the functions that hold the most samples, on their own (self) and with what they call (inclusive), and writes
the collapsed stacks to var/profile-SCENARIO.txt (for flamegraph.pl or speedscope). Needs py-spy (a dev dependency)
and the right to trace the bot (root, or kernel.yama.ptrace_scope 0).
"""

from __future__ import annotations

import asyncio
import collections
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from bench.load import drive
from bench.processes import ROOT, start_copbot
from bench.scenarios import SCENARIOS
from tests.kit.activities import Activities
from tests.kit.azurite import Azurite
from tests.kit.connector import FakeConnector

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^:()]*)(?::\d+)?\)$")


def _where(frame: str) -> str:
    """``function (path/to/file.py)`` without the line, the path from site-packages or the repository."""
    match = FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["file"]
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['function']} ({path})"


def summarise(collapsed: str, top: int = 25) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """Samples in all; the ``top`` functions by samples on their own, and by samples with what they call."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_where(frame) for frame in stack.split(";") if frame]
        if frames and frames[0].startswith("thread ("):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    return total, own.most_common(top), inclusive.most_common(top)


async def profile(name: str, concurrency: int | None, total: int | None = None) -> str:
    scenario = next(s for s in SCENARIOS if s.name == name)
    users = concurrency or scenario.concurrency[-1]
    connector = FakeConnector()
    await connector.start()
    acts = Activities(connector.url)
    out = ROOT / "var" / f"profile-{name}.txt"
    out.parent.mkdir(exist_ok=True)
    with Azurite() as azurite, tempfile.TemporaryDirectory() as tmp:
        env = {"COPBOT_STORAGE": "azure", "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
        if scenario.storage != "azurite":
            env = {}
        bot = await start_copbot(Path(tmp), env)
        try:
            if scenario.seed is not None:
                from bench.__main__ import seed

                await seed(scenario, Path(tmp), azurite, acts)
            async with aiohttp.ClientSession() as http:
                if scenario.setup is not None:
                    await scenario.setup(bot.url, acts, http)
            spy = subprocess.Popen(  # noqa: ASYNC220 - started before the timed part, stopped after it
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(bot.proc.pid),
                    "--rate",
                    "100",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            await asyncio.sleep(1.0)  # py-spy attaches
            run = await drive(bot.url, scenario.make(acts), total=total or scenario.total, concurrency=users)
            spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
            _, error = spy.communicate(timeout=60)
            if spy.returncode not in (0, -2) and not out.is_file():
                raise RuntimeError(f"py-spy failed: {error.decode(errors='replace').strip()}")
        finally:
            bot.stop()
            await connector.close()
    total, own, inclusive = summarise(out.read_text())
    lines = [
        f"{name}@{users}: {run.rps:.1f} rps, p50 {run.p50:.0f} ms, p99 {run.p99:.0f} ms, {run.errors} errors; "
        f"{total} samples of the bot's busy threads at 100/s (collapsed stacks: {out.relative_to(ROOT)})",
        "",
        "self (the function itself):",
        *(f"  {count / total:6.1%}  {where}" for where, count in own),
        "",
        "inclusive (with what it calls):",
        *(f"  {count / total:6.1%}  {where}" for where, count in inclusive),
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    name = argv[0] if argv else "mixed_load"
    concurrency = int(argv[1]) if len(argv) > 1 else None
    total = int(argv[2]) if len(argv) > 2 else None
    print(asyncio.run(profile(name, concurrency, total)))


if __name__ == "__main__":
    main(sys.argv[1:])
