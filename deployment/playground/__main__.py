"""`python -m deployment.playground` (what `make playground` runs): the bot and the Microsoft 365 Agents Playground
on 127.0.0.1, until Ctrl-C. See deployment/playground/README.md for what to click."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from deployment.playground import (
    DEFAULT_BOT_PORT,
    DEFAULT_DATA_DIR,
    DEFAULT_PORT,
    Options,
    PlaygroundError,
    load_tenant,
    start,
)

BANNER = """
CoP Bot is running behind the Microsoft 365 Agents Playground (offline, on this machine only).

  Open  {url}  in a browser.

  1. Click "General" under "Data and Insight": the bot registers the team as a CoP and posts its setup card.
  2. In General, type @ and pick "CoP Bot" from the menu, add " join", press Post, then click "Join as core".
     (Channel messages reach the bot only when they @mention it this way.)
  3. In "Personal Chat" type "me", then a question such as "can I be a core member of two communities?".

  You are {user}, a programme admin here. More in deployment/playground/README.md.
  Bot data: {data}
  Logs: {logs}
  Press Ctrl-C to stop both.
"""


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployment.playground", description=__doc__)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the Playground's port (default %(default)s)")
    parser.add_argument("--bot-port", type=int, default=DEFAULT_BOT_PORT, help="the bot's port (default %(default)s)")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="where the bot's SQLite file goes")
    parser.add_argument("--fresh", action="store_true", help="start from an empty store (forget earlier clicks)")
    parser.add_argument("--verbose", action="store_true", help="show the bot's log here instead of in bot.log")
    args = parser.parse_args(argv)
    options = Options(
        port=args.port,
        bot_port=args.bot_port,
        data_dir=args.data_dir.resolve(),
        fresh=args.fresh,
        bot_output="inherit" if args.verbose else "file",
    )
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored (`cmd &`)
    try:
        running = start(options)  # stops what it started if it fails or is interrupted
    except PlaygroundError as error:
        sys.stderr.write(f"playground: {error}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("playground: interrupted while starting; nothing is left running\n")
        return 130
    try:
        user = load_tenant(options.tenant).get("currentUser", {}).get("name", "the current user")
        logs = ", ".join(str(p) for p in (running.bot_log, running.playground_log) if p is not None)
        sys.stdout.write(BANNER.format(url=options.url, user=user, data=options.data_dir, logs=logs))
        sys.stdout.flush()
        while (problem := running.exited()) is None:
            time.sleep(0.5)
        sys.stderr.write(f"playground: {problem}\n")
        return 1
    except KeyboardInterrupt:
        sys.stdout.write("\nStopping the Playground and the bot…\n")
        return 0
    finally:
        running.stop()


if __name__ == "__main__":
    sys.exit(main())
