"""``projects export``: the CSV behind a signed, short-lived link, for a lead's CoP or (programme admins) every CoP,
with formula-like cells made plain text."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlsplit

from tests.features.health.kit import ADMIN, Cast, clock
from tests.features.projects.kit import CORE, LEAD, OTHER, TEAM, WIDER, setup
from tests.kit.activities import Team, User
from tests.kit.harness import BotUnderTest, Posted

OTHER_LEAD = Cast.leads[1]


async def register(bot: BotUnderTest, who: User, where: Team, title: str) -> Posted:
    form = await bot.say_in(who, where, "project new")
    values = {"title": title, "leads": "", "participants": "", "status": "running"}
    return await bot.press(who, form.card, "Register", values, where=where)


def link(posted: Posted) -> str:
    card = posted.card or {}
    return str(urlsplit(next(a["url"] for a in card["actions"] if a.get("type") == "Action.OpenUrl")).path)


async def rows(bot: BotUnderTest, path: str) -> list[dict[str, str]]:
    status, body, headers = await bot.get(path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))


async def test_a_lead_exports_the_cops_projects_with_outcomes_and_formulas_made_plain(bot: BotUnderTest) -> None:
    await setup(bot)
    created = await register(bot, LEAD, TEAM, '=HYPERLINK("http://evil")')
    form = await bot.press(LEAD, created.card, "Record outcome", where=TEAM)
    outcome = {"changed": "+1 day saved", "users": "@finance", "case_study": "-", "links": "https://e.org/a"}
    await bot.press(LEAD, form.card, "Record outcome", outcome, where=TEAM)
    await register(bot, CORE, TEAM, "Plain project")
    await register(bot, OTHER_LEAD, OTHER, "Elsewhere")
    posted = await bot.say_in(LEAD, TEAM, "projects export")
    assert "15 minutes" in posted.everything
    found = await rows(bot, link(posted))
    assert [r["Project"] for r in found] == ['\'=HYPERLINK("http://evil")', "Plain project"]
    first = found[0]
    assert (first["Status"], first["What changed"], first["Who uses it"], first["Case study"]) == (
        "Finished",
        "'+1 day saved",
        "'@finance",
        "'-",
    )
    assert first["Led by"] == LEAD.name
    assert first["Links"] == "https://e.org/a"
    assert found[1]["Led by"] == CORE.name


async def test_a_programme_admin_exports_every_cop_and_members_cannot(bot: BotUnderTest) -> None:
    await setup(bot)
    await register(bot, LEAD, TEAM, "Templates")
    await register(bot, OTHER_LEAD, OTHER, "Budget model")
    found = await rows(bot, link(await bot.say(ADMIN, "projects export")))
    assert {(r["CoP"], r["Project"]) for r in found} == {("Data and Insight", "Templates"), ("Finance", "Budget model")}
    assert "only this CoP's leads" in (await bot.say_in(WIDER, TEAM, "projects export")).everything


async def test_the_link_expires_and_cannot_be_altered(bot: BotUnderTest) -> None:
    await setup(bot)
    await register(bot, LEAD, TEAM, "Templates")
    path = link(await bot.say_in(LEAD, TEAM, "projects export"))
    assert (await bot.get(path[:-3] + "abc"))[0] == 404
    clock(bot).advance(timedelta(minutes=16))
    assert (await bot.get(path))[0] == 403
