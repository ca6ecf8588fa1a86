"""The impact survey end to end: invitations in personal chat through the outbox, anonymous answers (no user id
in any stored row), one answer per person, refusals after close, one reminder to those who have not answered,
results beside the 2021 baseline with small groups hidden."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.domain.survey import INDEX, STATEMENTS, TABLE, SurveyRepo
from bot.features import survey as survey_feature
from storage.base import Row
from tests.features.health.kit import ADMIN, NOW, Cast, clock, join, make_cop
from tests.kit.activities import User, team
from tests.kit.connector import Call
from tests.kit.harness import BotUnderTest

C = Cast()
ALICE, BO, _ = C.leads
TEAM = team(1, "Data and Insight")
OTHER = team(2, "Finance")
MEMBERS = [Cast.member(i) for i in range(8)]


def all_agree(value: int = 5) -> dict[str, str]:
    return {f"s_{s.key}": str(value) for s in STATEMENTS}


async def setup(bot: BotUnderTest, members: list[User] = MEMBERS) -> None:
    store = bot.services.store
    await make_cop(store, bot.connector.url, TEAM, NOW, leads=[ALICE], sponsor=C.sponsor)
    await join(store, TEAM, {u: ("core" if i % 2 else "wider", "central") for i, u in enumerate(members)}, NOW)


def to(bot: BotUnderTest, person: User, calls: list[Call] | None = None) -> list[Call]:
    """Messages delivered into ``person``'s 1:1 chat (the outbox opens it and sends to them)."""
    found = []
    for call in bot.connector.calls if calls is None else calls:
        if call.method == "POST" and "/activities" in call.path and bot.connector.recipient(call) == person.id:
            found.append(call)
    return found


async def invitation(bot: BotUnderTest, person: User) -> dict[str, Any]:
    calls = to(bot, person)
    assert calls, f"no invitation for {person.name}"
    card = calls[-1].card
    assert card is not None
    return card


async def start_and_deliver(bot: BotUnderTest, who: User = ALICE, words: str = "survey start") -> str:
    posted = await bot.say_in(who, TEAM, words) if who != ADMIN else await bot.say(who, words)
    await bot.services.outbox.flush(bot.services.clock.now())
    return posted.everything


async def answer(bot: BotUnderTest, person: User, inputs: dict[str, str] | None = None) -> str:
    card = await invitation(bot, person)
    posted = await bot.press(person, card, "Send my answers", inputs if inputs is not None else all_agree())
    return str(posted.body)


async def test_lead_starts_the_survey_and_members_get_it_in_personal_chat(bot: BotUnderTest) -> None:
    await setup(bot)
    reply = await start_and_deliver(bot)
    assert "Impact survey started for 1 CoP(s): 8 members invited" in reply
    for person in MEMBERS:
        card = await invitation(bot, person)
        text = str(card)
        assert "Impact survey: Data and Insight" in text
        assert "1. The CoP helped me form connections with colleagues whom I wouldn't have otherwise met." in text
        assert "5: Strongly agree" in text
        assert "1: Strongly disagree" in text
        assert "Open until" in text
    [survey] = await SurveyRepo(bot.services.store).all()
    assert survey.invited == 8
    assert survey.closes_at == NOW + timedelta(days=14)


async def test_answers_are_tallied_anonymously_and_no_row_names_anyone(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    for i, person in enumerate(MEMBERS[:6]):
        assert "Thank you" in await answer(bot, person, all_agree(5 if i < 4 else 2))
    [survey] = await SurveyRepo(bot.services.store).all()
    tally = await SurveyRepo(bot.services.store).tally(survey.survey_id)
    assert tally.responses == 6
    assert tally.counts["connections"] == [0, 2, 0, 0, 4]
    rows: list[Row] = await bot.services.store.query(TABLE, None)
    identities = [v for p in [*MEMBERS, ALICE] for v in (p.aad, p.id, p.name)]
    for row in rows:
        blob = f"{row.partition_key}|{row.row_key}|{dict(row.data)}"
        for identity in identities:
            assert identity not in blob, (identity, row.row_key)
    answer_rows = [r for r in rows if r.partition_key != INDEX]
    assert sorted(r.row_key[:2] for r in answer_rows) == ["pe", "ta"] + ["v|"] * 6
    for row in answer_rows:
        if row.row_key.startswith("v|"):
            assert dict(row.data) == {}  # the "has answered" marker carries nothing


async def test_a_second_answer_is_refused_and_changes_nothing(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    assert "Thank you" in await answer(bot, MEMBERS[0])
    assert "already answered" in await answer(bot, MEMBERS[0], all_agree(1))
    [survey] = await SurveyRepo(bot.services.store).all()
    tally = await SurveyRepo(bot.services.store).tally(survey.survey_id)
    assert tally.responses == 1
    assert tally.counts["skills"] == [0, 0, 0, 0, 1]


async def test_incomplete_or_invalid_answers_are_refused_and_change_nothing(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    partial = all_agree()
    del partial["s_university"]
    assert "each of the nine statements" in await answer(bot, MEMBERS[0], partial)
    assert "each of the nine statements" in await answer(bot, MEMBERS[0], {**all_agree(), "s_team": "7"})
    assert "each of the nine statements" in await answer(bot, MEMBERS[0], {**all_agree(), "s_team": "x"})
    [survey] = await SurveyRepo(bot.services.store).all()
    assert (await SurveyRepo(bot.services.store).tally(survey.survey_id)).responses == 0
    assert "Thank you" in await answer(bot, MEMBERS[0])  # nothing was recorded, so they can still answer


async def test_answers_after_the_close_date_are_refused(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot, words="survey start 7")
    clock(bot).advance(timedelta(days=7, seconds=1))
    assert "closed" in await answer(bot, MEMBERS[0])
    [survey] = await SurveyRepo(bot.services.store).all()
    assert (await SurveyRepo(bot.services.store).tally(survey.survey_id)).responses == 0


async def test_people_outside_the_cop_cannot_answer_its_survey(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    card = await invitation(bot, MEMBERS[0])
    posted = await bot.press(C.outsider, card, "Send my answers", all_agree())
    assert "only members of this CoP" in str(posted.body)
    [survey] = await SurveyRepo(bot.services.store).all()
    assert (await SurveyRepo(bot.services.store).tally(survey.survey_id)).responses == 0


async def test_one_reminder_goes_to_those_who_have_not_answered_and_markers_go_at_close(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    for person in MEMBERS[:3]:
        await answer(bot, person)
    services = bot.services
    assert await survey_feature.run_due(services, NOW + timedelta(days=5)) == 0  # the minute tick: nothing due
    due = NOW + timedelta(days=11)
    clock(bot).set(due)
    before = len(bot.connector.calls)
    assert await survey_feature.due(services, due) == {"reminded": 5, "closed": 0}
    assert await survey_feature.due(services, due) == {"reminded": 0, "closed": 0}  # only one reminder
    await services.outbox.flush(due)
    new_calls = bot.connector.calls[before:]
    reminded = {p.name for p in MEMBERS if to(bot, p, new_calls)}
    assert reminded == {p.name for p in MEMBERS[3:]}
    assert "A reminder" in str(to(bot, MEMBERS[4], new_calls)[0].card)
    [survey] = await SurveyRepo(services.store).all()
    assert len(await SurveyRepo(services.store).markers(survey)) == 3
    closed_at = NOW + timedelta(days=14, minutes=1)
    assert await survey_feature.due(services, closed_at) == {"reminded": 0, "closed": 1}
    assert await SurveyRepo(services.store).markers(survey) == set()
    assert (await SurveyRepo(services.store).tally(survey.survey_id)).responses == 3  # the totals stay


async def test_results_are_hidden_below_five_responses(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    for person in MEMBERS[:4]:
        await answer(bot, person)
    hidden = await bot.say_in(ALICE, TEAM, "survey results")
    text = hidden.everything
    assert "Fewer than 5 responses so far" in text
    assert "Results show from 5 responses" in text
    assert "4 responses" not in text  # not even the count of a group under five
    assert "4 of 8" not in text
    assert "92%" not in text


async def test_results_beside_the_2021_baseline(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    for i, person in enumerate(MEMBERS[:5]):
        await answer(bot, person, all_agree(4 if i < 4 else 3))
    posted = await bot.say_in(ALICE, TEAM, "survey results")
    text = posted.everything
    assert "Response rate: 5 of 8 (62%)" in text
    assert "80%" in text  # 4 of 5 agree, for every statement
    for baseline in ("92%", "90%", "84%", "79%", "89%", "88%", "83%"):
        assert baseline in text


async def test_admin_surveys_every_cop_and_sees_per_cop_results_with_small_ones_hidden(bot: BotUnderTest) -> None:
    await setup(bot)
    store = bot.services.store
    await make_cop(store, bot.connector.url, OTHER, NOW, leads=[BO])
    finance = [Cast.member(50 + i) for i in range(3)]
    await join(store, OTHER, dict.fromkeys(finance, ("wider", "faculty")), NOW)
    reply = await start_and_deliver(bot, ADMIN)
    assert "started for 2 CoP(s): 11 members invited" in reply
    for person in MEMBERS[:5]:
        await answer(bot, person)
    for person in finance:
        await answer(bot, person, all_agree(1))
    posted = await bot.say(ADMIN, "survey results")
    text = posted.everything
    assert "all CoPs" in text
    assert "Response rate: 8 of 11 (73%)" in text
    assert "62%" in text  # 5 of 8 agreed with every statement
    # Finance (3) is hidden, and so is Data and Insight: with it shown, 8 - 5 would give Finance away
    assert "2 CoP(s) not shown separately" in text
    assert "Data and Insight" not in text
    assert "100% agree" not in text
    assert "Finance" not in text
    again = await bot.say(ADMIN, "survey start")
    assert "already has an open impact survey" in again.everything


async def test_bad_input_and_roles(bot: BotUnderTest) -> None:
    await setup(bot)
    for words in ("survey start 1000", "survey start two weeks", "survey start 1"):
        posted = await bot.say_in(ALICE, TEAM, words)
        assert "Usage: **survey start**" in posted.everything
    member = await bot.say_in(MEMBERS[0], TEAM, "survey start")
    assert "only this CoP's leads and programme admins" in member.everything
    assert await SurveyRepo(bot.services.store).all() == []
    none_yet = await bot.say_in(ALICE, TEAM, "survey results")
    assert "No impact survey has been run yet" in none_yet.everything
    await start_and_deliver(bot)
    twice = await bot.say_in(ALICE, TEAM, "survey start")
    assert "already open for Data and Insight" in twice.everything


async def test_survey_privacy_export_says_answers_are_anonymous(bot: BotUnderTest) -> None:
    await setup(bot)
    await start_and_deliver(bot)
    await answer(bot, MEMBERS[0])
    [source] = [s for s in bot.services.privacy.sources if s.name == "survey"]
    exported = await source.export(bot.services, MEMBERS[0].aad)
    assert exported["open_surveys_you_answered"] == ["Data and Insight"]
    nothing = await source.export(bot.services, MEMBERS[1].aad)
    assert nothing["open_surveys_you_answered"] == []
    assert "anonymous text" in nothing["comments"]
    await source.erase(bot.services, MEMBERS[0].aad)
    assert "already answered" in await answer(bot, MEMBERS[0])  # the marker stays until the survey closes
