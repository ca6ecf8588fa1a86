"""Finished projects with outcomes in the health scorecard's Impact area (the engine alone, and end to end through
``health`` and the programme view's CSV after a project's outcome is recorded on its card)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from urllib.parse import urlsplit

from bot.health.engine import scorecard
from bot.health.indicators import NO_DATA, Indicator
from bot.health.snapshot import ProjectFacts
from tests.features.health.kit import ADMIN
from tests.features.health.test_health_engine import NOW, TZ, T, healthy
from tests.features.projects.kit import CORE, LEAD, TEAM, setup
from tests.kit.harness import BotUnderTest


def projects_indicator(facts: ProjectFacts | None) -> tuple[Indicator, str]:
    sc = scorecard(replace(healthy(), projects=facts), NOW, T, TZ)
    impact = sc.area("impact")
    [found] = [i for i in impact.indicators if i.label == "Projects finished with an outcome"]
    return found, impact.rating


def test_without_a_project_source_the_indicator_has_no_data_and_the_area_stays_green() -> None:
    found, rating = projects_indicator(None)
    assert (found.figure, found.rating) == (NO_DATA, "none")
    assert rating == "green"


def test_no_projects_or_none_finished_is_not_enough_data() -> None:
    found, rating = projects_indicator(ProjectFacts(0, 0, 0))
    assert (found.rating, found.reason) == ("none", "No projects are registered.")
    assert "project new" in found.action
    found, rating = projects_indicator(ProjectFacts(3, 0, 0))
    assert (found.rating, found.reason) == ("none", "No project has finished yet (3 registered).")
    assert rating == "green"


def test_finished_projects_with_outcomes_are_green() -> None:
    found, rating = projects_indicator(ProjectFacts(4, 2, 0))
    assert (found.figure, found.rating) == ("2", "green")
    assert "of 4 registered" in found.reason
    assert rating == "green"


def test_a_finished_project_without_its_outcome_makes_impact_amber() -> None:
    found, rating = projects_indicator(ProjectFacts(4, 1, 1))
    assert (found.figure, found.rating) == ("1 of 2 finished", "amber")
    assert rating == "amber"
    sc = scorecard(replace(healthy(), projects=ProjectFacts(4, 1, 1)), NOW, T, TZ)
    assert "Record outcome" in sc.area("impact").action


async def finish_with_outcome(bot: BotUnderTest) -> None:
    form = await bot.say_in(LEAD, TEAM, "project new")
    created = await bot.press(
        LEAD, form.card, "Register", {"title": "Templates", "leads": CORE.aad, "status": "running"}, where=TEAM
    )
    outcome_form = await bot.press(LEAD, created.card, "Record outcome", where=TEAM)
    await bot.press(LEAD, outcome_form.card, "Record outcome", {"changed": "Reports in a day."}, where=TEAM)


async def test_health_counts_a_project_finished_with_its_outcome(bot: BotUnderTest) -> None:
    await setup(bot)
    before = await bot.say_in(LEAD, TEAM, "health")
    assert "No projects are registered." in before.everything
    await finish_with_outcome(bot)
    after = await bot.say_in(LEAD, TEAM, "health")
    assert "Projects finished with an outcome**: 1" in after.everything


async def test_the_programme_view_and_its_csv_count_projects_with_outcomes(bot: BotUnderTest) -> None:
    await setup(bot)
    await finish_with_outcome(bot)
    posted = await bot.say(ADMIN, "programme")
    assert "1 finished with outcomes" in posted.everything
    card = posted.card or {}
    url = next(a["url"] for a in card["actions"] if a.get("type") == "Action.OpenUrl")
    status, body, _ = await bot.get(urlsplit(url).path)
    assert status == 200
    rows = {r["CoP"]: r for r in csv.DictReader(io.StringIO(body.decode("utf-8-sig")))}
    assert rows[TEAM.name]["Projects finished with outcomes"] == "1"
    assert rows["Finance"]["Projects finished with outcomes"] == "0"
