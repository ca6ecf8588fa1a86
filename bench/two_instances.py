"""`two_instances`: mixed_load at 400 users against one CoP Bot, then against two on the same Azurite, the load
generator taking the two in turn activity by activity (a round-robin load balancer's way).

    python -m bench.two_instances          # prints one JSON object (the bench adds it to bench/results.json)

Both bots run their scheduler (leases, the outbox sender) as production instances do. After each run it checks, in
storage and at the fake connector:

- joins: every join submitted is recorded exactly once (each by a new person; none missing, none twice);
- scheduled work: each due-work function's lease row per minute was claimed once (``attempts``), and which instance
  held it;
- failed turns: turns the bot answered with an apology (storage unreachable under the load, for instance), which
  the load generator's error count (HTTP status) does not see;
- outbox: no proactive message (one not in reply to an activity) reached the connector twice, and the most such
  sends in any one second, from both instances together, against the 50/s the outbox is paced at.

The throughput of two instances against one is reported, not judged: on a 2-core machine the two bots, Azurite, the
fake connector and the load generator share the same cores, so a second instance adds no CPU (see
deployment/README.md, "Scale-out").
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import WARMUP, Run, drive
from bench.processes import BotProcess, start_copbot
from bench.scenarios import MIXED_TEAMS, _install_mixed, _mixed, _seed_mixed_faq, failed_turns
from storage.azure import AzureTableStore
from tests.kit.activities import Activities, user
from tests.kit.azurite import Azurite
from tests.kit.connector import Call, FakeConnector

USERS = 400
TOTAL = 3000
RATE = 50.0  # COPBOT_OUTBOX_RATE's default: the outbox's pace for the whole tenant


class Joins:
    """The people a run's join submits name, so that storage can be checked for each, exactly once."""

    def __init__(self, acts: Activities, first: int) -> None:
        self.make = _mixed(acts, joiners_from=first)
        self.people: list[tuple[str, str]] = []  # (cop id, aad id)

    def __call__(self, i: int) -> dict[str, Any]:
        activity = self.make(i)
        if activity.get("type") == "invoke":
            cop = activity["value"]["action"]["data"]["cop_id"]
            self.people.append((cop, activity["from"]["aadObjectId"]))
        return activity


async def _count_joins(store: AzureTableStore, people: list[tuple[str, str]]) -> dict[str, int]:
    from bot.domain.members import MembershipRepo

    repo = MembershipRepo(store)
    recorded: Counter[tuple[str, str]] = Counter()
    for where in MIXED_TEAMS:
        for membership in await repo.members_of(where.id):
            recorded[(where.id, membership.aad_id)] += 1
    wanted = Counter(people)
    return {
        "joins_submitted": len(people),
        "joins_missing": sum(1 for key in wanted if recorded[key] == 0),
        "joins_twice": sum(1 for key in wanted if recorded[key] > 1),
    }


async def _leases(store: AzureTableStore, owners: dict[str, str]) -> dict[str, Any]:
    rows = list(await store.query("leases", "due"))
    by_owner: Counter[str] = Counter(owners.get(str(row.get("owner", "")), "other") for row in rows)
    return {
        "due_work_functions": len(rows),
        "due_work_claimed_more_than_once": sum(1 for row in rows if int(str(row.get("attempts", 1))) > 1),
        "due_work_by_instance": dict(by_owner),
    }


def _outbox(calls: list[tuple[float, Call]]) -> dict[str, Any]:
    proactive = [
        (at, call)
        for at, call in calls
        if call.method == "POST" and "/activities" in call.path and not (call.body or {}).get("replyToId")
    ]
    seen: Counter[str] = Counter(
        call.conversation_id + json.dumps({k: v for k, v in (call.body or {}).items() if k != "id"}, sort_keys=True)
        for _, call in proactive
    )
    times = sorted(at for at, _ in proactive)
    busiest, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        busiest = max(busiest, end - start + 1)
    return {
        "outbox_sends": len(proactive),
        "outbox_sent_twice": sum(count - 1 for count in seen.values() if count > 1),
        "outbox_busiest_second": busiest,
        "outbox_rate_bound": RATE,
    }


def _figures(run: Run) -> dict[str, Any]:
    return {"rps": round(run.rps, 1), "p50_ms": round(run.p50, 1), "p99_ms": round(run.p99, 1), "errors": run.errors}


async def measure() -> dict[str, Any]:
    stamped: list[tuple[float, Call]] = []

    def stamp(call: Call) -> tuple[int, dict[str, str]] | None:
        stamped.append((time.monotonic(), call))
        return None  # accepted: the policy hook only notes when each call came

    connector = FakeConnector(policy=stamp)
    await connector.start()
    acts = Activities(connector.url)
    result: dict[str, Any] = {"users": USERS, "activities": TOTAL}
    with Azurite() as azurite, tempfile.TemporaryDirectory() as tmp:
        env = {
            "COPBOT_STORAGE": "azure",
            "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
            "COPBOT_SCHEDULER": "true",
        }
        store = AzureTableStore.from_connection_string(azurite.connection_string)
        bots: list[BotProcess] = []
        try:
            bots.append(await start_copbot(Path(tmp), env))
            bots.append(await start_copbot(Path(tmp), env))
            await _seed_mixed_faq(store, acts)
            async with aiohttp.ClientSession() as http:
                await _install_mixed(bots[0].url, acts, http)
                async with http.post(bots[1].url, json=acts.personal(user(998), "ask how do I join a CoP?")) as r:
                    await r.read()  # the second bot's model and FAQ index, loaded as the first one's were
            runs: dict[str, tuple[list[str], int]] = {
                "one": ([bots[0].url], 30000),
                "two": ([b.url for b in bots], 60000),
            }
            for name, (urls, first) in runs.items():
                joins = Joins(acts, first)
                stamped.clear()
                connector.clear()
                for bot in bots:
                    bot.reset_peak()
                run = await drive(urls, joins, total=TOTAL, concurrency=USERS)
                await asyncio.sleep(5.0)  # the outbox sender drains what the turns queued
                row = _figures(run) | await _count_joins(store, joins.people) | _outbox(list(stamped))
                row["turns_failed"] = failed_turns(connector)
                connector.clear()
                row["rss_mb_peak"] = [round(bot.span_peak_rss_mb(), 1) for bot in bots[: len(urls)]]
                result[name] = row
            owners = await _owners(store, bots)
            result.update(await _leases(store, owners))
            result["ratio_rps_two_to_one"] = round(result["two"]["rps"] / result["one"]["rps"], 2)
            result["ratio_p99_two_to_one"] = round(result["two"]["p99_ms"] / result["one"]["p99_ms"], 2)
            result["warmup_each_run"] = WARMUP
        finally:
            for bot in bots:
                bot.stop()
            await store.close()
            await connector.close()
    return result


async def _owners(store: AzureTableStore, bots: list[BotProcess]) -> dict[str, str]:
    """Lease owner names by instance: the outbox sender lease names each holder; the rest are told apart by order."""
    rows = await store.query("leases", "due")
    names = sorted({str(row.get("owner", "")) for row in rows})
    return {owner: f"instance {n + 1}" for n, owner in enumerate(names[: len(bots)])}


def main() -> None:
    print(json.dumps(asyncio.run(measure())))


if __name__ == "__main__":
    main()
