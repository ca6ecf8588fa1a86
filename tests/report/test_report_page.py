"""The report page end to end through its signed links: what each role sees (programme team, a sponsor of two
CoPs, a lead, a member refused), the CSV downloads (formula-safe), forged and expired links, and that changing the
address never shows another CoP."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from bot.domain.cops import CopRepo
from bot.domain.practice_areas import PracticeAreaRepo
from bot.features import health as health_feature
from bot.health import red_streaks
from bot.health.engine import AREAS
from bot.jobs.background import settle_background
from bot.security.report_links import report_link
from tests.features.health.kit import Cast, clock, join
from tests.kit.harness import BotUnderTest
from tests.report.kit import ADMIN, ALICE, DATA, EVE, FIN, MEMBER, NOW, OTHER, build, local_path


async def link_from_card(bot: BotUnderTest, who: str) -> str:
    """The "Open the report" link of the card each role gets: programme (admin), health (sponsor, lead)."""
    if who == "admin":
        posted = await bot.say(ADMIN, "programme")
    else:
        posted = await bot.say_in(EVE if who == "sponsor" else ALICE, DATA, "health")
    card = posted.card
    assert card is not None
    [url] = [a["url"] for a in card.get("actions", []) if a.get("title") == "Open the report"]
    return local_path(url)


async def page(bot: BotUnderTest, path: str) -> tuple[int, str, dict[str, str]]:
    status, body, headers = await bot.get(path)
    return status, body.decode("utf-8"), headers


async def table(bot: BotUnderTest, path: str, key: str, cop: str | None = None) -> list[dict[str, str]]:
    suffix = f"&cop={quote(cop, safe='')}" if cop else ""
    status, body, headers = await bot.get(f"{path}/data.csv?table={key}{suffix}")
    assert status == 200, body[:200]
    assert headers["Content-Type"].startswith("text/csv")
    assert "attachment" in headers["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_programme_team_sees_people_memberships_and_every_section(bot: BotUnderTest) -> None:
    await build(bot)
    path = await link_from_card(bot, "admin")
    status, html, headers = await page(bot, path)
    assert status == 200
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == "no-store"
    assert "<strong>17</strong> people in <strong>18</strong> memberships across <strong>3</strong> CoPs" in html
    for heading in ("People and memberships", "Lunch and Learns", "Health of each CoP", "Projects and outputs",
                    "Impact survey", "Questions and digests"):  # fmt: skip
        assert f">{heading}</h2>" in html
    assert html.count('role="img"') >= 4
    assert html.count("<title id=") == html.count('role="img"')
    assert "HYPERLINK(&quot;http://evil&quot;)" in html
    assert 'HYPERLINK("http' not in html
    by_term = {r["Term"]: r for r in await table(bot, path, "people")}
    assert (by_term["Autumn 2025"]["People"], by_term["Autumn 2025"]["Memberships"]) == ("3", "3")
    assert (by_term["Summer 2026"]["People"], by_term["Summer 2026"]["Memberships"]) == ("11", "11")
    autumn = by_term["Autumn 2026"]
    assert (autumn["People"], autumn["Memberships"], autumn["Core"], autumn["Wider"]) == ("17", "18", "7", "11")
    areas = {r["Organisational area"]: r for r in await table(bot, path, "org-areas")}
    assert areas["Central professional services function"]["Memberships"] == "9"
    assert areas["Central professional services function"]["People"] == "8"
    lunch = {r["Term"]: r for r in await table(bot, path, "lunch-and-learns")}
    assert (lunch["Spring 2026"]["Held"], lunch["Spring 2026"]["Cumulative"]) == ("1", "1")  # recorded afterwards
    assert (lunch["Autumn 2026"]["Held"], lunch["Autumn 2026"]["Cumulative"]) == ("2", "3")
    projects = {r["CoP"]: r for r in await table(bot, path, "projects")}
    assert projects["Data and Insight"]["Finished with outcome recorded"] == "1"
    assert projects["Data and Insight"]["Running"] == "1"
    digests = {r["CoP"]: r for r in await table(bot, path, "digests")}
    assert (digests["Data and Insight"]["Sent"], digests["Data and Insight"]["Failed"]) == ("1", "0")
    assert (digests["Finance"]["Sent"], digests["Finance"]["Failed"]) == ("0", "1")
    queries = {r["Term"]: r for r in await table(bot, path, "queries")}
    assert (queries["Autumn 2026"]["Questions"], queries["Autumn 2026"]["Responded to"]) == ("2", "1")
    assert queries["Autumn 2026"]["Median first response (hours)"] == "2.0"
    health = {r["CoP"]: r for r in await table(bot, path, "health")}
    assert health["Data and Insight"]["Purpose"] == "amber"  # as the health card rates it
    assert set(health) == {"Data and Insight", "Finance", "'" + '=HYPERLINK("http://evil")'}  # formula-safe


async def test_the_survey_shows_only_what_the_disclosure_rule_lets_through(bot: BotUnderTest) -> None:
    await build(bot)
    admin = await link_from_card(bot, "admin")
    rows = await table(bot, admin, "survey")
    assert rows
    assert {r["Scope"] for r in rows} == {"all CoPs"}
    first = rows[0]
    assert (first["2021 % agree"], first["Latest % agree"]) == ("92", str(round(5 / 8 * 100)))
    lead = await link_from_card(bot, "lead")  # Alice's CoP is the complement that keeps Finance's 2 answers hidden
    assert await table(bot, lead, "survey") == []
    _, html, _ = await page(bot, lead)
    assert "figures are held back" in html


async def test_a_sponsor_sees_their_two_cops_and_nothing_else(bot: BotUnderTest) -> None:
    await build(bot)
    path = await link_from_card(bot, "sponsor")
    status, html, _ = await page(bot, path)
    assert status == 200
    assert "<strong>14</strong> people in <strong>15</strong> memberships across <strong>2</strong> CoPs" in html
    assert "HYPERLINK" not in html
    assert {r["CoP"] for r in await table(bot, path, "projects")} == {"Data and Insight", "Finance"}
    status, html, _ = await page(bot, f"{path}?cop={quote(FIN.id, safe='')}")
    assert status == 200
    assert "report: Finance" in html
    assert [r["CoP"] for r in await table(bot, path, "digests", cop=FIN.id)] == ["Finance"]


async def test_a_lead_sees_their_cop_and_changing_the_address_shows_no_other(bot: BotUnderTest) -> None:
    await build(bot)
    path = await link_from_card(bot, "lead")
    status, html, _ = await page(bot, path)
    assert status == 200
    assert "report: Data and Insight" in html
    assert "<strong>10</strong> people in <strong>10</strong> memberships across <strong>1</strong> CoP." in html
    for other in (FIN.id, OTHER.id, "nonsense", "x" * 600):
        status, html, _ = await page(bot, f"{path}?cop={quote(other, safe='')}")
        assert status == 403
        assert "Not one of your CoPs" in html
        status, _, _ = await bot.get(f"{path}/data.csv?table=people&cop={quote(other, safe='')}")
        assert status == 403
    assert (await bot.get(f"{path}/data.csv?table=nothing"))[0] == 404


async def test_a_member_and_a_former_lead_are_refused(bot: BotUnderTest) -> None:
    await build(bot)
    services = bot.services
    status, html, _ = await page(bot, local_path(report_link(services, MEMBER.aad, "lead")))
    assert status == 403
    assert "No report for you here" in html
    # a lead's link made into a programme-team link by its holder is refused: the role is checked in storage
    status, _, _ = await page(bot, local_path(report_link(services, ALICE.aad, "admin")))
    assert status == 403


async def test_forged_tampered_and_expired_links_are_refused_without_an_error(bot: BotUnderTest) -> None:
    await build(bot)
    path = await link_from_card(bot, "admin")
    token = path.rsplit("/", 1)[1]
    body, mac = token.split(".")
    for bad in (f"{body}.{mac[:-2]}AA", f"{body[:-2]}xx.{mac}", "nonsense", "a.b", "%ff.%fe"):
        status, html, _ = await page(bot, f"/report/{bad}")
        assert status == 401
        assert "not valid" in html
        assert (await bot.get(f"/report/{bad}/data.csv?table=people"))[0] == 401
    clock(bot).advance(timedelta(days=8))
    status, html, _ = await page(bot, path)
    assert status == 401
    assert "expired" in html
    assert (await bot.get(f"{path}/data.csv?table=people"))[0] == 401


@pytest.mark.parametrize("name", ["report.css", "report.js", "tab.js", "teams.js"])
async def test_the_pages_files_are_served_from_the_bot(bot: BotUnderTest, name: str) -> None:
    status, body, headers = await bot.get(f"/report/static/{name}")
    assert status == 200
    assert body
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert (await bot.get("/report/static/other.js"))[0] == 404


async def test_practice_areas_are_broken_down_once_a_cop_has_one(bot: BotUnderTest) -> None:
    await build(bot)
    path = await link_from_card(bot, "admin")
    _, html, _ = await page(bot, path)
    assert "no breakdown by practice area" in html
    area = await PracticeAreaRepo(bot.services.store).add("Planning")
    await CopRepo(bot.services.store).change(DATA.id, NOW, lambda c: replace(c, practice_area_id=area.area_id))
    _, html, _ = await page(bot, path)
    assert "Members by practice area" in html
    rows = {r["Practice area"]: r for r in await table(bot, path, "practice-areas")}
    assert (rows["Planning"]["CoPs"], rows["Planning"]["People"], rows["Planning"]["Memberships"]) == ("1", "10", "10")
    assert (rows["Not set"]["CoPs"], rows["Not set"]["Memberships"]) == ("2", "8")


async def test_the_heat_map_rates_each_area_as_the_health_card_does(bot: BotUnderTest) -> None:
    await build(bot)
    first_red = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # the weekly check first saw it red
    await red_streaks.update(bot.services.store, DATA.id, [("Leadership", "red"), ("Purpose", "amber")], first_red)
    path = await link_from_card(bot, "sponsor")
    rows = {r["CoP"]: r for r in await table(bot, path, "health")}
    assert rows["Data and Insight"]["Leadership"] == "red"
    assert rows["Data and Insight"]["Red since (weekly check)"] == "Leadership since 05 Oct 2026"
    assert rows["Finance"]["Red since (weekly check)"] == ""
    for where in (DATA, FIN):
        cop = await CopRepo(bot.services.store).get(where.id)
        assert cop is not None
        card, _, _ = await health_feature.compute(bot.services, cop)  # what the health card shows
        expected = {a.title: (a.rating if a.rating != "none" else "not enough data") for a in card.areas}
        assert {title: rows[cop.name][title] for _, title in AREAS} == expected


async def test_figures_follow_a_join_at_once(bot: BotUnderTest) -> None:
    """The page reads each CoP's indicator snapshot; a join marks the CoP's stale, so the next view recounts it."""
    await build(bot)
    path = await link_from_card(bot, "lead")
    _, html, _ = await page(bot, path)
    assert "<strong>10</strong> people" in html
    await join(bot.services.store, DATA, {Cast.member(60): ("wider", "other")}, NOW)
    _, html, _ = await page(bot, path)
    assert "<strong>11</strong> people" in html
    await settle_background(bot.services)  # the recount is stored, then read as it is
    _, html, _ = await page(bot, path)
    assert "<strong>11</strong> people" in html
