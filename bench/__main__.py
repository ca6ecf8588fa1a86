"""`make bench`: CoP Bot against two stock echo bots in the same run, through one fake connector: the Microsoft 365
Agents SDK's sample echo agent (bench/agents_echo.py, "agents") and botbuilder's echo bot (bench/echo_bot.py, "bf").

Every scenario drives both echo bots with a same-sized message at the same concurrency, then CoP Bot. Writes
bench/results.json and prints the figures, the ratios to both echo bots and the targets (bench/targets.py) with a
pass/fail mark. Latency ratios below 1.0 mean CoP Bot is faster than that echo bot. COPBOT_SDK (agents|botbuilder),
if set, is passed to the CoP Bot processes to choose their SDK seam.

    python -m bench                   # everything
    python -m bench help join ask     # only these scenarios (digest_fanout and delivery run in their own process)
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.load import WARMUP, Run, drive
from bench.processes import (
    ROOT,
    BotProcess,
    copbot_sdk,
    process_cpu_s,
    start_agents_echo,
    start_copbot,
    start_echo,
)
from bench.roundtrips import round_trips
from bench.scenarios import SCENARIOS, Scenario, echo_message
from bench.targets import ISSUE, REPORTED, STANDING, TARGETS, evaluate, fmt, mark, marks
from tests.kit.activities import Activities
from tests.kit.azurite import Azurite
from tests.kit.connector import FakeConnector

# each in its own process
IN_PROCESS = ("digest_fanout", "delivery", "invite_fanout", "import_rows", "report", "two_instances")
# inviting a team of 500; importing a list of 2,000 (docs/imports.md); the report page of 25 CoPs (bench/report.py);
# mixed_load at 400 users on one instance, then on two sharing one Azurite (bench/two_instances.py)
TAKE_IN = ("invite_fanout", "import_rows", "report", "two_instances")


async def run(selected: set[str] | None) -> dict[str, Any]:
    results: dict[str, Any] = {"scenarios": {}}
    if selected is None or selected - set(IN_PROCESS):
        with Azurite() as azurite:
            results = await _run(selected, azurite)
    if selected is None or "digest_fanout" in selected:
        results["digest_fanout"] = await digest_fanout()
    if selected is None or "delivery" in selected:
        results["delivery"] = await digest_fanout("bench.delivery")
    for name in TAKE_IN:
        if selected is None or name in selected:
            results[name] = await digest_fanout(f"bench.{name}")
    return results


async def digest_fanout(module: str = "bench.digest_fanout") -> dict[str, Any]:
    """1,000 CoPs' digests through the outbox against a connector answering 10 % of sends with 429 (or another
    in-process scenario's ``module``: bench.delivery); in a child process so that its peak RSS is its own."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", module, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return {"error": f"exited with {proc.returncode}"}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


def _ratio(ours: float, base: float) -> float | None:
    return round(ours / base, 2) if base else None


def _row(ours: Run, baselines: dict[str, Run]) -> dict[str, Any]:
    """One scenario at one concurrency: CoP Bot's figures, each baseline's, and the ratios to each. Latency
    ratios below 1.0 and throughput ratios above 1.0 mean CoP Bot is faster than that echo bot."""
    row: dict[str, Any] = {
        "p50_ms": round(ours.p50, 2),
        "p99_ms": round(ours.p99, 2),
        "rps": round(ours.rps, 1),
        "errors": ours.errors,
    }
    for name, base in baselines.items():
        row[f"{name}_p50_ms"] = round(base.p50, 2)
        row[f"{name}_p99_ms"] = round(base.p99, 2)
        row[f"{name}_rps"] = round(base.rps, 1)
        row[f"{name}_errors"] = base.errors
        row[f"ratio_p50_{name}"] = _ratio(ours.p50, base.p50)
        row[f"ratio_p99_{name}"] = _ratio(ours.p99, base.p99)
        row[f"ratio_rps_{name}"] = _ratio(ours.rps, base.rps)
    return row


STORAGE_ENV: dict[str, Callable[[Azurite], dict[str, str]]] = {
    "sqlite": lambda _: {},
    "azurite": lambda azurite: {
        "COPBOT_STORAGE": "azure",
        "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string,
    },
}


async def _run(selected: set[str] | None, azurite: Azurite) -> dict[str, Any]:
    connector = FakeConnector()
    await connector.start()
    acts = Activities(connector.url)
    results: dict[str, Any] = {"copbot_sdk": copbot_sdk(), "scenarios": {}}  # None: unset, the bot's default
    with tempfile.TemporaryDirectory() as tmp:
        baselines: dict[str, BotProcess] = {}
        bots: dict[str, BotProcess] = {}
        try:
            # one at a time, so that no start-up competes with another
            baselines["agents"] = await start_agents_echo()
            baselines["bf"] = await start_echo()
            copbot = bots["sqlite"] = await start_copbot(Path(tmp))
            bots["azurite"] = await start_copbot(Path(tmp), STORAGE_ENV["azurite"](azurite))
            await asyncio.sleep(1.0)
            results["rss_mb_idle"] = round(copbot.rss_mb(), 1)
            results["startup_s"] = round(copbot.startup_s, 2)
            for name, base in baselines.items():
                results[f"{name}_rss_mb_idle"] = round(base.rss_mb(), 1)
                results[f"{name}_startup_s"] = round(base.startup_s, 2)

            seeded: set[tuple[str, object]] = set()  # scenarios sharing a seed (health, programme) seed once
            async with aiohttp.ClientSession() as http:
                for scenario in SCENARIOS:
                    if selected and scenario.name not in selected:
                        continue
                    own: BotProcess | None = None
                    if scenario.fresh:  # a bot of its own: its idle and peak RSS are this scenario's alone
                        own = bots[f"{scenario.name} (own)"] = await start_copbot(
                            Path(tmp), STORAGE_ENV[scenario.storage](azurite)
                        )
                        await asyncio.sleep(1.0)
                    target = own or bots[scenario.storage]
                    if scenario.seed is not None and (scenario.storage, scenario.seed) not in seeded:
                        await seed(scenario, Path(tmp), azurite, acts)
                        seeded.add((scenario.storage, scenario.seed))
                    idle_mb = target.rss_mb()
                    target.reset_peak()  # this scenario's peak, setup included
                    if scenario.setup is not None:
                        await scenario.setup(target.url, acts, http)
                    trips = await round_trips(scenario)
                    for concurrency in scenario.concurrency:
                        name = scenario.name if concurrency == 1 else f"{scenario.name}@{concurrency}"
                        runs: dict[str, Run] = {}
                        replies: dict[str, int] = {}
                        cpu: dict[str, float] = {}  # CPU ms per activity (warm-up included) of each process
                        sent = scenario.total + WARMUP
                        for base_name, base in baselines.items():
                            connector.clear()
                            before = base.cpu_s()
                            runs[base_name] = await drive(
                                base.url, echo_message(acts), total=scenario.total, concurrency=concurrency
                            )
                            cpu[f"{base_name}_cpu_ms_per_turn"] = (base.cpu_s() - before) * 1000 / sent
                            replies[base_name] = len(connector.sent())
                        connector.clear()
                        before, before_azurite = target.cpu_s(), _azurite_cpu_s(azurite)
                        ours = await drive(
                            target.url, scenario.make(acts), total=scenario.total, concurrency=concurrency
                        )
                        cpu["cpu_ms_per_turn"] = (target.cpu_s() - before) * 1000 / sent
                        if scenario.storage == "azurite":
                            cpu["azurite_cpu_ms_per_turn"] = (_azurite_cpu_s(azurite) - before_azurite) * 1000 / sent
                        row = _row(ours, runs)
                        row.update({key: round(value, 2) for key, value in cpu.items()})
                        if scenario.check is not None:
                            row.update(scenario.check(connector, scenario.total))
                        connector.clear()
                        for base_name, count in replies.items():
                            # a baseline's reply is a POST to the fake connector: if it never arrives, the echo
                            # bot answered 2xx without doing the work and its figures flatter it
                            row[f"{base_name}_replies_missing"] = max(0, sent - count)
                        row.update(
                            storage=scenario.storage,
                            storage_round_trips=round(trips.per_turn, 2),
                            round_trip_breakdown=trips.last_turn,
                            background_round_trips=round(trips.background, 2),
                            rss_mb_peak=round(target.span_peak_rss_mb(), 1),
                        )
                        if own is not None:
                            row["rss_mb_idle"] = round(idle_mb, 1)
                        results["scenarios"][name] = row
                    if own is not None:
                        own.stop()
            results["rss_mb_peak"] = round(copbot.peak_rss_mb(), 1)
            results["rss_mb_peak_azure"] = round(bots["azurite"].peak_rss_mb(), 1)
            for name, base in baselines.items():
                results[f"{name}_rss_mb_peak"] = round(base.peak_rss_mb(), 1)
            if not selected or "ask" in selected:
                from bench.ranking import bench_ranking

                results["ranking_2000_entries"] = bench_ranking(2000)
        finally:
            for process in (*bots.values(), *baselines.values()):
                process.stop()
            await connector.close()
    return results


def _azurite_cpu_s(azurite: Azurite) -> float:
    """The emulator's CPU seconds so far: on the bench's two cores its work competes with the bot's."""
    assert azurite.proc is not None
    return process_cpu_s(azurite.proc.pid)


async def seed(scenario: Scenario, data_dir: Path, azurite: Azurite, acts: Activities) -> None:
    """Write a scenario's starting data straight into the store of the bot that will run it."""
    from storage.base import TableStore

    store: TableStore
    if scenario.storage == "azurite":
        from storage.azure import AzureTableStore

        store = AzureTableStore.from_connection_string(azurite.connection_string)
    else:
        from storage.sqlite import SqliteStore

        store = SqliteStore(data_dir / "bench.sqlite3")
    try:
        assert scenario.seed is not None
        await scenario.seed(store, acts)
    finally:
        await store.close()


def print_delivery(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"\ndelivery: {row['error']}")
        return
    print(
        f"\ndelivery: {row['messages']} messages, {row['answered_late_share']:.0%} of posts accepted then answered "
        f"too late, sender killed {row['kills']} times ({row['sending_when_killed']} items mid-send); promises "
        f"{'hold' if row['promises_hold'] else 'BROKEN'}"
    )
    for kind, k in row["kinds"].items():
        print(
            f"  {kind:<20}{k['promise']:<15}{k['duplicates']:>4} duplicates{k['losses']:>4} losses   "
            f"(answered late {k['answered_late']}, mid-send at a kill {k['sending_when_killed']}, "
            f"statuses {k['status']})"
        )


def print_fanout(row: dict[str, Any]) -> None:
    if "error" in row:
        print(f"\ndigest_fanout: {row['error']}")
        return
    print(
        f"\ndigest_fanout: {row['delivered']}/{row['cops']} digests delivered, {row['duplicates']} duplicates, "
        f"{row['answered_429']} answered 429; {row['elapsed_s']} s against a minimum of {row['minimum_s']} s at "
        f"{row['rate_per_s']:g} req/s (x{row['ratio_to_minimum']}, bound x1.2: "
        f"{'ok' if row['within_bound'] else 'MISSED'}); peak RSS {row['rss_mb_peak']} MB"
    )


BASES = ("agents", "bf")


def _num(value: float | None, width: int, digits: int = 2, verdict: bool | None = None) -> str:
    """A right-aligned figure, then its target's mark if a target judges it (two spaces are kept for one)."""
    text = "—" if value is None else f"{value:.{digits}f}"
    return f"{text} {mark(verdict) if verdict is not None else ' '}".rjust(width)


def _head(label: str, width: int) -> str:
    return f"{label}  ".rjust(width)


def print_table(results: dict[str, Any]) -> None:
    if "rss_mb_idle" not in results:
        if "digest_fanout" in results:
            print_fanout(results["digest_fanout"])
        if "delivery" in results:
            print_delivery(results["delivery"])
        print_targets(results)
        return
    judged = marks(results)
    sdk = results.get("copbot_sdk")
    seam = f"COPBOT_SDK={sdk}" if sdk else "COPBOT_SDK unset: the bot's default seam"
    print(
        f"CoP Bot ({seam}) against the Agents SDK echo agent (agents) and the Bot Framework echo bot (bf),"
        " in the same run through one fake connector."
    )
    print(
        "Latency in ms; ratio = CoP Bot ÷ that echo (below 1.0: CoP Bot is faster); "
        f"{mark(True)}/{mark(False)} where a target bounds the figure."
    )
    scenarios: dict[str, dict[str, Any]] = results["scenarios"]
    width = max([22, *(len(name) + 2 for name in scenarios)])
    header = f"{'scenario':<{width}}"
    for q in ("p50", "p99"):
        header += _head(q, 9) + _head(f"agents {q}", 12) + _head("ratio(agents)", 15)
        header += _head(f"bf {q}", 9) + _head("ratio(bf)", 11)
    print()
    print(header)
    print("-" * len(header))
    for name, row in scenarios.items():
        line = f"{name:<{width}}"
        for q in ("p50", "p99"):
            line += _num(row[f"{q}_ms"], 9, verdict=judged.get((name, f"{q}_ms")))
            line += _num(row.get(f"agents_{q}_ms"), 12)
            line += _num(row.get(f"ratio_{q}_agents"), 15, verdict=judged.get((name, f"ratio_{q}_agents")))
            line += _num(row.get(f"bf_{q}_ms"), 9)
            line += _num(row.get(f"ratio_{q}_bf"), 11)
        print(line)

    print("\nThroughput in requests/s; ratio = CoP Bot ÷ that echo (above 1.0: CoP Bot serves more).")
    header = (
        f"{'scenario':<{width}}{_head('rps', 9)}{_head('agents rps', 12)}{_head('ratio(agents)', 15)}"
        f"{_head('bf rps', 9)}{_head('ratio(bf)', 11)}{'errors':>8}{'agents':>8}{'bf':>6}{'trips':>7}{'+bg':>6}"
    )
    print(header)
    print("-" * len(header))
    missing: list[str] = []
    for name, row in scenarios.items():
        print(
            f"{name:<{width}}{_num(row['rps'], 9, 1)}{_num(row.get('agents_rps'), 12, 1)}"
            f"{_num(row.get('ratio_rps_agents'), 15)}{_num(row.get('bf_rps'), 9, 1)}{_num(row.get('ratio_rps_bf'), 11)}"
            f"{row['errors']:>8}{row.get('agents_errors', 0):>8}{row.get('bf_errors', 0):>6}"
            f"{row['storage_round_trips']:>7.1f}{row.get('background_round_trips', 0.0):>6.1f}"
        )
        for base in BASES:
            if row.get(f"{base}_replies_missing"):
                missing.append(
                    f"{name}: {row[f'{base}_replies_missing']} of {base}'s replies never reached the connector"
                )
    for line in missing:
        print(f"WARNING {line}")

    print(
        "\nCPU ms per activity, every thread of each process (the bench's two cores are shared: Azurite's work is"
        " the emulator's share of CoP Bot's turns)."
    )
    header = (
        f"{'scenario':<{width}}{_head('CoP Bot', 10)}{_head('Azurite', 10)}{_head('agents', 9)}"
        f"{_head('ratio(agents)', 15)}{_head('bf', 9)}"
    )
    print(header)
    print("-" * len(header))
    for name, row in scenarios.items():
        if "cpu_ms_per_turn" not in row:
            continue
        agents = row.get("agents_cpu_ms_per_turn")
        print(
            f"{name:<{width}}{_num(row['cpu_ms_per_turn'], 10)}{_num(row.get('azurite_cpu_ms_per_turn'), 10)}"
            f"{_num(agents, 9)}{_num(_ratio(row['cpu_ms_per_turn'], agents) if agents else None, 15)}"
            f"{_num(row.get('bf_cpu_ms_per_turn'), 9)}"
        )

    rss_ok = judged_top(results, "idle RSS")
    start_ok = judged_top(results, "start-up")
    print(
        f"\nidle RSS: CoP Bot {results['rss_mb_idle']} MB {mark(rss_ok)} (<= 100 MB), "
        f"agents {results.get('agents_rss_mb_idle')} MB, bf {results.get('bf_rss_mb_idle')} MB"
    )
    print(
        f"start-up: CoP Bot {results['startup_s']} s {mark(start_ok)} (<= 2 s), "
        f"agents {results.get('agents_startup_s')} s, bf {results.get('bf_startup_s')} s"
    )
    print(
        f"peak RSS: CoP Bot {results.get('rss_mb_peak')} MB (SQLite bot), {results.get('rss_mb_peak_azure')} MB "
        f"{mark(judged_top(results, 'peak RSS, Azurite bot'))} (Azurite bot: rsvp, health, programme, mixed_load; "
        f"<= 250 MB), agents {results.get('agents_rss_mb_peak')} MB, bf {results.get('bf_rss_mb_peak')} MB"
    )
    ranking = results.get("ranking_2000_entries")
    if ranking:
        print(
            f"FAQ ranking alone, {ranking['entries']:.0f} entries: p50 {ranking['p50_ms']:.2f} ms, "
            f"p99 {ranking['p99_ms']:.2f} ms (target <= 5 ms), index build {ranking['build_ms']:.0f} ms"
        )
    if "digest_fanout" in results:
        print_fanout(results["digest_fanout"])
    if "delivery" in results:
        print_delivery(results["delivery"])
    print_targets(results)


def judged_top(results: dict[str, Any], label: str) -> bool | None:
    return next(t.check(results) for t in TARGETS if t.label == label)


def print_targets(results: dict[str, Any]) -> None:
    verdicts = [(t, t.check(results)) for t in TARGETS]
    titles = {ISSUE: "the issue's targets, against the Agents SDK echo agent", STANDING: "standing targets"}
    for source, title in titles.items():
        print(f"\nTargets: {title}")
        for t, verdict in verdicts:
            if t.source != source:
                continue
            value = t.value(results)
            figure = "not run" if value is None else fmt(value, t.unit)
            status = {True: "pass", False: "FAIL", None: "-"}[verdict]
            print(f"  {mark(verdict)} {status:<5}{t.label:<46}{figure:>14}   (target {t.bound_text})")
        if source == ISSUE:
            for name in REPORTED:
                row = results.get("scenarios", {}).get(name)
                if row is None:
                    print(f"  · -    {name} p99 and throughput vs both echos (reported, no bound): not run")
                    continue
                print(
                    f"  · -    {name} (reported, no bound): p99 {fmt(row['p99_ms'], 'ms')} = "
                    f"{row['ratio_p99_agents']}x agents, {row['ratio_p99_bf']}x bf; {row['rps']} rps = "
                    f"{row['ratio_rps_agents']}x agents, {row['ratio_rps_bf']}x bf; {row['errors']} errors"
                )
    measured = [v for _, v in verdicts if v is not None]
    print(f"\n{sum(measured)} of {len(measured)} measured targets hold ({len(verdicts) - len(measured)} not run).")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    selected = set(sys.argv[1:]) or None
    results = asyncio.run(run(selected))
    results["targets"] = evaluate(results)
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    for name in TAKE_IN:
        if name in results:
            print(f"\n{name}: {json.dumps(results[name])}")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
