"""Input safety: user text shown in cards is inert (no markdown, mentions, HTML or control characters), and
oversized input gets a clear reply and changes nothing."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.routing.limits import FIELD_TOO_LONG, MAX_FIELD_CHARS, MAX_MESSAGE_CHARS, TOO_LONG, TOO_MUCH, clean
from bot.security import audit
from cards.elements import safe
from storage.sqlite import SqliteStore
from tests.features.trust.kit import make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest
from tests.kit.recording import RecordingStore

ALICE = user(41, "Alice Adams")
TEAM = team(4, "Assessment")
SPECIAL = set("\\`*_[]<>~")
UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def unescaped_specials(text: str) -> list[str]:
    """Markdown-special characters not preceded by an escaping backslash."""
    found: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            i += 2
            continue
        if text[i] in SPECIAL:
            found.append(text[i])
        i += 1
    return found


@settings(max_examples=2000, deadline=None)
@given(st.text(max_size=300))
def test_safe_text_is_always_inert(text: str) -> None:
    shown = safe(text)
    assert not UNSAFE.search(shown)
    assert unescaped_specials(shown) == []
    assert "<at>" not in shown.lower()
    assert not re.search(r"(?m)^\s*[#>+\-]", shown)  # no headings, quotes or bullets at line starts
    assert not re.search(r"(?m)^\s*\d+\.", shown)  # no numbered lists
    assert len(shown) <= 2 * 2000 + 2


def test_safe_examples() -> None:
    assert safe("<at>Everyone</at>") == "\\<at\\>Everyone\\</at\\>"
    assert safe("**bold** _it_ [x](http://evil)") == "\\*\\*bold\\*\\* \\_it\\_ \\[x\\](http://evil)"
    assert safe("<script>alert(1)</script>") == "\\<script\\>alert(1)\\</script\\>"
    assert safe("# title\n- item\n1. first") == "\\# title\n\\- item\n1\\. first"
    assert safe("a\x00b\x07c\u202ed\u200be") == "abcde"
    assert safe("x" * 50, limit=10) == "x" * 9 + "…"


def test_clean_strips_control_and_bidi_but_keeps_text() -> None:
    assert clean("he\x00llo\u202e wor\u200bld\tok\n") == "hello world\tok\n"
    assert clean("Zoë Ångström 张伟 🙂") == "Zoë Ångström 张伟 🙂"


async def test_user_text_echoed_into_a_card_is_escaped(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    now = bot.services.clock.now()
    await make_cop(sqlite_store, TEAM, bot.connector.url, now, leads=(ALICE,))
    hostile = "<at>Everyone</at> **URGENT** [reset](https://evil.example) <img src=x onerror=alert(1)>\x07\u202e"
    await audit.record(sqlite_store, TEAM.id, now, ALICE.aad, hostile, "faq add", hostile)
    card = (await bot.say_in(ALICE, TEAM, "audit")).calls[0].card_text
    for raw in ("<at>", "</at>", "<img", "[reset]", "*URGENT*"):
        assert not re.search(r"(?<!\\)" + re.escape(raw), card), raw  # only ever with an escaping backslash
    assert "\x07" not in card
    assert "\u202e" not in card
    assert "\\<at\\>Everyone" in card


async def test_control_characters_in_commands_are_removed_before_routing(bot: BotUnderTest) -> None:
    posted = await bot.say(ALICE, "\u202ehe\x00lp\x07")
    assert "What I can do" in posted.everything


async def test_an_oversized_message_gets_a_clear_reply_and_changes_nothing(
    bot: BotUnderTest, sqlite_store: SqliteStore
) -> None:
    store = RecordingStore(sqlite_store)
    before = await store.snapshot({"cops", "people", "roster", "audit", "outbox", "queries", "faq"})
    posted = await bot.say(ALICE, "ask" + " why" * MAX_MESSAGE_CHARS)
    assert TOO_LONG.format(n=3 + 4 * MAX_MESSAGE_CHARS, limit=MAX_MESSAGE_CHARS) in posted.everything
    assert await store.snapshot({"cops", "people", "roster", "audit", "outbox", "queries", "faq"}) == before
    at_limit = await bot.say(ALICE, "help" + " " * (MAX_MESSAGE_CHARS - 4))
    assert "What I can do" in at_limit.everything


async def test_an_oversized_channel_post_not_for_the_bot_is_not_answered(bot: BotUnderTest) -> None:
    posted = await bot.say_in(ALICE, TEAM, "long " * MAX_MESSAGE_CHARS, mention_bot=False)
    assert posted.status == 201
    assert posted.calls == []


async def test_oversized_card_fields_get_a_clear_reply(bot: BotUnderTest) -> None:
    genuine = bot.sealed("help.show")
    long_field = await bot.click(ALICE, "help.show", {**genuine, "note": "x" * (MAX_FIELD_CHARS + 1)})
    assert long_field.body["value"] == FIELD_TOO_LONG.format(n=MAX_FIELD_CHARS + 1, limit=MAX_FIELD_CHARS)
    nested = await bot.click(ALICE, "help.show", {**genuine, "note": {"deep": ["y" * (MAX_FIELD_CHARS + 5)]}})
    assert "the limit is" in nested.body["value"]
    many = await bot.click(ALICE, "help.show", {**genuine, **{f"f{i}": "1" for i in range(100)}})
    assert many.body["value"] == TOO_MUCH
    submitted = await bot.submit(ALICE, {**genuine, "note": "x" * (MAX_FIELD_CHARS + 1)})
    assert "the limit is" in submitted.everything
    fine = await bot.click(ALICE, "help.show", {**genuine, "note": "x" * MAX_FIELD_CHARS})
    assert fine.body["type"] == "application/vnd.microsoft.card.adaptive"
