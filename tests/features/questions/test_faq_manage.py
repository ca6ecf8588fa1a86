"""The leads' FAQ management end to end: faq, faq add (form), faq remove, faq import (argument and form) with
per-row errors, and who may use them."""

from __future__ import annotations

import json

from bot.answers.faq import PROGRAMME_SCOPE
from bot.domain.faq import FaqRepo, plan_import
from bot.security.audit import recent
from tests.features.questions.kit import ASKER, LEAD, OTHER_LEAD, TEAM, TEAM_B, displayed, make_cop
from tests.kit.harness import BotUnderTest


async def entries(bot: BotUnderTest) -> dict[str, str]:
    return {e.entry_id: e.question for e in await FaqRepo(bot.services.store).entries(TEAM.id)}


async def add(bot: BotUnderTest, question: str, answer: str, alternatives: str = "") -> str:
    form = await bot.say_in(LEAD, TEAM, "faq add")
    pressed = await bot.press(
        LEAD, form.card, "Add to FAQ", {"question": question, "answer": answer, "alternatives": alternatives}
    )
    return json.dumps(pressed.body)


async def test_faq_lists_entries_with_ids(bot: BotUnderTest) -> None:
    await make_cop(bot)
    empty = await bot.say_in(LEAD, TEAM, "faq")
    assert "No entries of your own yet" in empty.everything
    await add(bot, "Where is the team calendar?", "In the Calendar tab.")
    await add(bot, "Who approves conference travel?", "Your line manager.")
    listed = await bot.say_in(LEAD, TEAM, "faq")
    shown = displayed(listed.card)
    assert "f1: Where is the team calendar?" in shown
    assert "f2: Who approves conference travel?" in shown
    assert "programme-wide entries" in shown


async def test_faq_add_form_stores_the_entry_and_audits_it(bot: BotUnderTest) -> None:
    await make_cop(bot)
    body = await add(bot, "Where is the team calendar?", "In the Calendar tab.", "calendar link\n\nwhere are events")
    assert "Added to the FAQ" in body
    [entry] = await FaqRepo(bot.services.store).entries(TEAM.id)
    assert entry.entry_id == "f1"
    assert entry.alternatives == ("calendar link", "where are events")
    assert entry.source == "lead"
    [logged] = await recent(bot.services.store, TEAM.id)
    assert logged.action == "faq.lead"
    assert logged.actor_aad_id == LEAD.aad


async def test_faq_add_with_missing_or_too_long_fields_shows_the_form_again(bot: BotUnderTest) -> None:
    await make_cop(bot)
    body = await add(bot, "Where is the calendar?", "   ")
    assert "the answer is missing" in body
    assert "Where is the calendar?" in body  # the lead's text is kept
    body = await add(bot, "Q" * 301, "An answer")
    assert "the question is too long" in body
    body = await add(bot, "Where?", "An answer", "\n".join(f"alt {i}" for i in range(6)))
    assert "too many alternative phrasings" in body
    assert await entries(bot) == {}


async def test_faq_add_refuses_a_duplicate_question(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await add(bot, "Where is the team calendar?", "In the Calendar tab.")
    body = await add(bot, "where is the TEAM calendar", "Elsewhere.")
    assert "already in the FAQ as f1" in body
    assert len(await entries(bot)) == 1


async def test_faq_remove(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await add(bot, "Where is the team calendar?", "In the Calendar tab.")
    removed = await bot.say_in(LEAD, TEAM, "faq remove F1")
    assert "Removed f1" in removed.everything
    assert await entries(bot) == {}
    again = await bot.say_in(LEAD, TEAM, "faq remove f1")
    assert "There is no entry f1" in again.everything
    usage = await bot.say_in(LEAD, TEAM, "faq remove")
    assert "Say which entry to remove" in usage.everything
    await bot.say(ASKER, "how do I join a CoP?")  # loads the programme FAQ
    programme = await bot.say_in(LEAD, TEAM, "faq remove how-to-join")
    assert "programme-wide entry" in programme.everything
    assert await FaqRepo(bot.services.store).get(PROGRAMME_SCOPE, "how-to-join") is not None
    odd = await bot.say_in(LEAD, TEAM, "faq remove **f9**")
    assert "There is no entry \\*\\*f9\\*\\*" in odd.everything


async def test_members_cannot_manage_the_faq(bot: BotUnderTest) -> None:
    await make_cop(bot)
    for command in ("faq", "faq add", "faq remove f1", "faq import q,a"):
        posted = await bot.say_in(ASKER, TEAM, command)
        assert "only this CoP's leads" in posted.everything, command
    assert await entries(bot) == {}


async def test_a_lead_of_another_cop_cannot_use_this_cops_form(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM)
    await make_cop(bot, TEAM_B, leads=(OTHER_LEAD,))
    form = await bot.say_in(LEAD, TEAM, "faq add")
    pressed = await bot.press(OTHER_LEAD, form.card, "Add to FAQ", {"question": "Q?", "answer": "A."})
    assert "only this CoP's leads" in json.dumps(pressed.body)
    assert await entries(bot) == {}


async def test_faq_import_as_an_argument(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, 'faq import "Where is the calendar?","In the Calendar tab, top right."')
    assert "Imported 1 entry" in posted.everything
    assert await entries(bot) == {"f1": "Where is the calendar?"}


async def test_faq_import_form_reports_each_bad_row_and_imports_the_rest(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await add(bot, "Where is the team calendar?", "In the Calendar tab.")
    csv_text = "\n".join(
        [
            "question,answer,alternatives",
            '"Who approves travel, and how?","Your line manager, via the form.",travel approval|who signs travel',
            "Only a question",
            "Where is the team calendar?,Somewhere else",
            f"{'Q' * 301},too long question",
            "Where are the minutes?,In the Files tab",
            "where are the MINUTES,duplicate of the row above",
            ",an answer without a question",
            "Is there a <b>social</b>?,**Yes**: every Friday",
        ]
    )
    form = await bot.say_in(LEAD, TEAM, "faq import")
    assert "Import FAQ entries" in form.everything
    pressed = await bot.press(LEAD, form.card, "Import", {"csv": csv_text})
    report = displayed(pressed.body["value"])
    assert "Imported 3 entries" in report
    assert "row 3: missing columns" in report
    assert "row 4: duplicate of f1" in report
    assert "row 5: the question is too long" in report
    assert "row 7: duplicate of row 6" in report
    assert "row 8: the question is missing" in report
    stored = await FaqRepo(bot.services.store).entries(TEAM.id)
    assert [e.entry_id for e in stored] == ["f1", "f2", "f3", "f4"]
    assert stored[1].alternatives == ("travel approval", "who signs travel")
    assert stored[1].source == "csv"
    # the imported entries answer questions at once
    asked = await bot.say_in(ASKER, TEAM, "ask who approves travel?")
    assert "Your line manager" in asked.everything


async def test_faq_import_of_nothing_or_malformed_csv_changes_nothing(bot: BotUnderTest) -> None:
    await make_cop(bot)
    form = await bot.say_in(LEAD, TEAM, "faq import")
    empty = await bot.press(LEAD, form.card, "Import", {"csv": "   "})
    assert "Paste some CSV first" in json.dumps(empty.body)
    broken = await bot.press(LEAD, form.card, "Import", {"csv": 'question,answer\n"unterminated,quote'})
    assert "could not be read" in json.dumps(broken.body) or "missing columns" in json.dumps(broken.body)
    header_only = await bot.press(LEAD, form.card, "Import", {"csv": "question,answers"})
    assert "needs both a 'question' and an 'answer' column" in json.dumps(header_only.body)
    assert await entries(bot) == {}


def test_plan_import_limits() -> None:
    plan = plan_import("q,a\n" * 501, [])
    assert not plan.valid
    assert "too many rows" in plan.errors[0].reason
    plan = plan_import("x" * 40_000, [])
    assert "too long" in plan.errors[0].reason
    plan = plan_import("\ufeffQuestion,Answer\nWhat?,That.\n\n", [])
    assert [d.question for d in plan.valid] == ["What?"]
