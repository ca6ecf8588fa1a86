"""Authorisation: roles come from storage on every command and every card press, never from card data; card
actions are sealed to their verb, CoP and object and refused when forged, altered, expired or pressed in
another CoP's team."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta

import pytest

from bot.core import messages
from bot.core.clock import FakeClock
from bot.domain.cops import CopRepo
from bot.health.marking import raw_store
from bot.security import audit
from storage.sqlite import SqliteStore
from tests.features.trust.kit import join, make_cop
from tests.kit.activities import User, team, user
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot
from tests.kit.recording import RecordingStore

LEAD = user(10, "Lena Lead")
MEMBER = user(11, "Mo Member")
STRANGER = user(12, "Sam Stranger")
ADMIN = User(id="29:user-13", aad="aad-admin", name="Ada Admin")  # the harness lists aad-admin as admin
TEAM_A = team(1, "Data and Insight")
TEAM_B = team(2, "Research Software")
NOT_ALLOWED_LEADS = messages.NOT_ALLOWED.format(who=messages.ROLE_NAMES[3])


@pytest.fixture
async def world(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    """CoP A led by LEAD with MEMBER; CoP B led by LEAD too (so only the place tells them apart)."""
    store = RecordingStore(sqlite_store)
    async with running_bot(store, connector=connector) as bot:  # type: ignore[arg-type]
        now = bot.services.clock.now()
        await make_cop(sqlite_store, TEAM_A, connector.url, now, leads=(LEAD,))
        await make_cop(sqlite_store, TEAM_B, connector.url, now, leads=(LEAD,))
        await join(sqlite_store, TEAM_A, MEMBER, now)
        await audit.record(sqlite_store, TEAM_A.id, now, LEAD.aad, LEAD.name, "faq add", "in A")
        await audit.record(sqlite_store, TEAM_B.id, now, LEAD.aad, LEAD.name, "faq add", "in B")
        yield bot


def log_of(posted_text: str) -> str:
    return "in A" if "in A" in posted_text else "in B" if "in B" in posted_text else "none"


async def test_lead_only_command_is_checked_against_storage(world: BotUnderTest) -> None:
    shown = await world.say_in(LEAD, TEAM_A, "audit")
    assert "Audit log" in shown.everything
    assert log_of(shown.everything) == "in A"
    for who in (MEMBER, STRANGER):
        refused = await world.say_in(who, TEAM_A, "audit")
        assert NOT_ALLOWED_LEADS in refused.everything
        assert "Audit log" not in refused.everything
    admin = await world.say_in(ADMIN, TEAM_A, "audit")
    assert "Audit log" in admin.everything


async def test_a_member_pressing_a_lead_only_button_is_refused(world: BotUnderTest) -> None:
    lead_card = (await world.say_in(LEAD, TEAM_A, "audit")).card
    for who in (MEMBER, STRANGER):
        pressed = await world.press(who, lead_card, "Refresh", where=TEAM_A)
        assert pressed.body["value"] == NOT_ALLOWED_LEADS
        # in personal chat the CoP comes from the sealed cop_id, and the role is still looked up for it
        personal = await world.click(who, "audit.show", world.sealed("audit.show", {"cop_id": TEAM_A.id}))
        assert personal.body["value"] == NOT_ALLOWED_LEADS


async def test_no_role_is_ever_taken_from_card_data(world: BotUnderTest) -> None:
    genuine = world.sealed("audit.show", {"cop_id": TEAM_A.id})
    claims = {
        "role": "lead",
        "Role": 4,
        "is_lead": True,
        "is_admin": True,
        "aad_id": LEAD.aad,
        "aadObjectId": LEAD.aad,
        "user_id": LEAD.id,
        "from": {"id": LEAD.id, "aadObjectId": LEAD.aad},
        "leads": [LEAD.aad, MEMBER.aad],
    }
    for where in (None, TEAM_A):
        pressed = await world.click(MEMBER, "audit.show", {**genuine, **claims}, where=where)
        assert pressed.body["value"] == NOT_ALLOWED_LEADS
        submitted = await world.submit(MEMBER, {**genuine, **claims}, where=where)
        assert NOT_ALLOWED_LEADS in submitted.everything
        assert "Audit log" not in submitted.everything


async def test_a_button_of_cop_a_pressed_in_cop_b_is_refused(world: BotUnderTest) -> None:
    card_a = (await world.say_in(LEAD, TEAM_A, "audit")).card
    # LEAD leads both CoPs, so only the cross-CoP check stands between the button and B's log
    pressed = await world.press(LEAD, card_a, "Refresh", where=TEAM_B)
    assert pressed.body["value"] == messages.OTHER_COP
    submitted = await world.submit(LEAD, world.sealed("audit.show", {"cop_id": TEAM_A.id}), where=TEAM_B)
    assert messages.OTHER_COP in submitted.everything
    assert log_of(submitted.everything) == "none"
    # where it was posted, it works
    assert "in A" in str((await world.press(LEAD, card_a, "Refresh", where=TEAM_A)).body)


async def test_a_cop_id_swapped_on_a_genuine_button_is_refused(world: BotUnderTest) -> None:
    genuine = world.sealed("audit.show", {"cop_id": TEAM_A.id})
    for where in (None, TEAM_B):
        swapped = await world.click(LEAD, "audit.show", {**genuine, "cop_id": TEAM_B.id}, where=where)
        assert "altered" in swapped.body["value"]
    no_cop = await world.click(LEAD, "audit.show", {k: v for k, v in genuine.items() if k != "cop_id"})
    assert "altered" in no_cop.body["value"]


async def test_forged_unsealed_and_expired_buttons_are_refused(world: BotUnderTest) -> None:
    forged = await world.click(LEAD, "audit.show", {"cop_id": TEAM_A.id})
    assert "didn't come from me" in forged.body["value"]
    bad_seal = await world.click(LEAD, "audit.show", {"cop_id": TEAM_A.id, "_seal": "abc.def"})
    assert "didn't come from me" in bad_seal.body["value"]
    genuine = world.sealed("audit.show", {"cop_id": TEAM_A.id})
    other_verb = await world.click(LEAD, "help.show", genuine)
    assert "altered" in other_verb.body["value"]
    clock = world.services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=121))
    expired = await world.click(LEAD, "audit.show", genuine, where=TEAM_A)
    assert "expired" in expired.body["value"]


async def test_a_lead_removed_after_the_card_was_sent_is_refused(world: BotUnderTest) -> None:
    card_a = (await world.say_in(LEAD, TEAM_A, "audit")).card
    store = world.services.store
    await CopRepo(store).change(TEAM_A.id, world.services.clock.now(), lambda cop: replace(cop, leads=()))
    pressed = await world.press(LEAD, card_a, "Refresh", where=TEAM_A)
    assert pressed.body["value"] == NOT_ALLOWED_LEADS


async def test_refused_actions_change_nothing_but_the_redelivery_claim(world: BotUnderTest) -> None:
    store = raw_store(world.services.store)
    assert isinstance(store, RecordingStore)
    tables = {"cops", "people", "roster", "audit", "outbox", "dedupe"}
    before = await store.snapshot(tables)
    genuine = world.sealed("audit.show", {"cop_id": TEAM_A.id})
    await world.click(MEMBER, "audit.show", genuine)
    await world.click(LEAD, "audit.show", {**genuine, "cop_id": TEAM_B.id})
    await world.submit(LEAD, genuine, where=TEAM_B)
    after = await store.snapshot(tables)
    assert {key[0] for key in set(before) ^ set(after)} == {"dedupe"}  # three new redelivery claims
    assert {k: v for k, v in before.items() if k[0] != "dedupe"} == {k: v for k, v in after.items() if k[0] != "dedupe"}
