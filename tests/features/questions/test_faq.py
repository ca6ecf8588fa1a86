"""Answering from the FAQ end to end: ask / free text in personal chat and by @mention, "Did this help?", the
programme FAQ in storage, the per-CoP index cache, abstaining into a query, and bad input."""

from __future__ import annotations

import json

from bot.answers.faq import PROGRAMME_SCOPE, load_programme_faq
from bot.domain.faq import META, TABLE, FaqRepo
from bot.domain.faq_indexes import FaqIndexes
from bot.domain.queries import QueryRepo
from storage.base import Where
from tests.features.questions.kit import (
    ANSWERABLE,
    ASKER,
    BOB,
    LEAD,
    STRANGER,
    TEAM,
    TEAM_B,
    UNANSWERABLE,
    displayed,
    flush,
    make_cop,
    with_text,
)
from tests.kit.activities import user
from tests.kit.harness import BotUnderTest, find_action


def faq_indexes(bot: BotUnderTest) -> FaqIndexes:
    found = bot.services.faq_indexes
    assert found is not None, "the FAQ's indexes are made on the first question"
    return found


async def test_programme_faq_is_loaded_into_storage_on_first_use(bot: BotUnderTest) -> None:
    version, entries = load_programme_faq()
    repo = FaqRepo(bot.services.store)
    assert await repo.entries(PROGRAMME_SCOPE) == []
    posted = await bot.say(ASKER, ANSWERABLE)
    assert "Did this help?" in posted.everything
    stored = await repo.entries(PROGRAMME_SCOPE)
    assert {e.entry_id for e in stored} == {e.entry_id for e in entries}
    meta = await repo.meta(PROGRAMME_SCOPE)
    assert meta is not None
    assert meta["version"] == version


async def test_programme_faq_is_upgraded_when_the_file_version_is_newer(bot: BotUnderTest) -> None:
    store = bot.services.store
    version, entries = load_programme_faq()
    # storage holds an older version with an edited entry and one the new file no longer has
    await store.upsert(TABLE, PROGRAMME_SCOPE, META, {"version": version - 1})
    await store.upsert(TABLE, PROGRAMME_SCOPE, "retired-entry", {"question": "Old?", "answer": "Old."})
    await store.upsert(TABLE, PROGRAMME_SCOPE, entries[0].entry_id, {"question": "Stale", "answer": "Stale"})
    repo = FaqRepo(store)
    assert await repo.ensure_programme(bot.services.clock.now()) == version
    stored = {e.entry_id: e for e in await repo.entries(PROGRAMME_SCOPE)}
    assert "retired-entry" not in stored
    assert stored[entries[0].entry_id].question == entries[0].question
    assert len(stored) == len(entries)
    # the same version again changes nothing (the meta row keeps its ETag)
    before = await repo.revision(PROGRAMME_SCOPE)
    await repo.ensure_programme(bot.services.clock.now())
    assert await repo.revision(PROGRAMME_SCOPE) == before


async def test_ask_in_personal_chat_answers_with_a_card_and_feedback_buttons(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say(ASKER, f"ask {ANSWERABLE}")
    card = posted.card
    assert card is not None
    text = posted.everything
    assert "You asked: how do I join a CoP?" in text
    assert "Source: Programme FAQ" in text
    assert find_action(card, "Yes, thanks")["type"] == "Action.Execute"
    assert find_action(card, "No, it didn't help")["type"] == "Action.Execute"
    yes = await bot.press(ASKER, card, "Yes, thanks")
    assert yes.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Glad that helped" in json.dumps(yes.body)
    assert "Did this help?" not in json.dumps(yes.body)
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_free_text_is_treated_as_a_question(bot: BotUnderTest) -> None:
    posted = await bot.say(ASKER, "can I be core in two CoPs?")
    assert "Did this help?" in posted.everything
    assert "Source: Programme FAQ" in posted.everything


async def test_mention_in_a_channel_answers_in_the_channel(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say_in(ASKER, TEAM, "What does a CoP sponsor do?")
    [call] = posted.calls
    assert call.conversation_id.startswith(TEAM.general)
    assert "Did this help?" in call.card_text
    # who the sponsor is comes from the CoP directory, in the channel too
    [call] = (await bot.say_in(ASKER, TEAM, "Who is the sponsor of our CoP?")).calls
    assert call.conversation_id.startswith(TEAM.general)
    assert "Sponsor: not set on CoP Bot yet" in call.everything


async def test_cop_entries_are_searched_and_the_index_is_rebuilt_only_after_a_change(bot: BotUnderTest) -> None:
    await make_cop(bot)
    question = "where are the slides from the last lunch and learn?"
    first = await bot.say_in(ASKER, TEAM, f"ask {question}")
    assert "Add an FAQ entry" not in first.everything
    cached = faq_indexes(bot)._cache[TEAM.id]
    again = await bot.say_in(BOB, TEAM, "ask how do I join a CoP?")
    assert "Did this help?" in again.everything
    assert faq_indexes(bot)._cache[TEAM.id] is cached  # no change, no rebuild
    form = await bot.say_in(LEAD, TEAM, "faq add")
    added = await bot.press(
        LEAD,
        form.card,
        "Add to FAQ",
        {"question": "Where are the slides from the last Lunch and Learn?", "answer": "On the *Files* tab.",
         "alternatives": "lunch and learn slides\nrecording of the talk"},
    )  # fmt: skip
    assert "Added to the FAQ" in json.dumps(added.body)
    after = await bot.say_in(ASKER, TEAM, f"ask {question}")
    assert faq_indexes(bot)._cache[TEAM.id] is not cached
    assert "On the \\\\*Files\\\\* tab" in json.dumps(after.card) or "On the \\*Files\\* tab" in after.everything
    assert "Data \\& Insight FAQ (f1)" in after.everything or "Data & Insight FAQ (f1)" in after.everything


async def test_no_confident_answer_opens_a_query_and_notifies_each_lead(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say(ASKER, UNANSWERABLE)
    assert "passed it to the leads of **Data & Insight**" in posted.everything.replace("\\&", "&")
    [query] = await QueryRepo(bot.services.store).of_cop(TEAM.id)
    assert query.text == UNANSWERABLE
    assert query.asker_aad == ASKER.aad
    assert query.place_kind == "personal"
    assert query.origin == "ask"
    assert query.is_open
    delivered = await flush(bot)
    notes = with_text(delivered, "New question for the leads")
    assert len(notes) == 2  # one per lead, in their personal chats
    assert all(UNANSWERABLE in c.card_text for c in notes)
    created = [json.dumps(c.body) for c in bot.connector.created()]
    assert any(LEAD.id in body for body in created)


async def test_not_helpful_opens_a_query(bot: BotUnderTest) -> None:
    await make_cop(bot)
    shown = await bot.say(ASKER, ANSWERABLE)
    pressed = await bot.press(ASKER, shown.card, "No, it didn't help")
    assert "Passed to the leads" in json.dumps(pressed.body)
    [query] = await QueryRepo(bot.services.store).of_cop(TEAM.id)
    assert query.origin == "not_helpful"
    assert query.text == ANSWERABLE
    assert len(with_text(await flush(bot), "New question for the leads")) == 2


async def test_a_tampered_question_on_the_feedback_button_is_refused(bot: BotUnderTest) -> None:
    await make_cop(bot)
    shown = await bot.say(ASKER, ANSWERABLE)
    data = dict(find_action(shown.card or {}, "No, it didn't help")["data"])
    data["q"] = "something else entirely"
    pressed = await bot.click(ASKER, "faq.not_helped", data)
    assert "altered" in json.dumps(pressed.body)
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_personal_chat_with_several_cops_asks_which_cop(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM)
    await make_cop(bot, TEAM_B)
    posted = await bot.say(ASKER, UNANSWERABLE)
    assert "Which CoP should I ask?" in posted.everything
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []
    picked = await bot.press(ASKER, posted.card, "Ask this CoP", {"target_cop": TEAM_B.id})
    assert "Comms" in json.dumps(picked.body)
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []
    [query] = await QueryRepo(bot.services.store).of_cop(TEAM_B.id)
    assert query.text == UNANSWERABLE


async def test_someone_in_no_cop_chooses_among_all_cops_and_a_bogus_choice_is_refused(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM, members=())
    await make_cop(bot, TEAM_B, members=(), leads=(user(20),))
    posted = await bot.say(STRANGER, UNANSWERABLE)
    assert "Which CoP should I ask?" in posted.everything
    bogus = await bot.press(STRANGER, posted.card, "Ask this CoP", {"target_cop": "19:nope@thread.tacv2"})
    assert "choose one of the CoPs" in json.dumps(bogus.body)
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_someone_in_no_cop_with_one_cop_existing_gets_it_passed_on(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM, members=())
    posted = await bot.say(STRANGER, UNANSWERABLE)
    assert "passed it to the leads" in posted.everything
    assert len(await QueryRepo(bot.services.store).of_cop(TEAM.id)) == 1


async def test_no_cop_at_all_is_explained(bot: BotUnderTest) -> None:
    posted = await bot.say(STRANGER, UNANSWERABLE)
    assert "no CoP is set up yet" in posted.everything


# -- bad input --------------------------------------------------------------------------------------------------


async def test_empty_ask_explains_how(bot: BotUnderTest) -> None:
    posted = await bot.say(ASKER, "ask")
    assert "Type your question after **ask**" in posted.everything
    posted = await bot.say(ASKER, "ask    ")
    assert "Type your question after **ask**" in posted.everything


async def test_a_20kb_message_is_refused_clearly_and_records_nothing(bot: BotUnderTest) -> None:
    await make_cop(bot)
    huge = "how do I join a CoP? " + "x" * 20_000
    posted = await bot.say(ASKER, huge)
    assert posted.status == 201
    assert "too long for me to search" in posted.everything
    posted = await bot.say_in(ASKER, TEAM, "ask " + huge)
    assert "too long for me to search" in posted.everything
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_markdown_and_html_in_a_question_are_echoed_inert(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say(ASKER, "ask how do I **join** a _CoP_?")
    text = displayed(posted.card)
    assert "Did this help?" in text
    assert "**join**" not in text
    assert "You asked: how do I \\*\\*join\\*\\* a \\_CoP\\_?" in text
    await bot.say(ASKER, "ask [click me](http://evil.example) is the printer broken?")
    notes = with_text(await flush(bot), "New question for the leads")
    assert notes
    assert all("[click me](http" not in displayed(c.card) and "\\[click me\\]" in displayed(c.card) for c in notes)


async def test_markdown_in_an_unanswered_question_is_inert_in_the_lead_card(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, "is the <b>printer</b> on **floor 3** broken?")
    [note, *_] = with_text(await flush(bot), "New question for the leads")
    assert "<b>printer</b>" not in displayed(note.card)
    assert "\\*\\*floor 3\\*\\*" in displayed(note.card)


async def test_queries_and_faq_keep_nothing_for_an_answered_question(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, ANSWERABLE)
    rows = await bot.services.store.query("queries", None, [Where("cop_id", "eq", TEAM.id)])
    assert rows == []
