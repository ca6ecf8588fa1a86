"""``health`` starts the scorecard's reads as the activity arrives (bot/features/health.py ``read_ahead``), so they
overlap the redelivery claim instead of following it; only for a caller the CoP's row shows may see the scorecard,
and a read ahead that fails is made again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.features import health as health_feature
from bot.health.marking import TABLE as SNAPSHOTS
from storage.base import Unavailable
from storage.sqlite import SqliteStore
from tests.features.health.kit import NOW, Cast, make_cop
from tests.kit.activities import team
from tests.kit.claims import ClaimWatcher
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings

C = Cast()
LEAD = C.leads[0]
TEAM = team(1, "Data and Insight")


@pytest.fixture
async def watched(tmp_path: Path) -> AsyncIterator[ClaimWatcher]:
    store = ClaimWatcher(SqliteStore(tmp_path / "ahead.sqlite3"), awaited=SNAPSHOTS)
    yield store
    await store.close()


async def ready(bot: BotUnderTest) -> None:
    await make_cop(bot.services.store, bot.connector.url, TEAM, NOW, leads=C.leads, sponsor=C.sponsor)
    await health_feature.run_due(bot.services, NOW)  # the CoP's snapshot, as the minute tick keeps it
    await bot.say_in(LEAD, TEAM, "help")  # role resolution puts the CoP's row in this process's copy


async def test_a_leads_scorecard_is_read_while_the_redelivery_claim_is_made(
    watched: ClaimWatcher, connector: FakeConnector
) -> None:
    async with running_bot(watched, connector=connector, settings=test_settings(cop_cache_seconds=60)) as bot:
        await ready(bot)
        watched.during_claim.clear()
        posted = await bot.say_in(LEAD, TEAM, "health")
        assert "Health of Data and Insight" in posted.everything
        assert f"query:{SNAPSHOTS}" in watched.during_claim  # started before the claim was answered
        again = await bot.say_in(C.sponsor, TEAM, "health")  # the sponsor too
        assert "Health of Data and Insight" in again.everything


async def test_nothing_is_read_ahead_for_a_member_and_they_are_refused(
    watched: ClaimWatcher, connector: FakeConnector
) -> None:
    async with running_bot(watched, connector=connector, settings=test_settings(cop_cache_seconds=60)) as bot:
        await ready(bot)
        watched.during_claim.clear()
        watched.reset()
        member = await bot.say_in(Cast.member(1), TEAM, "health")
        assert "only this CoP's sponsor, leads and programme admins" in member.everything
        # the member's own role check may overlap the claim (Router.start_role); the scorecard's reads do not start
        assert [k for k in watched.during_claim if k.endswith((f":{SNAPSHOTS}", ":contrib"))] == []
        assert watched.calls[f"query:{SNAPSHOTS}"] == 0  # not read at all: a member cannot make the bot recount


async def test_without_the_cops_row_in_hand_the_scorecard_is_read_after_the_role_check(
    watched: ClaimWatcher, connector: FakeConnector
) -> None:
    async with running_bot(watched, connector=connector) as bot:  # no copy of CoP rows: nothing to start from
        await ready(bot)
        watched.during_claim.clear()
        posted = await bot.say_in(LEAD, TEAM, "health")
        assert "Health of Data and Insight" in posted.everything
        assert f"query:{SNAPSHOTS}" not in watched.during_claim


async def test_a_read_ahead_that_fails_is_made_again(
    watched: ClaimWatcher, connector: FakeConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(watched, connector=connector, settings=test_settings(cop_cache_seconds=60)) as bot:
        await ready(bot)
        real = health_feature.compute
        calls: list[str] = []

        async def flaky(*args: object, **kwargs: object) -> object:
            calls.append("compute")
            if len(calls) == 1:
                raise Unavailable("throttled")
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(health_feature, "compute", flaky)
        posted = await bot.say_in(LEAD, TEAM, "health")
        assert "Health of Data and Insight" in posted.everything
        assert calls == ["compute", "compute"]
