"""The directory (``cops``), the leads' members view and the CSV export, end to end."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from bot.features.directory import csv_cell, rank
from tests.features.membership.kit import install, join
from tests.kit.activities import Team, team, user
from tests.kit.harness import BotUnderTest

ALICE = user(1, "Alice Adams")
BOB = user(2, "Bob Brown")
CAROL = user(3, "Carol Clark")
DAN = user(4, '=HYPERLINK("http://evil.example","x")')
DATA = team(1, "Data and Insight")
COMMS = team(2, "Internal Communications")
TECH = team(3, "Technical Support")


async def set_up(bot: BotUnderTest, where: Team, area: str, status: str = "launched") -> None:
    shown = await bot.say_in(ALICE, where, "setup")
    await bot.press(
        ALICE, shown.card, "Save", {"name": where.name, "practice_area": area, "status": status}, where=where
    )


async def three_cops(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB, CAROL)
    await install(bot, ALICE, COMMS)
    await install(bot, ALICE, TECH)
    await set_up(bot, DATA, "Planning")
    await set_up(bot, COMMS, "Communications and Marketing")
    await set_up(bot, TECH, "Technicians", "preparing")


async def test_cops_lists_every_active_cop_with_counts(bot: BotUnderTest) -> None:
    await three_cops(bot)
    await bot.say_in(ALICE, DATA, "sponsor set @Carol Clark", mentions=(CAROL,))
    await join(bot, BOB, DATA, "core")
    await join(bot, CAROL, DATA, "wider")
    await join(bot, CAROL, COMMS, "core")
    posted = await bot.say(BOB, "cops")
    text = posted.everything
    for name in ("Data and Insight", "Internal Communications", "Technical Support"):
        assert name in text
    assert "1 core · 1 wider" in text
    assert "0 core · 1 wider" not in text
    assert "Preparations underway" in text
    assert "Carol Clark" in text  # sponsor
    assert "Alice Adams" in text  # leads
    assert "You are a member." in text  # Bob is in Data and Insight
    await bot.post(bot.acts.uninstalled_from_team(ALICE, TECH))
    assert "Technical Support" not in (await bot.say(BOB, "cops")).everything


async def test_cops_with_words_ranks_by_fit(bot: BotUnderTest) -> None:
    await three_cops(bot)
    posted = await bot.say(BOB, "cops communication")
    card = posted.card
    assert card is not None
    names = [item["items"][0]["text"] for item in card["body"] if item.get("type") == "Container"]
    assert names[0] == "Internal Communications"
    nothing = await bot.say(BOB, "cops astrophysics")
    assert "No CoP matched" in nothing.everything


async def test_cops_without_words_follows_my_profile_interests(bot: BotUnderTest) -> None:
    await three_cops(bot)
    await join(bot, CAROL, TECH, "wider", {"interests": "technicians, lab equipment"})
    posted = await bot.say(CAROL, "cops")
    assert "interests in your profile" in posted.everything
    card = posted.card
    assert card is not None
    names = [item["items"][0]["text"] for item in card["body"] if item.get("type") == "Container"]
    assert names[0] == "Technical Support"


async def test_directory_join_button_opens_the_join_card(bot: BotUnderTest) -> None:
    await three_cops(bot)
    posted = await bot.say(BOB, "cops")
    opened = await bot.press(BOB, posted.card, "Join Internal Communications")
    assert opened.body["type"] == "application/vnd.microsoft.card.adaptive"
    joined = await bot.press(BOB, opened.body["value"], "Join as wider", {"org_area": "vpo"})
    assert "wider member** of Internal Communications" in str(joined.body)


def test_ranking_is_deterministic_and_weights_words_over_interests() -> None:
    from bot.domain.cops import Cop

    cops = [
        Cop("a", "Data and Insight", "t", "s", practice_area="Planning"),
        Cop("b", "Events Management", "t", "s", practice_area="Communications"),
    ]
    assert [c.cop_id for c, _ in rank(cops, "", ())] == ["a", "b"]
    assert [c.cop_id for c, _ in rank(cops, "event", ("data",))] == ["b", "a"]
    assert [c.cop_id for c, _ in rank(cops, "", ("data",))] == ["a", "b"]
    # initials name a CoP whose words the query does not contain
    ranked = rank([*cops, Cop("c", "Project and Programme Management", "t", "s")], "ppm", ())
    assert ranked[0][0].cop_id == "c"
    assert ranked[0][1] > 0 == ranked[1][1]


async def test_members_shows_counts_by_tier_and_area_and_the_gaps(bot: BotUnderTest) -> None:
    await three_cops(bot)
    await join(bot, BOB, DATA, "core", {"org_area": "central"})
    await join(bot, CAROL, DATA, "wider", {"org_area": "faculty"})
    posted = await bot.say_in(ALICE, DATA, "members")
    text = posted.everything
    assert "Core members" in text
    assert "Representation gaps: nobody from Vice-Provost office yet." in text
    facts = {
        f["title"]: f["value"]
        for block in posted.card["body"]  # type: ignore[index]
        if block.get("type") == "FactSet"
        for f in block["facts"]
    }
    assert facts["Core members"] == "1"
    assert facts["Wider members"] == "1"
    assert facts["Central professional services function"] == "1"
    assert facts["Faculty or academic department"] == "1"
    assert facts["Vice-Provost office"] == "0"
    personal = await bot.say(ALICE, "members")  # Alice leads three CoPs: which one?
    assert "Which CoP?" in personal.everything


async def test_members_is_for_leads(bot: BotUnderTest) -> None:
    await three_cops(bot)
    await join(bot, BOB, DATA, "core")
    assert "only this CoP's leads" in (await bot.say_in(BOB, DATA, "members")).everything
    assert "only this CoP's leads" in (await bot.say_in(BOB, DATA, "members export")).everything


async def test_members_export_is_a_signed_csv_link_safe_against_formulas(bot: BotUnderTest) -> None:
    await three_cops(bot)
    await join(bot, BOB, DATA, "core")
    await join(bot, DAN, DATA, "wider", {"org_area": "faculty"})
    posted = await bot.say_in(ALICE, DATA, "members export")
    url = next(a["url"] for a in posted.card["actions"] if a["type"] == "Action.OpenUrl")  # type: ignore[index]
    path = url.split("127.0.0.1:3978", 1)[1]
    status, body, headers = await bot.get(path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Name", "Tier", "Organisational area"]
    by_tier = {row[1]: row for row in rows[1:]}
    assert by_tier["core"][0] == "Bob Brown"
    assert by_tier["wider"][0].startswith("'=HYPERLINK")  # formula neutralised
    assert by_tier["wider"][2] == "Faculty or academic department"
    forged = await bot.get(path[:-3] + "abc")
    assert forged[0] in (403, 404)
    bot.services.clock.advance(timedelta(minutes=16))  # type: ignore[attr-defined]
    expired = await bot.get(path)
    assert expired[0] == 403


async def test_members_card_export_button(bot: BotUnderTest) -> None:
    await three_cops(bot)
    shown = await bot.say_in(ALICE, DATA, "members")
    pressed = await bot.press(ALICE, shown.card, "Export CSV", where=DATA)
    assert "Download CSV" in str(pressed.body)
    other = await bot.press(ALICE, shown.card, "Export CSV", where=COMMS)  # a DATA card pressed in COMMS
    assert "another CoP" in str(other.body)
    assert "Download CSV" not in str(other.body)


def test_csv_cells_that_look_like_formulas_are_quoted() -> None:
    for value in ("=1+1", "+44 20", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert csv_cell(value).startswith("'")
    assert csv_cell("Alice") == "Alice"
