"""The caller's role is resolved while the redelivery claim is made (Router.start_role, called by the dedupe
middleware): its reads overlap the claim's round trip, and a duplicate delivery still stops at the claim with
nothing written."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.members import PEOPLE
from bot.routing.middleware import DEDUPE_TABLE
from storage.sqlite import SqliteStore
from tests.features.membership.kit import install
from tests.kit.activities import team, user
from tests.kit.claims import ClaimWatcher
from tests.kit.connector import FakeConnector
from tests.kit.harness import running_bot

LEAD = user(1, "Alice Adams")
MEMBER = user(2, "Bob Brown")
DATA = team(1, "Data and Insight")


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[ClaimWatcher]:
    store = ClaimWatcher(SqliteStore(tmp_path / "claim.sqlite3"), awaited=PEOPLE)
    yield store
    await store.close()


async def test_a_members_role_is_read_while_the_claim_is_made(watched: ClaimWatcher, connector: FakeConnector) -> None:
    async with running_bot(watched, connector=connector) as bot:
        await install(bot, LEAD, DATA, MEMBER)
        watched.during_claim.clear()
        refused = await bot.say_in(MEMBER, DATA, "setup")  # a lead's command: the role check decides
        assert "only this CoP's leads" in refused.everything
        assert f"query:{PEOPLE}" in watched.during_claim


async def test_a_duplicate_delivery_stops_at_the_claim_and_writes_nothing_more(
    watched: ClaimWatcher, connector: FakeConnector
) -> None:
    async with running_bot(watched, connector=connector) as bot:
        await install(bot, LEAD, DATA, MEMBER)
        activity = bot.acts.channel(MEMBER, DATA, "help")
        first = await bot.post(activity)
        assert first.status in (200, 201)
        watched.reset()
        again = await bot.post(activity)  # Teams redelivers the same activity
        assert again.status in (200, 201)
        assert again.calls == []  # nothing said twice
        writes = [k for k in watched.calls if not k.startswith(("get:", "query:", f"insert:{DEDUPE_TABLE}"))]
        assert writes == []
