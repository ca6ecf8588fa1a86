"""``audit``: a CoP's recent lead/admin actions, newest first, for its leads only."""

from __future__ import annotations

from datetime import timedelta

from bot.features.audit import WHICH_COP
from bot.security import audit
from cards.audit import NONE_YET
from storage.sqlite import SqliteStore
from tests.features.trust.kit import make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

LEAD = user(20, "Lena Lead")
OTHER_LEAD = user(21, "Olu Other")
TEAM_A = team(1, "Data and Insight")
TEAM_B = team(2, "Research Software")


async def test_audit_shows_this_cops_entries_newest_first(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    now = bot.services.clock.now()
    await make_cop(sqlite_store, TEAM_A, bot.connector.url, now, leads=(LEAD,))
    await make_cop(sqlite_store, TEAM_B, bot.connector.url, now, leads=(OTHER_LEAD,))
    for hours, action in ((3, "event new"), (1, "faq remove"), (2, "leads add")):
        await audit.record(sqlite_store, TEAM_A.id, now - timedelta(hours=hours), LEAD.aad, LEAD.name, action, "x")
    await audit.record(sqlite_store, TEAM_B.id, now, OTHER_LEAD.aad, OTHER_LEAD.name, "survey start", "secret-b")
    shown = await bot.say_in(LEAD, TEAM_A, "audit")
    text = shown.calls[0].card_text
    assert text.index("faq remove") < text.index("leads add") < text.index("event new")
    assert "secret-b" not in text
    assert "Mon 23 Nov 2026 09:00" in text  # 09:00 UTC shown in Europe/London (GMT in November)
    # in personal chat, a lead of exactly one CoP gets that CoP's log
    personal = await bot.say(LEAD, "audit")
    assert "faq remove" in personal.everything
    refreshed = await bot.press(LEAD, personal.card, "Refresh")
    assert "faq remove" in str(refreshed.body)


async def test_audit_with_nothing_recorded_says_so(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    await make_cop(sqlite_store, TEAM_A, bot.connector.url, bot.services.clock.now(), leads=(LEAD,))
    assert NONE_YET in (await bot.say_in(LEAD, TEAM_A, "audit")).everything


async def test_a_lead_of_two_cops_is_asked_where(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    now = bot.services.clock.now()
    await make_cop(sqlite_store, TEAM_A, bot.connector.url, now, leads=(LEAD,))
    await make_cop(sqlite_store, TEAM_B, bot.connector.url, now, leads=(LEAD,))
    assert WHICH_COP in (await bot.say(LEAD, "audit")).everything


async def test_audit_shows_at_most_twenty_entries(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    now = bot.services.clock.now()
    await make_cop(sqlite_store, TEAM_A, bot.connector.url, now, leads=(LEAD,))
    for minute in range(25):
        await audit.record(sqlite_store, TEAM_A.id, now - timedelta(minutes=minute), LEAD.aad, LEAD.name, f"a{minute}")
    text = (await bot.say_in(LEAD, TEAM_A, "audit")).calls[0].card_text
    assert "The latest 20 actions" in text
    assert "a0" in text
    assert "a19" in text
    assert "a20" not in text


async def test_audit_text_is_escaped(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    now = bot.services.clock.now()
    await make_cop(sqlite_store, TEAM_A, bot.connector.url, now, leads=(LEAD,))
    await audit.record(
        sqlite_store, TEAM_A.id, now, LEAD.aad, "<at>Everyone</at> **Boss**", "faq add", "[click](https://evil.example)"
    )
    card = (await bot.say_in(LEAD, TEAM_A, "audit")).calls[0].card_text
    assert "<at>" not in card
    assert "\\<at\\>" in card
    assert "**Boss**" not in card
    assert "[click](" not in card
