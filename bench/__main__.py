"""`make bench`: CoP Bot against a stock Bot Framework echo bot, in the same run, through one fake connector.

Writes bench/results.json and prints a table. Ratios below 1.0 mean CoP Bot is faster than the echo bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.load import drive
from bench.processes import ROOT, start_copbot, start_echo
from bench.roundtrips import round_trips
from bench.scenarios import SCENARIOS, Scenario, echo_message
from tests.kit.activities import Activities
from tests.kit.azurite import Azurite
from tests.kit.connector import FakeConnector

IN_PROCESS = ("digest_fanout",)  # scenarios that run in their own process, not through HTTP


async def run(selected: set[str] | None) -> dict[str, Any]:
    results: dict[str, Any] = {"scenarios": {}}
    if selected is None or selected - set(IN_PROCESS):
        with Azurite() as azurite:
            results = await _run(selected, azurite)
    if selected is None or "digest_fanout" in selected:
        results["digest_fanout"] = await digest_fanout()
    return results


async def digest_fanout() -> dict[str, Any]:
    """1,000 CoPs' digests through the outbox against a connector answering 10 % of sends with 429; in a
    child process so that its peak RSS is its own."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.digest_fanout", cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        return {"error": f"exited with {proc.returncode}"}
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def _run(selected: set[str] | None, azurite: Azurite) -> dict[str, Any]:
    connector = FakeConnector()
    await connector.start()
    acts = Activities(connector.url)
    results: dict[str, Any] = {"scenarios": {}}
    with tempfile.TemporaryDirectory() as tmp:
        echo = await start_echo()
        copbot = await start_copbot(Path(tmp))
        on_azure = await start_copbot(
            Path(tmp),
            {"COPBOT_STORAGE": "azure", "AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string},
        )
        bots = {"sqlite": copbot, "azurite": on_azure}
        seeded: set[tuple[str, Any]] = set()
        try:
            await asyncio.sleep(1.0)
            results["rss_mb_idle"] = round(copbot.rss_mb(), 1)
            results["baseline_rss_mb_idle"] = round(echo.rss_mb(), 1)
            results["startup_s"] = round(copbot.startup_s, 2)
            results["baseline_startup_s"] = round(echo.startup_s, 2)
            import aiohttp

            seeded: set[tuple[str, object]] = set()  # scenarios sharing a seed (health, programme) seed once
            async with aiohttp.ClientSession() as http:
                for scenario in SCENARIOS:
                    if selected and scenario.name not in selected:
                        continue
                    target = bots[scenario.storage]
                    if scenario.seed is not None and (scenario.storage, scenario.seed) not in seeded:
                        await seed(scenario, Path(tmp), azurite, acts)
                        seeded.add((scenario.storage, scenario.seed))
                    if scenario.setup is not None:
                        await scenario.setup(target.url, acts, http)
                    trips = await round_trips(scenario)
                    for concurrency in scenario.concurrency:
                        name = scenario.name if concurrency == 1 else f"{scenario.name}@{concurrency}"
                        base = await drive(echo.url, echo_message(acts), total=scenario.total, concurrency=concurrency)
                        ours = await drive(
                            target.url, scenario.make(acts), total=scenario.total, concurrency=concurrency
                        )
                        connector.clear()
                        results["scenarios"][name] = {
                            "p50_ms": round(ours.p50, 2),
                            "p99_ms": round(ours.p99, 2),
                            "rps": round(ours.rps, 1),
                            "errors": ours.errors,
                            "baseline_p50_ms": round(base.p50, 2),
                            "baseline_p99_ms": round(base.p99, 2),
                            "baseline_rps": round(base.rps, 1),
                            "ratio_p50": round(ours.p50 / base.p50, 2),
                            "ratio_p99": round(ours.p99 / base.p99, 2),
                            "storage": scenario.storage,
                            "storage_round_trips": round(trips.per_turn, 2),
                            "round_trip_breakdown": trips.last_turn,
                            "background_round_trips": round(trips.background, 2),
                        }
            results["rss_mb_peak"] = round(copbot.peak_rss_mb(), 1)
            results["rss_mb_peak_azure"] = round(on_azure.peak_rss_mb(), 1)
            if not selected or "ask" in selected:
                from bot.answers import bench_ranking

                results["ranking_2000_entries"] = bench_ranking(2000)
        finally:
            copbot.stop()
            on_azure.stop()
            echo.stop()
            await connector.close()
    return results


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


def print_table(results: dict[str, Any]) -> None:
    if "rss_mb_idle" not in results:
        if "digest_fanout" in results:
            print_fanout(results["digest_fanout"])
        return
    header = (
        f"{'scenario':<22}{'p50 ms':>9}{'echo p50':>10}{'ratio':>7}"
        f"{'p99 ms':>9}{'echo p99':>10}{'ratio':>7}{'rps':>8}{'errors':>8}{'trips':>7}{'+bg':>6}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results["scenarios"].items():
        print(
            f"{name:<22}{row['p50_ms']:>9.2f}{row['baseline_p50_ms']:>10.2f}{row['ratio_p50']:>7.2f}"
            f"{row['p99_ms']:>9.2f}{row['baseline_p99_ms']:>10.2f}{row['ratio_p99']:>7.2f}"
            f"{row['rps']:>8.1f}{row['errors']:>8}{row['storage_round_trips']:>7.1f}"
            f"{row.get('background_round_trips', 0.0):>6.1f}"
        )
    print(
        f"\nidle RSS {results['rss_mb_idle']} MB (echo {results['baseline_rss_mb_idle']} MB), "
        f"peak RSS {results.get('rss_mb_peak')} MB (SQLite bot), {results.get('rss_mb_peak_azure')} MB (Azurite bot: "
        "rsvp, health, programme, mixed_load), "
        f"start-up {results['startup_s']} s (echo {results['baseline_startup_s']} s)"
    )
    ranking = results.get("ranking_2000_entries")
    if ranking:
        print(
            f"FAQ ranking alone, {ranking['entries']:.0f} entries: p50 {ranking['p50_ms']:.2f} ms, "
            f"p99 {ranking['p99_ms']:.2f} ms (target <= 5 ms), index build {ranking['build_ms']:.0f} ms"
        )
    if "digest_fanout" in results:
        print_fanout(results["digest_fanout"])


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")
    selected = set(sys.argv[1:]) or None
    results = asyncio.run(run(selected))
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
