"""Work a turn starts and does not wait for: applying an import, queueing an invitation run, making a Teams
meeting, counting a button press.

One registry per app (``services.background``) keeps each task until it ends, so none is collected half-way; logs
a failure once with the work's name (nobody else would see it); and lets a clean shutdown, and tests, wait for
what is under way. Task names carry ``BACKGROUND_TASK_PREFIX``, so the bench's storage round-trip count keeps
this work apart from the turn's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

# Names of the tasks a turn leaves running start with this, so a trace (or the bench's round-trip count,
# bench/counting.py) can tell their work apart from the turn's own.
BACKGROUND_TASK_PREFIX = "background:"


class Background:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, name: str, work: Coroutine[Any, Any, object]) -> None:
        """Run ``work`` off the turn; ``name`` says what it is in the log (no personal data)."""

        async def guarded() -> None:
            try:
                await work
            except Exception:
                log.exception("background work stopped name=%s", name)

        task = asyncio.get_running_loop().create_task(guarded(), name=f"{BACKGROUND_TASK_PREFIX}{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until nothing started here is still running (work may start more work)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


async def settle_background(services: Services) -> None:
    """Cleanup hook (bot/app.py): let the work under way finish before storage closes."""
    await services.background.settle()
