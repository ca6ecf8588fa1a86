"""Recount every CoP's health figures and compare them with the stored indicator snapshots (bot/health/rebuild.py).

    python -m tools.rebuild_health            # compare, report, and store fresh snapshots
    python -m tools.rebuild_health --check    # compare and report only (writes nothing)

Uses the bot's own settings (the environment, as ``python -m bot``: storage and signing key). Prints one line per
CoP (its snapshot current, stale, missing or unusable now, and every figure that differs from the recount) and a
total; exits with status 1 when any figure differs. Safe while the bot runs: a snapshot is only replaced under the
ETag read with its token, and a write meanwhile makes it stale, as any refresh.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

from bot.app import open_store
from bot.core.config import Settings
from bot.health.rebuild import describe, rebuild


async def run(write: bool) -> int:
    settings = Settings.from_env()
    store = open_store(settings)
    try:
        checks = await rebuild(store, settings, datetime.now(UTC), write=write)
    finally:
        await store.close()
    for line in describe(checks):
        print(line)
    return 1 if any(c.differences for c in checks) else 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.rebuild_health", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare and report only; store nothing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    sys.exit(asyncio.run(run(write=not args.check)))


if __name__ == "__main__":
    main()
