"""Programme-wide rounds end to end: one invitation and one answer per person, counted for each of their CoPs;
comments only for programme admins and only from five answers; no CoP under five readable on the results card,
the lead's view, the programme view or its CSV, directly or as the total minus the shown CoPs; markers keyed by
their own key, so rotating the signing key lets no one answer twice."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.core.config import Settings, SettingsError
from bot.domain.survey import INDEX, PEOPLE, STATEMENTS, TABLE, SurveyRepo, first_person
from bot.features import survey as survey_feature
from storage.base import BatchOp, Row
from storage.sqlite import SqliteStore
from tests.features.health.kit import ADMIN, NOW, Cast, clock, join, make_cop
from tests.features.health.test_survey import all_agree, invitation, to
from tests.kit.activities import User, team
from tests.kit.connector import FakeConnector
from tests.kit.harness import TEST_SIGNING_KEY, BotUnderTest, running_bot, test_settings

C = Cast()
ALICE, BO, CY = C.leads
DATA = team(1, "Data and Insight")
FINANCE = team(2, "Finance")
HR = team(3, "HR")


async def three_cops(bot: BotUnderTest, sizes: tuple[int, int, int]) -> dict[str, list[User]]:
    """Data and Insight, Finance and HR with ``sizes`` members each (nobody in two)."""
    store = bot.services.store
    people: dict[str, list[User]] = {}
    for n, (where, lead, size) in enumerate(zip((DATA, FINANCE, HR), (ALICE, BO, CY), sizes, strict=True)):
        await make_cop(store, bot.connector.url, where, NOW, leads=[lead])
        members = [Cast.member(100 * n + i) for i in range(size)]
        await join(store, where, dict.fromkeys(members, ("wider", "central")), NOW)
        people[where.name] = members
    return people


async def admin_round(bot: BotUnderTest) -> str:
    posted = await bot.say(ADMIN, "survey start")
    await bot.services.outbox.flush(bot.services.clock.now())
    return posted.everything


async def answer(bot: BotUnderTest, person: User, inputs: dict[str, str] | None = None) -> str:
    card = await invitation(bot, person)
    posted = await bot.press(person, card, "Send my answers", inputs if inputs is not None else all_agree())
    return str(posted.body)


def test_the_statements_are_the_impact_reports_words_in_its_order() -> None:
    reported = [
        ("the CoP helped them form connections with colleagues whom they wouldn't have otherwise met", 0.92),
        ("CoPs help improve communication between different areas of UCL", 0.90),
        ("they have developed their skills and/or gained knowledge about their practice because of their CoP", 0.84),
        ("they've been able to apply new skills and knowledge to their job", 0.79),
        ("being in a CoP increases their sense of belonging at UCL", 0.89),
        ("CoPs help improve UCL's workplace culture", 0.88),
        ("their team or department benefits from them being in a CoP", 0.83),
        ("their CoP and its outputs help improve service delivery in the practice area", 0.80),
        ("their CoP's activities directly benefit UCL", 0.84),
    ]
    assert [(s.reported, s.baseline) for s in STATEMENTS] == reported
    assert STATEMENTS[6].text == "My team or department benefits from me being in a CoP."
    assert first_person("they've been able to apply new skills and knowledge to their job") == (
        "I've been able to apply new skills and knowledge to my job."
    )


async def test_a_member_of_two_cops_gets_one_invitation_and_answers_once_for_both(bot: BotUnderTest) -> None:
    people = await three_cops(bot, (6, 5, 0))
    both = people["Data and Insight"][0]
    await join(bot.services.store, FINANCE, {both: ("wider", "central")}, NOW)
    reply = await admin_round(bot)
    assert "started for 3 CoP(s): 11 members invited" in reply  # 6 + 5 + 1 person in both, counted once
    assert len(to(bot, both)) == 1
    card = str(await invitation(bot, both))
    assert "Data and Insight, Finance" in card
    assert "your answer counts for each of your CoPs" in card
    assert "Thank you" in await answer(bot, both, {**all_agree(5), "c_team": "Lunch and Learns helped my team."})
    assert "already answered" in await answer(bot, both, all_agree(1))
    surveys = await SurveyRepo(bot.services.store).all()
    everyone, per = await SurveyRepo(bot.services.store).round_tallies(surveys)
    by_name = {s.cop_name: per[s.survey_id].responses for s in surveys}
    assert by_name == {"Data and Insight": 1, "Finance": 1, "HR": 0}
    assert everyone.responses == 1
    [source] = [s for s in bot.services.privacy.sources if s.name == "survey"]
    exported = await source.export(bot.services, both.aad)
    assert exported["open_surveys_you_answered"] == ["all CoPs (opened 23 Nov 2026)"]
    assert "anonymous text" in exported["comments"]
    rows: list[Row] = await bot.services.store.query(TABLE, None)
    for row in rows:
        blob = f"{row.partition_key}|{row.row_key}|{dict(row.data)}"
        for identity in (both.aad, both.id, both.name):
            assert identity not in blob
    assert any("Lunch and Learns helped my team." in str(dict(r.data)) for r in rows if r.partition_key != INDEX)


async def test_comments_reach_programme_admins_only_and_only_from_five_answers(bot: BotUnderTest) -> None:
    people = await three_cops(bot, (6, 0, 0))
    data = people["Data and Insight"]
    await admin_round(bot)
    too_long = await answer(bot, data[0], {**all_agree(), "c_skills": "x" * 501})
    assert "500 characters" in too_long
    assert (await SurveyRepo(bot.services.store).round_tallies(await SurveyRepo(bot.services.store).all()))[
        0
    ].responses == 0  # nothing was recorded
    for i, person in enumerate(data[:4]):
        assert "Thank you" in await answer(bot, person, {**all_agree(), "c_skills": f"Comment number {i}"})
    early = await bot.say(ADMIN, "survey comments")
    assert "No comments to show" in early.everything
    assert "Comment number" not in early.everything
    await answer(bot, data[4], {**all_agree(), "c_culture": "  A   better place to work  "})
    shown = await bot.say(ADMIN, "survey comments")
    text = shown.everything
    for i in range(4):
        assert f"Comment number {i}" in text
    assert "A better place to work" in text
    assert "Member" not in text  # no name beside any comment
    await answer(bot, data[5], {**all_agree(), "c_team": "More, please"})
    # (with five answers the results card showed no total: two CoPs with none beside one with exactly five would
    # give the others' 0 away)
    results = await bot.say(ADMIN, "survey results")
    assert "6 comment(s)" in results.everything
    lead = await bot.say_in(ALICE, DATA, "survey comments")
    assert "only programme admins" in lead.everything
    lead_results = await bot.say_in(ALICE, DATA, "survey results")
    assert "comment" not in lead_results.everything.lower().replace("comments are optional", "")


def numbers(text: str) -> set[str]:
    return set(re.findall(r"\b\d+ of \d+\b", text))


async def test_no_cop_under_five_can_be_read_or_worked_out_anywhere(bot: BotUnderTest) -> None:
    people = await three_cops(bot, (8, 7, 3))
    await admin_round(bot)
    for person in people["Data and Insight"][:7]:
        await answer(bot, person, all_agree(5))
    for i, person in enumerate(people["Finance"][:6]):
        await answer(bot, person, all_agree(4 if i % 2 else 2))
    for person in people["HR"][:2]:
        await answer(bot, person, all_agree(1))
    results = await bot.say(ADMIN, "survey results")
    text = results.everything
    # shown: the total (15 of 18) and Data and Insight (7 of 8); HR (2) is hidden, and Finance with it, or
    # 15 - 7 - 6 would give HR's 2 away (and its agreement the same way)
    assert numbers(text) == {"15 of 18", "7 of 8"}
    assert "Data and Insight" in text
    assert "Finance" not in text
    assert "HR" not in text
    assert "2 CoP(s) not shown separately" in text
    assert "67%" in text  # (7 + 3) of 15 agreed with each statement
    assert "Held back: every respondent" not in text  # the hidden CoPs answered differently
    # the leads: Data and Insight sees its own, Finance is held back, HR has too few
    assert "Response rate: 7 of 8" in (await bot.say_in(ALICE, DATA, "survey results")).everything
    finance = (await bot.say_in(BO, FINANCE, "survey results")).everything
    assert "held back" in finance
    assert "6 of" not in finance
    hr = (await bot.say_in(CY, HR, "survey results")).everything
    assert "Fewer than 5 responses" in hr
    assert "2 of" not in hr
    # the programme view and its CSV hold back the same CoPs
    posted = await bot.say(ADMIN, "programme")
    card = posted.calls[0].card
    assert card is not None
    assert "100% agree (7 responses)" in posted.everything
    assert "(6 responses)" not in posted.everything
    assert "(2 responses)" not in posted.everything
    [url] = [a["url"] for a in card.get("actions", []) if a.get("title") == "Download CSV"]
    status, body, _ = await bot.get(re.sub(r"^https?://[^/]+", "", url))
    assert status == 200
    rows = {r["CoP"]: r for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))}
    assert (rows["Data and Insight"]["Survey responses"], rows["Data and Insight"]["Survey % agree"]) == ("7", "100")
    for name in ("Finance", "HR"):
        assert (rows[name]["Survey responses"], rows[name]["Survey % agree"]) == ("", "")
    # a health scorecard of the held-back CoP does not give its figure either
    health = (await bot.say_in(BO, FINANCE, "health")).everything
    assert "6 responses" not in health


async def test_rotating_the_signing_key_lets_no_one_answer_twice(
    sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    """The documented rotation: markers were keyed by the signing key (no marker key set); the old signing key
    becomes COPBOT_SURVEY_MARKER_KEY and a new signing key is set. Cards sealed by the new key still find the
    person's marker, and the reminder skips them."""
    old_key = "old-signing-key-0123456789abcdef0123456789"
    new_key = "new-signing-key-9876543210fedcba9876543210"
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(signing_key=old_key)) as bot:
        await make_cop(bot.services.store, bot.connector.url, DATA, NOW, leads=[ALICE])
        members = [Cast.member(i) for i in range(3)]
        await join(bot.services.store, DATA, dict.fromkeys(members, ("wider", "central")), NOW)
        await bot.say_in(ALICE, DATA, "survey start")
        await bot.services.outbox.flush(NOW)
        assert "Thank you" in await answer(bot, members[0])
    [survey] = await SurveyRepo(sqlite_store).all()
    rotated = test_settings(signing_key=new_key, survey_marker_key=old_key)
    async with running_bot(sqlite_store, connector=connector, settings=rotated) as bot:
        data: dict[str, Any] = bot.sealed("survey.answer", {"cop_id": DATA.id, "id": survey.survey_id})
        again = await bot.click(members[0], "survey.answer", {**data, **all_agree(1)})
        assert "already answered" in str(again.body)
        due = survey.remind_at
        clock(bot).set(due)
        assert await survey_feature.due(bot.services, due) == {"reminded": 2, "closed": 0}
        first = await bot.click(members[1], "survey.answer", {**data, **all_agree(4)})
        assert "Thank you" in str(first.body)
        tally = await SurveyRepo(sqlite_store).tally_of(survey)
        assert tally.responses == 2
        assert tally.counts["skills"] == [0, 0, 0, 1, 1]
    # and the reason for the setting: without it, the new signing key would not recognise the stored marker
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(signing_key=new_key)) as bot:
        assert not await SurveyRepo(sqlite_store).has_answered(bot.services.settings.marker_key, survey, members[0].aad)


def test_the_marker_key_setting() -> None:
    key = "survey-marker-key-0123456789abcdef0123"
    assert Settings.from_env({"COPBOT_SURVEY_MARKER_KEY": key}).marker_key == key
    signing = "signing-key-0123456789abcdef0123456789"
    assert Settings.from_env({"COPBOT_SIGNING_KEY": signing}).marker_key == signing
    with pytest.raises(SettingsError, match="COPBOT_SURVEY_MARKER_KEY"):
        Settings.from_env({"COPBOT_SURVEY_MARKER_KEY": "short"})


async def test_a_survey_opened_before_rounds_still_takes_answers_and_refuses_second_ones(bot: BotUnderTest) -> None:
    """Rows as the bot wrote them before rounds: no layout field, the tally in the survey's own partition, and a
    marker of HMAC(signing key, survey id + person) already stored for one member."""
    store = bot.services.store
    await make_cop(store, bot.connector.url, DATA, NOW, leads=[ALICE])
    members = [Cast.member(i) for i in range(6)]
    await join(store, DATA, dict.fromkeys(members, ("wider", "central")), NOW)
    sid = "1795428000000-abcdef123456"
    await store.insert(
        TABLE,
        INDEX,
        sid,
        {
            "round_id": "1795428000000",
            "cop_id": DATA.id,
            "cop_name": DATA.name,
            "started_at": NOW,
            "closes_at": NOW + timedelta(days=14),
            "remind_at": NOW + timedelta(days=11),
            "invited": 6,
            "invitations_sent": True,
            "reminded": False,
            "closed": False,
        },
    )
    counts = {s.key: [0, 0, 0, 0, 1] for s in STATEMENTS}
    await store.insert(TABLE, sid, "tally", {"responses": 1, "counts": json.dumps(counts)})
    text = f"survey-vote|{sid}|{members[0].aad}".encode()
    old_marker = "v|" + hmac.new(TEST_SIGNING_KEY.encode(), text, hashlib.sha256).hexdigest()[:40]
    await store.insert(TABLE, sid, old_marker, {})
    data: dict[str, Any] = bot.sealed("survey.answer", {"cop_id": DATA.id, "id": sid})
    again = await bot.click(members[0], "survey.answer", {**data, **all_agree(1)})
    assert "already answered" in str(again.body)
    for person in members[1:5]:
        posted = await bot.click(person, "survey.answer", {**data, **all_agree(4)})
        assert "Thank you" in str(posted.body)
    results = (await bot.say_in(ALICE, DATA, "survey results")).everything
    assert "Response rate: 5 of 6 (83%)" in results
    assert "100%" in results
    assert await survey_feature.due(bot.services, NOW + timedelta(days=15)) == {"reminded": 0, "closed": 1}
    [survey] = await SurveyRepo(store).all()
    assert await SurveyRepo(store).markers(survey) == set()


class RacingStore(SqliteStore):
    """SQLite with another writer that always gets to the round's tally first: every answer batch finds it changed."""

    racing = False

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        if self.racing and table == TABLE and any(op.row_key == PEOPLE for op in ops):
            row = await self.get(table, partition_key, PEOPLE)
            await self.update(table, partition_key, PEOPLE, dict(row.data))
        return await super().batch(table, partition_key, ops)


async def test_an_answer_that_keeps_losing_the_race_is_refused_clearly_and_changes_nothing(
    tmp_path: Path, connector: FakeConnector
) -> None:
    store = RacingStore(tmp_path / "racing.sqlite3")
    try:
        async with running_bot(store, connector=connector) as bot:
            await make_cop(store, bot.connector.url, DATA, NOW, leads=[ALICE])
            members = [Cast.member(i) for i in range(2)]
            await join(store, DATA, dict.fromkeys(members, ("wider", "central")), NOW)
            await bot.say_in(ALICE, DATA, "survey start")
            await bot.services.outbox.flush(NOW)
            store.racing = True
            busy = await answer(bot, members[0])
            assert "was not recorded" in busy
            [survey] = await SurveyRepo(store).all()
            assert (await SurveyRepo(store).tally_of(survey)).responses == 0
            assert await SurveyRepo(store).markers(survey) == set()
            store.racing = False
            assert "Thank you" in await answer(bot, members[0])  # nothing stood in the way of a second try
    finally:
        await store.close()


async def test_a_statement_every_hidden_respondent_agreed_with_is_held_back_in_the_total(bot: BotUnderTest) -> None:
    people = await three_cops(bot, (6, 5, 2))
    await admin_round(bot)
    for i, person in enumerate(people["Data and Insight"]):
        await answer(bot, person, all_agree(5 if i < 3 else 2))
    for i, person in enumerate(people["Finance"]):
        await answer(bot, person, {**all_agree(5), "s_team": "2" if i == 0 else "5"})
    for person in people["HR"]:
        await answer(bot, person, all_agree(5))
    text = (await bot.say(ADMIN, "survey results")).everything
    assert "Response rate: 13 of 13 (100%)" in text
    assert "50% agree · 6 of 6" in text  # Data and Insight
    # Finance and HR are hidden; all 7 of their respondents agreed with eight statements, so the total's figure
    # for those would give their answers away (13 - 6 = 7 people, 10 - 3 = 7 agreed); on "team" one did not
    assert text.count("held back") == 8 + 1  # eight statements, and the note on the hidden CoPs
    assert "Held back: every respondent" in text
    assert "69%" in text  # team: (3 + 4 + 2) of 13


async def test_a_cop_whose_members_all_belong_to_a_shown_one_does_not_hand_over_a_small_one(
    bot: BotUnderTest,
) -> None:
    """Everyone in Finance is also in Data and Insight; HR has 3 members of its own. With HR (2 answers) and Finance
    hidden and Data and Insight shown, the total minus Data and Insight would be HR exactly."""
    people = await three_cops(bot, (8, 0, 3))
    data = people["Data and Insight"]
    await join(bot.services.store, FINANCE, dict.fromkeys(data[:6], ("wider", "central")), NOW)
    await admin_round(bot)
    for person in data[:7]:
        await answer(bot, person, all_agree(5))
    for person in people["HR"][:2]:
        await answer(bot, person, all_agree(1))
    text = (await bot.say(ADMIN, "survey results")).everything
    assert numbers(text) == {"9 of 11"}  # the total only
    assert "7 of 8" not in text
    assert "Data and Insight" not in text
    assert "3 CoP(s) not shown separately" in text
    assert "held back" in (await bot.say_in(ALICE, DATA, "survey results")).everything
