"""`make bench`: CoP Bot against a stock Bot Framework echo bot, in the same run, through one fake connector.

Writes bench/results.json and prints a table. Ratios below 1.0 mean CoP Bot is faster than the echo bot.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.load import drive
from bench.processes import ROOT, start_copbot, start_echo
from bench.roundtrips import round_trips
from bench.scenarios import SCENARIOS, echo_message
from storage.azure import AzureTableStore
from storage.base import TableStore
from storage.sqlite import SqliteStore
from tests.kit.activities import Activities
from tests.kit.azurite import Azurite
from tests.kit.connector import FakeConnector


async def run(selected: set[str] | None) -> dict[str, Any]:
    with Azurite() as azurite:
        return await _run(selected, azurite)


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

            async with aiohttp.ClientSession() as http:
                for scenario in SCENARIOS:
                    if selected and scenario.name not in selected:
                        continue
                    target = bots[scenario.storage]
                    if scenario.seed is not None and (scenario.storage, scenario.seed) not in seeded:
                        await _seed(scenario, azurite, Path(tmp), connector.url)
                        seeded.add((scenario.storage, scenario.seed))
                    if scenario.setup is not None:
                        await scenario.setup(target.url, acts, http)
                    trips, breakdown = await round_trips(scenario)
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
                            "storage_round_trips": round(trips, 2),
                            "round_trip_breakdown": breakdown,
                        }
            results["rss_mb_peak"] = round(copbot.peak_rss_mb(), 1)
            results["rss_mb_peak_azure"] = round(on_azure.peak_rss_mb(), 1)
        finally:
            copbot.stop()
            on_azure.stop()
            echo.stop()
            await connector.close()
    return results


async def _seed(scenario: Any, azurite: Azurite, data_dir: Path, service_url: str) -> None:
    """Write a scenario's data straight into the store of the bot that will serve it (once per backend)."""
    store: TableStore
    if scenario.storage == "azurite":
        store = AzureTableStore.from_connection_string(azurite.connection_string)
    else:
        store = SqliteStore(data_dir / "bench.sqlite3")
    started = time.perf_counter()
    try:
        await scenario.seed(store, service_url, datetime.now(UTC))
    finally:
        await store.close()
    print(f"seeded {scenario.name} on {scenario.storage} in {time.perf_counter() - started:.1f} s", flush=True)


def print_table(results: dict[str, Any]) -> None:
    header = (
        f"{'scenario':<22}{'p50 ms':>9}{'echo p50':>10}{'ratio':>7}"
        f"{'p99 ms':>9}{'echo p99':>10}{'ratio':>7}{'rps':>8}{'errors':>8}{'trips':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, row in results["scenarios"].items():
        print(
            f"{name:<22}{row['p50_ms']:>9.2f}{row['baseline_p50_ms']:>10.2f}{row['ratio_p50']:>7.2f}"
            f"{row['p99_ms']:>9.2f}{row['baseline_p99_ms']:>10.2f}{row['ratio_p99']:>7.2f}"
            f"{row['rps']:>8.1f}{row['errors']:>8}{row['storage_round_trips']:>7.1f}"
        )
    print(
        f"\nidle RSS {results['rss_mb_idle']} MB (echo {results['baseline_rss_mb_idle']} MB), "
        f"peak RSS {results.get('rss_mb_peak')} MB, "
        f"start-up {results['startup_s']} s (echo {results['baseline_startup_s']} s)"
    )


def main() -> None:
    selected = set(sys.argv[1:]) or None
    results = asyncio.run(run(selected))
    out = ROOT / "bench" / "results.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
