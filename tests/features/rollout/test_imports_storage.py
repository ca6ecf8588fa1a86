"""Imports and invitation runs on both stores (SQLite and Azurite): two leads importing at once, an import
interrupted part way and finished by the minute tick, and an invitation run end to end."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.import_store import ImportStore
from bot.domain.members import MembershipRepo
from bot.features import imports, invitations
from storage.base import TableStore
from tests.features.membership.kit import state
from tests.features.rollout.kit import apply_preview, card_text, email_of, install_with_roster
from tests.kit.activities import Team, User, team, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot


@dataclass(frozen=True)
class Cast:
    lead: User
    co_lead: User
    people: tuple[User, ...]
    where: Team


def cast() -> Cast:
    """People and a team of their own: Azurite's tables are shared by every test of a run."""
    n = random.randint(100_000, 900_000)
    people = tuple(user(n + 10 + i, f"Person {n + i}") for i in range(12))
    return Cast(user(n, f"Lead {n}"), user(n + 1, f"Colead {n}"), people, team(n, f"Data {n}"))


@pytest.fixture(params=["sqlite", pytest.param("azure", marks=pytest.mark.azurite)])
async def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[TableStore, TableStore]]:
    """Two clients of one store: what two bot instances sharing storage see."""
    if request.param == "sqlite":
        from storage.sqlite import SqliteStore

        first: TableStore = SqliteStore(tmp_path / "store.sqlite3")
        second: TableStore = SqliteStore(tmp_path / "store.sqlite3")
    else:
        from storage.azure import AzureTableStore

        url = request.getfixturevalue("azurite").connection_string
        first = AzureTableStore.from_connection_string(url)
        second = AzureTableStore.from_connection_string(url)
    yield first, second
    await first.close()
    await second.close()


async def _lead_both(bot: BotUnderTest, c: Cast) -> None:
    added = await bot.say_in(c.lead, c.where, f"leads add @{c.co_lead.name}", mentions=(c.co_lead,))
    assert "now a lead" in added.everything


async def test_two_leads_importing_at_once_leave_each_person_once_with_one_notice(
    two_stores: tuple[TableStore, TableStore], connector: FakeConnector
) -> None:
    c = cast()
    first_store, second_store = two_stores
    async with (
        running_bot(first_store, connector=connector) as first,
        running_bot(second_store, connector=connector) as second,
    ):
        await install_with_roster(first, c.lead, c.where, c.co_lead, *c.people)
        await _lead_both(first, c)
        rows = "".join(f"{email_of(p)},{'core' if i % 3 == 0 else 'wider'}\n" for i, p in enumerate(c.people))
        csv = "email,tier\n" + rows
        a = await first.say(c.lead, "import members\n" + csv)
        b = await second.say(c.co_lead, "import members\n" + csv)
        connector.clear()
        await asyncio.gather(apply_preview(first, c.lead, a), apply_preview(second, c.co_lead, b))
        members = await MembershipRepo(first_store).members_of(c.where.id)
        assert sorted(m.aad_id for m in members) == sorted(p.aad for p in c.people)
        for i, person in enumerate(c.people):
            stored = await state(first, person)
            assert stored.memberships[c.where.id][0].tier == ("core" if i % 3 == 0 else "wider")
        notices = [x for x in connector.sent() if "added you from their membership list" in x.everything]
        assert sorted(connector.recipient(x) for x in notices) == sorted(p.id for p in c.people)
        results = [x.everything for x in connector.sent() if "Import done" in x.everything]
        assert len(results) == 2
        again = await first.say(c.lead, "import members\n" + csv)
        assert "Nothing to change" in card_text(again)


async def test_an_import_stopped_part_way_is_finished_by_the_tick(
    two_stores: tuple[TableStore, TableStore], connector: FakeConnector
) -> None:
    c = cast()
    first_store, second_store = two_stores
    async with running_bot(first_store, connector=connector) as first:
        await install_with_roster(first, c.lead, c.where, *c.people)
        csv = "email,tier\n" + "".join(f"{email_of(p)},wider\n" for p in c.people)
        preview = await first.say(c.lead, "import members\n" + csv)
        card = preview.card
        assert card is not None
        import_id = next(a for a in card["actions"] if a["data"]["verb"] == "imports.apply")["data"]["id"].split(".")[0]
        real = MembershipRepo.join
        joined = 0

        async def dies_after_five(self: MembershipRepo, *args: object, **kwargs: object) -> object:
            nonlocal joined
            joined += 1
            if joined > 5:
                raise ConnectionResetError("the process is going away")
            return await real(self, *args, **kwargs)  # type: ignore[arg-type]

        MembershipRepo.join = dies_after_five  # type: ignore[assignment,method-assign]
        try:
            await apply_preview(first, c.lead, preview)
        finally:
            MembershipRepo.join = real  # type: ignore[method-assign]
        head = await ImportStore(first_store).head(import_id)
        assert head is not None
        assert head.status == "applying"
        assert 0 < len(await MembershipRepo(first_store).members_of(c.where.id)) < len(c.people)
    async with running_bot(second_store, connector=connector) as second:
        later = second.services.clock.now() + timedelta(minutes=11)
        assert await imports.run_due(second.services, later) == 1
        await second.services.outbox.flush(later)
        members = await MembershipRepo(second_store).members_of(c.where.id)
        assert sorted(m.aad_id for m in members) == sorted(p.aad for p in c.people)
        notices = [x for x in connector.sent() if "added you from their membership list" in x.everything]
        assert sorted(connector.recipient(x) for x in notices) == sorted(p.id for p in c.people)
        finished = await ImportStore(second_store).head(import_id)
        assert finished is not None
        assert finished.status == "applied"


async def test_an_invitation_run_on_both_stores(
    two_stores: tuple[TableStore, TableStore], connector: FakeConnector
) -> None:
    c = cast()
    first_store, second_store = two_stores
    async with (
        running_bot(first_store, connector=connector) as first,
        running_bot(second_store, connector=connector) as second,
    ):
        await install_with_roster(first, c.lead, c.where, c.co_lead, *c.people)
        await _lead_both(first, c)
        offer = await first.say_in(c.lead, c.where, "invite")
        card = next(x.card for x in offer.calls if x.card is not None)
        connector.clear()
        title = f"Invite {len(c.people) + 2} people"
        one, two = await asyncio.gather(
            first.press(c.lead, card, title, where=c.where), second.press(c.co_lead, card, title, where=c.where)
        )
        await invitations.settle(first.services)
        await invitations.settle(second.services)
        now = first.services.clock.now()
        await first.services.outbox.flush(now)
        await second.services.outbox.flush(now)
        await invitations.run_due(second.services, now + timedelta(minutes=1))
        await second.services.outbox.flush(now + timedelta(minutes=1))
        cards: dict[str, int] = {}
        for call in connector.sent():
            if "its leads invite you to join it" in call.everything:
                cards[connector.recipient(call)] = cards.get(connector.recipient(call), 0) + 1
        assert cards == {p.id: 1 for p in (c.lead, c.co_lead, *c.people)}
        reports = [x for x in connector.sent(c.where.id) if "done" in x.everything and "Invitations to" in x.everything]
        assert len(reports) == 1
        assert sum("Inviting" in str(p.body) for p in (one, two)) == 1  # one started it
        assert sum("already under way" in str(p.body) for p in (one, two)) == 1  # the other was told
