"""``forget me`` at size on Azurite: a person with 1,000 rows among 100,000 audit entries and 50,000 outbox items.

    python -m bench.forget_at_size                          # 100,000 / 50,000 / 1,000
    python -m bench.forget_at_size 10000 5000 1000          # audit rows, outbox rows, the person's rows

The person presses **Erase my data** in a real bot process (its turn works for a few seconds and says what is
left), then the minute tick finishes the erasure; prints the seeding time, what the turn answered, how long until
nothing named the person, and the rows still naming them (must be 0). Not part of ``make bench``: seeding
150,000 rows through the emulator takes minutes.

Measured (Azurite, one process, a 1,000-row person): 10,000 / 5,000 rows: seeded in 10 s, the turn answered
"erased most" after 5.3 s, nothing named them after 7.0 s; 30,000 / 15,000: seeded in 54 s, 5.1 s, 10.5 s;
100,000 / 15,000: seeded in 190 s, 5.3 s, 24 s (one tick each time, 0 rows left). The emulator slows as the
outbox partition grows: seeding 100,000 / 50,000 did not finish in 14 minutes.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime

from azure.data.tables.aio import TableServiceClient

from bench.erasure_seed import Person, rows_naming, seed
from bot.features import privacy
from storage.azure import AzureTableStore
from tests.kit.activities import User
from tests.kit.azurite import Azurite
from tests.kit.harness import running_bot


async def measure(audit_rows: int, outbox_rows: int, person_rows: int) -> dict[str, float | int | str]:
    person = Person()
    with Azurite() as azurite:
        store = AzureTableStore.from_connection_string(azurite.connection_string)
        # seeding gets a generous deadline (the emulator slows as one partition grows); the bot keeps its own
        loader = AzureTableStore(TableServiceClient.from_connection_string(azurite.connection_string), deadline=120)
        try:
            started = time.monotonic()
            await seed(
                loader,
                person,
                audit_rows=audit_rows,
                person_audit_rows=person_rows // 2,
                outbox_rows=outbox_rows,
                person_outbox_rows=person_rows - person_rows // 2,
            )
            seeded_s = time.monotonic() - started
            print(f"seeded in {seeded_s:.0f} s", file=sys.stderr, flush=True)
            before = await rows_naming(store, person)
            async with running_bot(store) as bot:
                who = User(id=person.user_id, aad=person.aad_id, name=person.name)
                confirm = await bot.say(who, "forget me")
                started = time.monotonic()
                pressed = await bot.press(who, confirm.card, "Erase my data")
                turn_s = time.monotonic() - started
                answer = "erased" if "Your data has been erased" in str(pressed.body) else "continues"
                if "erased most of your data" not in str(pressed.body) and answer != "erased":
                    answer = "failed: " + str(pressed.body)[:200]
                ticks = 0
                while await bot.services.store.query(privacy.JOBS, privacy.JOBS_PARTITION, limit=1):
                    ticks += 1
                    await privacy.run_due(bot.services, datetime.now(UTC))
                    print(f"tick {ticks} at {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
                total_s = time.monotonic() - started
            left = await rows_naming(store, person)
        finally:
            await store.close()
            await loader.close()
    return {
        "audit_rows": audit_rows,
        "outbox_rows": outbox_rows,
        "person_rows_before": before,
        "seed_s": round(seeded_s, 1),
        "turn_s": round(turn_s, 2),
        "turn_answer": answer,
        "ticks_after_turn": ticks,
        "erased_after_s": round(total_s, 1),
        "rows_naming_person_after": left,
    }


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:4]] or [100_000, 50_000, 1_000]
    audit_rows, outbox_rows, person_rows = (sizes + [100_000, 50_000, 1_000][len(sizes) :])[:3]
    result = asyncio.run(measure(audit_rows, outbox_rows, person_rows))
    for name, value in result.items():
        print(f"{name:>26}: {value}")


if __name__ == "__main__":
    main()
