"""``health`` end to end: a CoP with known activity written through the repos over a fake clock, the scorecard
card and every figure it rates, who may ask, the trend picture, and a CoP with no data."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from bot.features import health as health_feature
from bot.health import history
from bot.health.engine import Scorecard
from bot.health.indicators import NO_DATA
from storage.base import Where
from tests.features.health.kit import (
    ADMIN,
    NOW,
    Cast,
    add_event,
    add_faq,
    add_query,
    clock,
    join,
    make_cop,
)
from tests.kit.activities import team
from tests.kit.harness import BotUnderTest

C = Cast()
ALICE, BO, CY = C.leads
EVE = C.sponsor
TEAM = team(1, "Data and Insight")
OTHER = team(2, "Finance")
T0 = NOW - timedelta(days=100)  # 15 Aug 2026


def m(n: int) -> Any:
    return Cast.member(n)


async def build_rich_cop(bot: BotUnderTest) -> None:
    """12 members over 100 days, meetings, a Lunch and Learn with feedback, queries, an FAQ entry, posts."""
    store = bot.services.store
    clock(bot).set(T0)
    await make_cop(
        store, bot.connector.url, TEAM, T0, leads=C.leads, sponsor=EVE, terms_of_reference="https://x/tor",
        objectives="Share practice.",
    )  # fmt: skip
    areas = ["central"] * 4 + ["faculty"] * 4 + ["vpo"] * 2
    await join(store, TEAM, {m(i): ("core" if i < 4 else "wider", areas[i]) for i in range(10)}, T0)
    assert await health_feature.run_due(bot.services, T0) == 1
    # the daily trend point: 10 members on 15 Aug; once a day whatever the minute ticks
    assert await health_feature.run_due(bot.services, T0 + timedelta(minutes=1)) == 0
    later = datetime(2026, 11, 1, 9, 0, tzinfo=NOW.tzinfo)
    clock(bot).set(later)
    await join(store, TEAM, {m(10): ("wider", "central"), m(11): ("wider", "central")}, later)
    await join(store, TEAM, {m(5): ("core", "faculty")}, later)  # a wider member becomes core
    await add_event(store, TEAM, "lunch_and_learn", datetime(2026, 10, 14, 12, 0, tzinfo=NOW.tzinfo),
                    ratings=[5, 4, 4], lead=ALICE)  # fmt: skip
    await add_event(store, TEAM, "core_meeting", datetime(2026, 10, 20, 14, 0, tzinfo=NOW.tzinfo), lead=ALICE)
    await add_event(store, TEAM, "lead_sponsor", NOW - timedelta(weeks=3), lead=ALICE)
    await add_event(store, TEAM, "social", NOW + timedelta(days=5), lead=ALICE)  # this term, not yet held
    asker = m(3)
    for hours_ago, answered_after in ((200, 2), (150, 3), (100, 10)):
        await add_query(store, TEAM, asker, NOW - timedelta(hours=hours_ago), responder=ALICE,
                        after=timedelta(hours=answered_after))  # fmt: skip
    await add_query(store, TEAM, asker, NOW - timedelta(hours=72))  # open past the 48 h target
    await add_faq(store, TEAM, datetime(2026, 10, 1, tzinfo=NOW.tzinfo))
    clock(bot).set(NOW)
    for i in (0, 1, 2):
        posted = await bot.say_in(m(i), TEAM, "Thanks, that worked for me.", mention_bot=False)
        assert posted.status in (200, 201)


async def scorecard_of(bot: BotUnderTest, cop_id: str) -> Scorecard:
    from bot.domain.cops import CopRepo

    cop = await CopRepo(bot.services.store).get(cop_id)
    assert cop is not None
    sc, _, _ = await health_feature.compute(bot.services, cop)
    return sc


def figure(sc: Scorecard, label_start: str) -> tuple[str, str]:
    [ind] = [i for a in sc.areas for i in a.indicators if i.label.startswith(label_start)]
    return ind.figure, ind.rating


async def test_scorecard_measures_every_indicator_of_a_cop_with_known_activity(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    sc = await scorecard_of(bot, TEAM.id)
    assert sc.term_name == "Autumn 2026"
    assert figure(sc, "Terms of reference") == ("2 of 2 set", "green")
    assert figure(sc, "Leads") == ("3", "green")
    assert figure(sc, "Sponsor") == ("set", "green")
    assert figure(sc, "Representation") == ("3 of 3 areas", "green")
    assert figure(sc, "Lead-sponsor meeting") == ("3 weeks ago", "green")
    assert figure(sc, "Core meeting this term") == ("held 20 Oct", "green")
    # posters m0, m1, m2; the asker m3 and the responder (a lead) from the queries: 5 of 12 members
    assert figure(sc, "Contributors") == ("5 of 12 (42%)", "green")
    assert figure(sc, "Query response rate") == ("3 of 4 (75%)", "amber")
    assert figure(sc, "Median time to first response") == ("3 h", "green")
    assert figure(sc, "Open queries past target") == ("1 of 4 open", "amber")
    assert figure(sc, "Lunch and Learns this term") == ("1", "green")
    assert figure(sc, "FAQ entries added this term") == ("1", "green")
    assert figure(sc, "Event feedback") == ("4.3 / 5 (3 ratings)", "green")
    assert figure(sc, "Impact survey") == (NO_DATA, "none")
    assert figure(sc, "Net membership growth") == ("+2 (+20%)", "green")  # 10 on the 15 Aug trend point
    assert figure(sc, "Wider") == ("1", "green")
    assert [(a.key, a.rating) for a in sc.areas] == [
        ("purpose", "green"),
        ("governance", "green"),
        ("leadership", "green"),
        ("vitality", "amber"),
        ("learning", "green"),
        ("impact", "green"),  # feedback green; the survey has no data yet and does not drag it down
        ("sustainability", "green"),
    ]
    assert "unanswered" in sc.area("vitality").action
    assert sc.gaps == ()


async def test_lead_gets_the_scorecard_card_in_the_channel(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    posted = await bot.say_in(ALICE, TEAM, "health")
    assert posted.status in (200, 201)
    [call] = posted.calls
    text = call.card_text
    assert "Health of Data and Insight" in text
    for title in ("Purpose", "Governance and structure", "Leadership", "Vitality and interaction",
                  "Learning and sharing", "Impact and value", "Sustainability"):  # fmt: skip
        assert title in text
    assert "6 green, 1 amber" in text
    assert "Query response rate**: 3 of 4 (75%)" in text
    assert "Next: Look at **unanswered**" in text


async def test_trend_picture_is_a_png_behind_a_signed_link(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    posted = await bot.say_in(ALICE, TEAM, "health")
    card = posted.calls[0].card
    assert card is not None
    [img] = [e for e in _walk(card) if e.get("type") == "Image"]
    assert "Members 10 on 2026-08-15" in img["altText"]
    path = re.sub(r"^https?://[^/]+", "", img["url"])
    status, body, headers = await bot.get(path)
    assert status == 200
    assert body.startswith(b"\x89PNG\r\n\x1a\n")
    assert headers["Content-Type"] == "image/png"
    status, _, _ = await bot.get(path[:-3] + ("abc" if not path.endswith("abc") else "xyz"))
    assert status == 404
    clock(bot).advance(timedelta(days=31))
    status, _, _ = await bot.get(path)
    assert status == 403  # expired


async def test_trend_points_are_kept_once_a_day(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    store = bot.services.store
    await bot.say_in(ALICE, TEAM, "health")
    await bot.say_in(ALICE, TEAM, "health")
    points = await history.trend(store, TEAM.id, "2026-01-01")
    assert [(p.day, p.members) for p in points] == [("2026-08-15", 10), ("2026-11-23", 12)]
    assert points[-1].median_response_hours == 3.0
    clock(bot).advance(timedelta(days=7))
    await join(store, TEAM, {m(20): ("wider", "vpo")}, clock(bot).now())
    await health_feature.run_due(bot.services, clock(bot).now())
    points = await history.trend(store, TEAM.id, "2026-01-01")
    assert [(p.day, p.members) for p in points][-1] == ("2026-11-30", 13)


async def test_sponsor_in_personal_chat_and_admin_choosing_a_cop(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    await make_cop(bot.services.store, bot.connector.url, OTHER, NOW, leads=[BO])
    sponsor = await bot.say(EVE, "health")
    assert "Health of Data and Insight" in sponsor.calls[0].card_text
    admin = await bot.say(ADMIN, "health")
    assert "Which CoP?" in admin.calls[0].card_text
    chosen = await bot.press(ADMIN, admin.card, "Finance")
    assert chosen.status == 200
    assert "Health of Finance" in str(chosen.body)


async def test_members_and_outsiders_are_refused(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    member = await bot.say_in(m(1), TEAM, "health")
    assert "only this CoP's sponsor, leads and programme admins" in member.everything
    assert "Health of" not in member.everything
    outsider = await bot.say(C.outsider, "health")
    assert "Health of" not in outsider.everything
    forged = await bot.click(m(1), "health.show", bot.sealed("health.show", {"cop_id": TEAM.id}))
    assert "only this CoP's sponsor" in str(forged.body)


async def test_a_cop_with_no_data_says_not_enough_data(bot: BotUnderTest) -> None:
    await make_cop(bot.services.store, bot.connector.url, OTHER, NOW, leads=[BO])
    posted = await bot.say_in(BO, OTHER, "health")
    assert posted.status in (200, 201)
    text = posted.calls[0].card_text
    assert "Health of Finance" in text
    assert "not enough data" in text
    sc = await scorecard_of(bot, OTHER.id)
    for key in ("vitality", "impact", "sustainability"):
        assert sc.area(key).rating == "none", key
    assert sc.area("purpose").rating == "red"
    assert figure(sc, "Leads") == ("1", "amber")


async def test_contribution_markers_name_nobody_and_are_erased_on_forget_me(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    store = bot.services.store
    rows = await store.query(history.CONTRIB, None)
    assert len(rows) == 3
    for row in rows:
        blob = f"{row.partition_key}|{row.row_key}|{dict(row.data)}"
        assert "aad-" not in blob
        assert "29:" not in blob
    [source] = [s for s in bot.services.privacy.sources if s.name == "health.contributions"]
    exported = await source.export(bot.services, m(0).aad)
    assert exported == {"days_you_posted_in_a_cop_channel": ["20261123"]}
    await source.erase(bot.services, m(0).aad)
    assert len(await store.query(history.CONTRIB, None)) == 2
    assert await source.export(bot.services, m(0).aad) is None


async def test_old_contribution_markers_are_pruned(bot: BotUnderTest) -> None:
    await build_rich_cop(bot)
    clock(bot).advance(timedelta(days=40))
    await health_feature.run_due(bot.services, clock(bot).now())
    assert await bot.services.store.query(history.CONTRIB, None, [Where("who", "ne", "")]) == []


def _walk(node: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += _walk(value)
    elif isinstance(node, list):
        for value in node:
            found += _walk(value)
    return found


async def test_the_scheduler_tick_runs_the_health_and_survey_jobs(bot: BotUnderTest) -> None:
    from bot.jobs.scheduler import run_due_work

    await make_cop(bot.services.store, bot.connector.url, OTHER, NOW, leads=[BO])
    results = await run_due_work(bot.services, NOW)
    assert results["health"] == 1
    assert results["survey"] == 0
    again = await run_due_work(bot.services, NOW + timedelta(minutes=1))
    assert again["health"] == 0  # the daily pass ran already today
    assert len(await history.trend(bot.services.store, OTHER.id, "2026-01-01")) == 1
