"""`import_rows`: a membership list of 2,000 rows imported into one CoP on Azurite, through the real app: the CSV
sent as a file in personal chat (served from 127.0.0.1), the preview, the Apply click, and the same list again.

Runs in its own process (``python -m bench.import_rows [rows]``) and prints one JSON object. Targets: the
preview (file message in, preview card out) within 10 s, applying (click to the last person stored and the
result queued) within 30 s, and the second identical import changing nothing (its preview has no changes).
Starting Azurite and installing the team are not timed.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from bot.domain.members import MembershipRepo
from bot.features.imports import settle
from storage.azure import AzureTableStore
from tests.features.rollout.kit import card_text, file_message, file_server
from tests.kit.activities import team, user
from tests.kit.azurite import Azurite
from tests.kit.connector import FakeConnector, Member
from tests.kit.harness import find_action, running_bot

ROWS = 2000
PREVIEW_TARGET_S = 10.0
APPLY_TARGET_S = 30.0
TEAM = team(7200, "Bench Imports")
LEAD = user(7200, "Lead Bench")


def _csv(rows: int) -> bytes:
    lines = ["email,tier,org area,job family,joined"]
    areas = ("central", "faculty", "vpo", "other")
    for i in range(rows):
        tier = "core" if i % 4 == 0 else "wider"
        lines.append(f"member.{i}@example.ac.uk,{tier},{areas[i % 4]},Family {i % 7},2024-0{1 + i % 9}-15")
    return ("\n".join(lines) + "\n").encode("utf-8")


async def run(rows: int = ROWS) -> dict[str, Any]:
    connector = FakeConnector()
    await connector.start()
    members = [Member(LEAD.id, LEAD.aad, LEAD.name, "lead.bench@example.ac.uk")] + [
        Member(f"29:member-{i}", f"aad-member-{i:05d}", f"Member {i}", f"member.{i}@example.ac.uk") for i in range(rows)
    ]
    connector.teams[TEAM.id] = {"id": TEAM.id, "name": TEAM.name, "aadGroupId": TEAM.aad_group_id}
    connector.rosters[TEAM.id] = members
    body = _csv(rows)
    result: dict[str, Any] = {"rows": rows, "bytes": len(body)}
    with Azurite() as azurite:
        store = AzureTableStore.from_connection_string(azurite.connection_string)
        try:
            async with running_bot(store, connector=connector) as bot, file_server({"members.csv": body}) as base:
                await bot.post(bot.acts.installed_in_team(LEAD, TEAM))
                started = time.monotonic()
                preview = await bot.post(file_message(bot, LEAD, f"{base}/members.csv"))
                result["preview_s"] = round(time.monotonic() - started, 2)
                card = preview.card
                if card is None or "Import preview" not in card_text(preview):
                    return {**result, "error": card_text(preview)[:300]}
                title = find_action(card, "imports.apply")["title"]
                result["preview_button"] = title
                started = time.monotonic()
                clicked = await bot.press(LEAD, card, title)
                await settle(bot.services)
                result["apply_s"] = round(time.monotonic() - started, 2)
                result["click_status"] = clicked.status
                stored = await MembershipRepo(store).members_of(TEAM.id)
                result["members_stored"] = len(stored)
                result["core"] = sum(1 for m in stored if m.tier == "core")
                started = time.monotonic()
                again = await bot.post(file_message(bot, LEAD, f"{base}/members.csv"))
                result["second_preview_s"] = round(time.monotonic() - started, 2)
                again_text = card_text(again)
                result["second_changes_nothing"] = "Nothing to change" in again_text and "Apply" not in again_text
        finally:
            await store.close()
    await connector.close()
    result["within_targets"] = (
        result["preview_s"] <= PREVIEW_TARGET_S
        and result["apply_s"] <= APPLY_TARGET_S
        and result["members_stored"] == rows
        and bool(result["second_changes_nothing"])
    )
    return result


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    print(json.dumps(asyncio.run(run(rows))))


if __name__ == "__main__":
    main()
