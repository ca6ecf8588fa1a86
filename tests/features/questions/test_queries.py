"""Open queries end to end: the leads' list, answering (delivered where asked), mark answered, add to FAQ,
channel watching, metrics and privacy."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

from bot.core.turn import Person
from bot.domain.faq import FaqRepo
from bot.domain.queries import FORMER_MEMBER, Query, QueryRepo, median_first_response, metrics, open_by_age
from bot.domain.queries import response_rate as rate
from tests.features.questions.kit import (
    ASKER,
    BOB,
    LEAD,
    LEAD_B,
    OTHER_LEAD,
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
from tests.kit.activities import user
from tests.kit.harness import BotUnderTest, find_action


async def open_queries(bot: BotUnderTest, cop_id: str = TEAM.id) -> list[Query]:
    return await QueryRepo(bot.services.store).of_cop(cop_id, open_only=True)


async def test_unanswered_lists_open_queries_oldest_first(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, "is the printer on floor 3 broken?")
    advance(bot, hours=3)
    await bot.say(BOB, "what time does the canteen shut on friday?")
    listed = await bot.say_in(LEAD, TEAM, "unanswered")
    shown = displayed(listed.card)
    assert "2 open, oldest first" in shown
    assert shown.index("printer") < shown.index("canteen")
    assert "Asked by: Alice Adams" in shown
    for button in ("Answer", "Mark answered", "Add to FAQ"):
        find_action(listed.card or {}, button)
    member = await bot.say_in(ASKER, TEAM, "unanswered")
    assert "only this CoP's leads" in member.everything


async def test_a_leads_answer_reaches_the_asker_in_personal_chat_and_closes_the_query(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, UNANSWERABLE)
    await flush(bot)
    listed = await bot.say_in(LEAD, TEAM, "unanswered")
    form = await bot.press(LEAD, listed.card, "Answer", where=TEAM)
    assert "Answer a question" in json.dumps(form.body)
    empty = await bot.press(LEAD, form.body["value"], "Send answer", {"answer": "  "}, where=TEAM)
    assert "Type an answer first" in json.dumps(empty.body)
    assert len(await open_queries(bot)) == 1
    sent = await bot.press(
        LEAD, form.body["value"], "Send answer", {"answer": "Yes; IT fix it **Monday**."}, where=TEAM
    )
    assert "Answer sent" in json.dumps(sent.body)
    assert await open_queries(bot) == []
    [closed] = await QueryRepo(bot.services.store).of_cop(TEAM.id)
    assert closed.answered_by_aad == LEAD.aad
    assert closed.answer_text == "Yes; IT fix it **Monday**."
    assert closed.first_response_at == closed.answered_at
    [delivered] = with_text(await flush(bot), "An answer from the leads")
    assert delivered.conversation_id == f"a:personal-{ASKER.id}"
    assert "Yes; IT fix it \\*\\*Monday\\*\\*." in displayed(delivered.card)
    # answering again: refused, nothing changes
    again = await bot.press(LEAD_B, form.body["value"], "Send answer", {"answer": "Other"}, where=TEAM)
    assert "already answered by Lee Lead" in json.dumps(again.body)
    assert (await QueryRepo(bot.services.store).of_cop(TEAM.id))[0].answer_text == "Yes; IT fix it **Monday**."


async def test_the_lead_notification_card_works_from_personal_chat(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, UNANSWERABLE)
    [note, _] = with_text(await flush(bot), "New question for the leads")
    form = await bot.press(LEAD, note.card, "Answer")
    sent = await bot.press(LEAD, form.body["value"], "Send answer", {"answer": "It is being fixed."})
    assert "Answer sent" in json.dumps(sent.body)
    assert await open_queries(bot) == []


async def test_an_answer_to_a_channel_question_goes_into_its_thread_mentioning_the_asker(bot: BotUnderTest) -> None:
    await make_cop(bot)
    asked = bot.acts.channel(ASKER, TEAM, UNANSWERABLE)
    await bot.post(asked)
    [query] = await open_queries(bot)
    assert query.place_kind == "channel"
    assert query.thread_root_id == asked["id"]
    listed = await bot.say(LEAD, "unanswered")  # Lee leads one CoP: personal chat works
    form = await bot.press(LEAD, listed.card, "Answer")
    await bot.press(LEAD, form.body["value"], "Send answer", {"answer": "Use the one on floor 2."})
    [delivered] = with_text(await flush(bot), "An answer from the leads")
    assert unquote(delivered.path).split("/")[3] == f"{TEAM.general};messageid={asked['id']}"
    assert f"<at>{ASKER.name}</at>" in delivered.text


async def test_answering_a_query_of_another_cop_is_refused(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM)
    await make_cop(bot, TEAM_B, leads=(OTHER_LEAD,))
    await bot.say_in(ASKER, TEAM, UNANSWERABLE)
    [query] = await open_queries(bot)
    # a genuine button of CoP B naming CoP A's query: not in B's list
    forged = bot.sealed("queries.answer", {"cop_id": TEAM_B.id, "id": query.query_id})
    pressed = await bot.click(OTHER_LEAD, "queries.answer", {**forged, "answer": "hijack"})
    assert "isn't in Comms's list" in json.dumps(pressed.body)
    # CoP A's genuine button, pressed by B's lead: not a lead of A
    genuine = bot.sealed("queries.answer", {"cop_id": TEAM.id, "id": query.query_id})
    pressed = await bot.click(OTHER_LEAD, "queries.answer", {**genuine, "answer": "hijack"})
    assert "only this CoP's leads" in json.dumps(pressed.body)
    # swapping the CoP on A's button breaks its seal
    pressed = await bot.click(OTHER_LEAD, "queries.answer", {**genuine, "cop_id": TEAM_B.id, "answer": "x"})
    assert "altered" in json.dumps(pressed.body)
    assert len(await open_queries(bot)) == 1


async def test_mark_answered_and_add_to_faq(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, UNANSWERABLE)
    listed = await bot.say_in(LEAD, TEAM, "unanswered")
    drafted = await bot.press(LEAD, listed.card, "Add to FAQ", where=TEAM)
    form = drafted.body["value"]
    assert "Add to the FAQ from a question" in displayed(form)
    assert UNANSWERABLE in json.dumps(form)  # the question is prefilled
    added = await bot.press(
        LEAD, form, "Add to FAQ", {"question": "Is the floor 3 printer broken?", "answer": "Yes, until Monday."},
        where=TEAM,
    )  # fmt: skip
    assert "Added to the FAQ" in json.dumps(added.body)
    [entry] = await FaqRepo(bot.services.store).entries(TEAM.id)
    assert entry.source == "query"
    marked = await bot.press(LEAD, listed.card, "Mark answered", where=TEAM)
    assert "Marked answered" in json.dumps(marked.body)
    assert await open_queries(bot) == []
    twice = await bot.press(LEAD, listed.card, "Mark answered", where=TEAM)
    assert "already answered" in json.dumps(twice.body)
    # the next person asking gets the new entry
    asked = await bot.say_in(BOB, TEAM, "is the printer on floor 3 broken?")
    assert "Yes, until Monday." in asked.everything


# -- channel watching -------------------------------------------------------------------------------------------


async def test_a_channel_question_without_mention_opens_a_watched_query_silently(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say_in(ASKER, TEAM, "Does anyone know where the Q3 dashboard lives?", mention_bot=False)
    assert posted.calls == []
    chatter = await bot.say_in(BOB, TEAM, "Great session today, thanks all", mention_bot=False)
    assert chatter.calls == []
    [query] = await open_queries(bot)
    assert query.origin == "channel"
    assert query.text == "Does anyone know where the Q3 dashboard lives?"
    assert await flush(bot) == []  # watched questions wait for the community before the leads hear of them


async def test_channel_messages_in_an_unregistered_team_are_ignored(bot: BotUnderTest) -> None:
    posted = await bot.say_in(ASKER, TEAM, "Does anyone know where the Q3 dashboard lives?", mention_bot=False)
    assert posted.calls == []
    assert await open_queries(bot) == []


async def test_a_reply_by_someone_else_records_the_first_response(bot: BotUnderTest) -> None:
    await make_cop(bot)
    root = bot.acts.channel(ASKER, TEAM, "Where does the Q3 dashboard live?", mention_bot=False)
    await bot.post(root)
    advance(bot, hours=1)
    await bot.say_in(ASKER, TEAM, "bumping this", mention_bot=False, thread=root["id"])
    [query] = await open_queries(bot)
    assert query.first_response_at is None
    advance(bot, hours=1)
    await bot.say_in(BOB, TEAM, "It's in the BI workspace", mention_bot=False, thread=root["id"])
    advance(bot, hours=1)
    await bot.say_in(STRANGER, TEAM, "+1", mention_bot=False, thread=root["id"])
    [query] = await open_queries(bot)
    assert query.first_response_at == query.created_at + timedelta(hours=2)
    assert query.first_responder_aad == BOB.aad
    assert query.is_open


async def test_the_asker_or_a_lead_marks_a_thread_answered(bot: BotUnderTest) -> None:
    await make_cop(bot)
    first = bot.acts.channel(ASKER, TEAM, "Where does the Q3 dashboard live?", mention_bot=False)
    second = bot.acts.channel(BOB, TEAM, "How do I request a new data feed?", mention_bot=False)
    await bot.post(first)
    await bot.post(second)
    refused = await bot.say_in(STRANGER, TEAM, "answered", thread=first["id"])
    assert "Only the person who asked" in refused.everything
    done = await bot.say_in(ASKER, TEAM, "answered", thread=first["id"])
    assert "Marked answered" in done.everything
    by_lead = await bot.say_in(LEAD, TEAM, "answered", thread=second["id"])
    assert "Marked answered" in by_lead.everything
    assert await open_queries(bot) == []
    again = await bot.say_in(ASKER, TEAM, "answered", thread=first["id"])
    assert "already answered" in again.everything
    nowhere = await bot.say_in(ASKER, TEAM, "answered")
    assert "as a reply in the thread" in nowhere.everything
    untracked = await bot.say_in(ASKER, TEAM, "answered", thread="1:not-a-question")
    assert "not tracking a question" in untracked.everything


async def test_a_20kb_channel_post_is_handled(bot: BotUnderTest) -> None:
    await make_cop(bot)
    posted = await bot.say_in(ASKER, TEAM, "How do I " + "very " * 4000 + "long?", mention_bot=False)
    assert posted.status == 201
    [query] = await open_queries(bot)
    assert len(query.text) == 4000


# -- metrics ------------------------------------------------------------------------------------------------------


def make_query(created: datetime, first: datetime | None = None, status: str = "open") -> Query:
    return Query(
        query_id="1", cop_id="c", text="q", created_at=created, asker_aad="a", asker_user_id="u", asker_name="n",
        place_kind="personal", reference={}, first_response_at=first, status=status,  # type: ignore[arg-type]
    )  # fmt: skip


def test_metric_functions() -> None:
    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    queries = [
        make_query(now - timedelta(hours=5), now - timedelta(hours=4)),
        make_query(now - timedelta(hours=30), now - timedelta(hours=27), status="answered"),
        make_query(now - timedelta(days=3)),
        make_query(now - timedelta(days=9)),
    ]
    assert rate(queries) == 0.5
    assert rate([]) is None
    assert median_first_response(queries) == timedelta(hours=2)
    assert median_first_response(queries[2:]) is None
    assert open_by_age(queries, now) == {"under 1 day": 1, "1 to 2 days": 0, "2 to 7 days": 1, "over 7 days": 1}


async def test_metrics_of_a_cop_from_storage(bot: BotUnderTest) -> None:
    await make_cop(bot)
    root = bot.acts.channel(ASKER, TEAM, "Where does the Q3 dashboard live?", mention_bot=False)
    await bot.post(root)
    advance(bot, hours=2)
    await bot.say_in(BOB, TEAM, "In the BI workspace", mention_bot=False, thread=root["id"])
    await bot.say(BOB, UNANSWERABLE)
    advance(bot, hours=50)
    figures = await metrics(bot.services.store, TEAM.id, bot.services.clock.now())
    assert figures.asked == 2
    assert figures.responded == 1
    assert figures.response_rate == 0.5
    assert figures.median_first_response == timedelta(hours=2)
    assert figures.open_by_age["2 to 7 days"] == 2
    assert figures.overdue == 2


# -- privacy -------------------------------------------------------------------------------------------------------


async def test_export_and_erase_of_an_asker(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, "is the printer broken again, Alice here, asking for Adams team?")
    await bot.say(BOB, UNANSWERABLE)
    services = bot.services
    [source] = [s for s in services.privacy.sources if s.name == "queries"]
    exported = await source.export(services, ASKER.aad)
    assert len(exported) == 1
    assert exported[0]["your_part"] == ["asked"]
    assert "printer" in exported[0]["question"]
    await source.erase(services, ASKER.aad)
    queries = await QueryRepo(services.store).of_cop(TEAM.id)
    mine = [q for q in queries if "printer broken again" in q.text]
    [erased] = mine
    assert erased.asker_name == FORMER_MEMBER
    assert (erased.asker_aad, erased.asker_user_id, erased.reference) == ("", "", {})
    assert "Alice" not in erased.text
    assert "Adams" not in erased.text
    assert "[name removed] here" in erased.text
    assert erased.created_at is not None  # timings stay for the metrics
    assert await source.export(services, ASKER.aad) == []
    others = [q for q in queries if q.asker_aad == BOB.aad]
    assert len(others) == 1  # someone else's query is untouched


async def test_erasing_a_lead_who_answered_keeps_the_answer_but_not_the_name(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, UNANSWERABLE)
    [query] = await open_queries(bot)
    await QueryRepo(bot.services.store).close(query, Person(LEAD.id, LEAD.aad, LEAD.name), query.created_at, "Yes")
    [source] = [s for s in bot.services.privacy.sources if s.name == "queries"]
    assert (await source.export(bot.services, LEAD.aad))[0]["your_part"] == ["first responded", "answered"]
    await source.erase(bot.services, LEAD.aad)
    [after] = await QueryRepo(bot.services.store).of_cop(TEAM.id)
    assert (after.answered_by_name, after.answered_by_aad) == (FORMER_MEMBER, "")
    assert after.answer_text == "Yes"
    assert after.asker_aad == ASKER.aad


async def test_answering_after_the_asker_was_erased_records_but_cannot_deliver(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(user(40, "Gone Person"), UNANSWERABLE)
    [source] = [s for s in bot.services.privacy.sources if s.name == "queries"]
    await source.erase(bot.services, user(40).aad)
    listed = await bot.say_in(LEAD, TEAM, "unanswered")
    form = await bot.press(LEAD, listed.card, "Answer", where=TEAM)
    sent = await bot.press(LEAD, form.body["value"], "Send answer", {"answer": "Fixed."}, where=TEAM)
    assert "couldn't send it" in json.dumps(sent.body)
    assert with_text(await flush(bot), "An answer from the leads") == []
