"""Unsure questions about the programme as a whole go to the programme team (the admins) as open queries they answer
with the leads' cards; questions about a CoP's own business, or naming a CoP, still go to that CoP's leads."""

from __future__ import annotations

import json

from bot.answers.audience import IN_COP_FLOOR, audience_of
from bot.answers.faq import FaqEntry
from bot.answers.ranker import Match
from bot.domain.queries import QueryRepo
from bot.features import queries
from bot.features.programme_queries import PROGRAMME_DESK
from storage.sqlite import SqliteStore
from tests.features.questions.kit import (
    ASKER,
    LEAD,
    STRANGER,
    TEAM,
    TEAM_B,
    UNANSWERABLE,
    advance,
    displayed,
    flush,
    make_cop,
    with_text,
)
from tests.kit.activities import User
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, running_bot, test_settings

ADMIN = User("29:admin", "aad-admin", "Ada Admin")  # the harness's settings list aad-admin as a programme admin
# no CoP's business: BM25 ranks the programme's history entry first, unsure
PROGRAMME_QUESTION = "Will the programme publish an annual report on the CoPs?"


async def programme_queries(bot: BotUnderTest, *, open_only: bool = True) -> list[str]:
    return [q.text for q in await QueryRepo(bot.services.store).of_cop(PROGRAMME_DESK, open_only=open_only)]


async def test_a_programme_question_in_personal_chat_reaches_the_admins_and_their_answer_comes_back(
    bot: BotUnderTest,
) -> None:
    await make_cop(bot)  # the asker is in this one CoP: before, its leads got every unsure question
    posted = await bot.say(ASKER, PROGRAMME_QUESTION)
    assert "passed it to **the CoP programme team**" in posted.everything
    assert "They'll follow up here" in posted.everything
    assert "Which CoP should I ask?" not in posted.everything
    assert await programme_queries(bot) == [PROGRAMME_QUESTION]
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []
    sent = await flush(bot)
    assert with_text(sent, "New question for the leads") == []
    [note] = with_text(sent, "New question for the programme team")
    assert bot.connector.personal_chats[note.conversation_id] == ADMIN.aad  # no profile: their Entra object id
    assert PROGRAMME_QUESTION in displayed(note.card)
    assert "Add to FAQ" not in json.dumps(note.card)
    form = await bot.press(ADMIN, note.card, "Answer")
    assert "Answer a question" in json.dumps(form.body)
    done = await bot.press(
        ADMIN, form.body["value"], "Send answer", {"answer": "Not this year; the figures are on the impact page."}
    )
    assert "Answer sent" in json.dumps(done.body)
    assert await programme_queries(bot) == []
    [delivered] = with_text(await flush(bot), "An answer from the CoP programme team")
    assert delivered.conversation_id == f"a:personal-{ASKER.id}"
    assert "Not this year" in displayed(delivered.card)
    [closed] = await QueryRepo(bot.services.store).of_cop(PROGRAMME_DESK)
    assert closed.answered_by_aad == ADMIN.aad


async def test_only_the_programme_team_may_answer_or_list_its_questions(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, PROGRAMME_QUESTION)
    [note] = with_text(await flush(bot), "New question for the programme team")
    refused = await bot.press(LEAD, note.card, "Answer")  # a CoP's lead is no one in the programme partition
    assert "programme admins can do that" in refused.everything
    assert "Answer a question" not in refused.everything
    assert "Only the programme team" in (await bot.say(LEAD, "unanswered programme")).everything
    listed = await bot.say(ADMIN, "unanswered programme")
    assert "Unanswered questions: the CoP programme team" in displayed(listed.card)
    assert PROGRAMME_QUESTION in displayed(listed.card)
    assert "Add to FAQ" not in json.dumps(listed.card)
    assert PROGRAMME_QUESTION in displayed((await bot.say(ADMIN, "unanswered")).card)  # no CoP in view
    assert await programme_queries(bot) == [PROGRAMME_QUESTION]


async def test_a_programme_question_from_someone_in_several_cops_is_not_sent_to_a_cop(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM)
    await make_cop(bot, TEAM_B)
    posted = await bot.say(ASKER, PROGRAMME_QUESTION)
    assert "Which CoP should I ask?" not in posted.everything
    assert "the CoP programme team" in posted.everything
    assert await programme_queries(bot) == [PROGRAMME_QUESTION]


async def test_a_question_about_a_cops_own_business_still_asks_which_cop(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM)
    await make_cop(bot, TEAM_B)
    posted = await bot.say(ASKER, "Has our community agreed who brings the biscuits?")
    assert "Which CoP should I ask?" in posted.everything
    assert await programme_queries(bot) == []


async def test_an_off_topic_question_goes_to_the_one_cops_leads_as_before(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say(ASKER, UNANSWERABLE)
    assert "passed it to the leads of **Data & Insight**" in posted.everything
    assert await programme_queries(bot) == []


async def test_an_unsure_question_naming_a_cop_goes_to_that_cops_leads(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM)
    await make_cop(bot, TEAM_B, members=())
    question = "Does the Comms CoP keep a shared drive of printed brochures?"
    posted = await bot.say(ASKER, question)  # the asker is in Data & Insight only
    assert "passed it to the leads of **Comms**" in posted.everything
    [query] = await QueryRepo(bot.services.store).of_cop(TEAM_B.id)
    assert query.text == question


async def test_without_programme_admins_the_question_goes_where_it_did(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    async with running_bot(
        sqlite_store, connector=connector, settings=test_settings(programme_admins=frozenset())
    ) as bot:
        await make_cop(bot)
        posted = await bot.say(STRANGER, PROGRAMME_QUESTION)
        assert "passed it to the leads of **Data & Insight**" in posted.everything
        assert await programme_queries(bot) == []


def test_the_audience_follows_the_best_entry_and_the_words_our_cop() -> None:
    def match(entry_id: str, confidence: float = 0.5) -> list[Match]:
        return [Match(FaqEntry(entry_id, "q", "a", ("b", "c")), 1.0, confidence)]

    assert audience_of("how many cops are there now", match("scale")) == "programme"
    assert audience_of("is the x cop launched", match("cop-technical-support")) == "programme"
    assert audience_of("core or wider", match("core-vs-wider")) == "general"
    assert audience_of("when do core members meet", match("core-meetings")) == "cop"
    assert audience_of("how many cops are in our community", match("scale")) == "cop"
    assert audience_of("anything", match("scale", 0.1)) == "unknown"
    assert audience_of("anything", []) == "unknown"
    own = [Match(FaqEntry("f1", "q", "a", ("b", "c"), scope="19:t@thread.tacv2"), 1.0, 0.9)]
    assert audience_of("parking for the away day", own) == "cop"
    # asked in a CoP, a weak match to a programme topic does not pass the question over the CoP's leads
    weak = match("contact", 0.4)
    assert audience_of("the key code for the storeroom", weak) == "programme"
    assert audience_of("the key code for the storeroom", weak, floor=IN_COP_FLOOR) == "unknown"
    assert audience_of("who runs the programme", match("contact", 0.8), floor=IN_COP_FLOOR) == "programme"


async def test_a_programme_question_is_in_my_data_and_forget_me_anonymises_it(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, PROGRAMME_QUESTION)
    [source] = [s for s in bot.services.privacy.sources if s.name == "queries"]
    exported = await source.export(bot.services, ASKER.aad)
    assert [(q["cop_id"], q["question"]) for q in exported] == [(PROGRAMME_DESK, PROGRAMME_QUESTION)]
    await source.erase(bot.services, ASKER.aad)
    [query] = await QueryRepo(bot.services.store).of_cop(PROGRAMME_DESK)
    assert (query.asker_aad, query.asker_name, query.reference) == ("", "former member", {})


async def test_an_unanswered_programme_question_is_escalated_to_the_admins_once(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, PROGRAMME_QUESTION)
    await flush(bot)
    advance(bot, hours=49)
    now = bot.services.clock.now()
    assert await queries.run_due(bot.services, now) == 1
    [note] = with_text(await flush(bot), "Still unanswered after 48 h")
    assert bot.connector.personal_chats[note.conversation_id] == ADMIN.aad
    assert await queries.run_due(bot.services, now) == 0
