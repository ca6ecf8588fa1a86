"""`invite_fanout`: inviting a team of 500 people through the real app (HTTP, card click), outbox, scheduler and
SDK seam, against the fake connector answering 10 % of sends with 429 + Retry-After: 1.

Runs in its own process (``python -m bench.invite_fanout [people]``) and prints one JSON object. Checks: every
person gets exactly one invitation card, and the wall time from the confirm click to the last card stays within
1.2x the minimum the configured rate allows (a personal card costs two requests, opening the 1:1 chat and
posting: 500 people at 50 requests/s = 20 s). Installing the team (and its roster) is not timed.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bot.core.clock import SystemClock
from bot.features import invitations
from bot.jobs.scheduler import DueWork, Scheduler
from storage.sqlite import SqliteStore
from tests.kit.activities import team, user
from tests.kit.connector import Call, FakeConnector, Member
from tests.kit.harness import find_action, running_bot, test_settings

PEOPLE = 500
THROTTLED_SHARE = 0.10
RATE = 50.0
BOUND = 1.2
TEAM = team(7100, "Bench Invitations")
LEAD = user(7100, "Lead Bench")


async def run(
    people: int = PEOPLE, rate: float = RATE, throttled: float = THROTTLED_SHARE, seed: int = 11
) -> dict[str, Any]:
    rng = random.Random(seed)
    connector = FakeConnector()
    delivered: Counter[str] = Counter()
    answered_429 = 0
    all_done = asyncio.Event()

    def policy(call: Call) -> tuple[int, dict[str, str]] | None:
        nonlocal answered_429
        if (
            call.method != "POST"
            or "/activities" not in call.path
            or not call.conversation_id.startswith("a:personal-")
        ):
            return None
        if rng.random() < throttled:
            answered_429 += 1
            return 429, {"Retry-After": "1"}
        delivered[connector.personal_chats.get(call.conversation_id, call.conversation_id)] += 1
        if len(delivered) >= people + 1:
            all_done.set()
        return None

    connector.policy = policy
    await connector.start()
    members = [Member(LEAD.id, LEAD.aad, LEAD.name)] + [
        Member(f"29:invitee-{i}", f"aad-invitee-{i:05d}", f"Invitee {i}") for i in range(people)
    ]
    connector.teams[TEAM.id] = {"id": TEAM.id, "name": TEAM.name, "aadGroupId": TEAM.aad_group_id}
    connector.rosters[TEAM.id] = members
    settings = test_settings(outbox_rate_per_s=rate, outbox_conversation_gap_s=1.0, scheduler_enabled=False)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "invite.sqlite3")
        try:
            async with running_bot(store, connector=connector, clock=SystemClock(), settings=settings) as bot:
                installed = await bot.post(bot.acts.installed_in_team(LEAD, TEAM))
                offer = next(c.card for c in installed.calls if c.card and "Invite the team to" in c.card_text)
                services = bot.services
                only = DueWork()
                only.add("invitations", invitations.run_due)
                services.due_work = only
                scheduler = Scheduler(services)
                title = find_action(offer, "invitations.confirm")["title"]
                started = time.monotonic()
                scheduler.start()
                try:
                    clicked = await bot.press(LEAD, offer, title, where=TEAM)
                    click_s = time.monotonic() - started
                    await invitations.settle(services)
                    queued_s = time.monotonic() - started
                    await asyncio.wait_for(all_done.wait(), timeout=max(120.0, 10 * people / rate))
                    elapsed = time.monotonic() - started
                    await asyncio.sleep(1.5)  # anything sent twice would arrive now
                finally:
                    await scheduler.stop()
        finally:
            await store.close()
    await connector.close()
    minimum = 2 * (people + 1) / rate
    duplicates = sum(n - 1 for n in delivered.values() if n > 1)
    missing = sum(1 for m in members if delivered[m.id] == 0)
    return {
        "people": people + 1,
        "rate_per_s": rate,
        "click_status": clicked.status,
        "click_s": round(click_s, 3),
        "queue_s": round(queued_s, 2),
        "delivered": sum(delivered.values()),
        "duplicates": duplicates,
        "missing": missing,
        "answered_429": answered_429,
        "elapsed_s": round(elapsed, 2),
        "minimum_s": round(minimum, 2),
        "bound_s": round(BOUND * minimum, 2),
        "ratio_to_minimum": round(elapsed / minimum, 3),
        "within_bound": elapsed <= BOUND * minimum and duplicates == 0 and missing == 0,
    }


def main() -> None:
    people = int(sys.argv[1]) if len(sys.argv) > 1 else PEOPLE
    print(json.dumps(asyncio.run(run(people))))


if __name__ == "__main__":
    main()
