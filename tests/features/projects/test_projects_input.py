"""Bad input to projects and resources: every refused field gets a clear reason on the form and nothing is stored;
user text is shown inert; forged, altered, stale and misplaced buttons are refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.projects import ProjectRepo
from bot.domain.resources import ResourceRepo
from tests.features.health.kit import clock
from tests.features.projects.kit import CORE, LEAD, OTHER, TEAM, WIDER, setup
from tests.kit.harness import BotUnderTest, Posted, find_action

GOOD_RESOURCE = {"title": "Report template", "url": "https://example.org/t", "kind": "template", "tags": "", "why": ""}
GOOD_PROJECT = {"title": "Templates", "goal": "", "leads": "", "participants": "", "status": "running"}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"url": "javascript:alert(1)"}, "must be a web address starting with https://"),
        ({"url": "ftp://example.org/file"}, "must be a web address starting with https://"),
        ({"url": "data:text/html,<b>x</b>"}, "must be one web address"),
        ({"url": "https://example.org/a b"}, "must be one web address, with no spaces"),
        ({"url": "https://"}, "must be a web address starting with https://"),
        ({"url": "https://user:pw@example.org/"}, "must not carry a user name or password"),
        ({"url": "https://example.org/" + "a" * 500}, "Link is too long"),
        ({"url": ""}, "Link is required"),
        ({"title": ""}, "Title is required"),
        ({"title": "x" * 121}, "Title is too long: 121 characters, at most 120"),
        ({"title": "Report\u202etemplate"}, "Title contains control characters"),
        ({"kind": "video"}, "Please choose what kind of resource it is"),
        ({"tags": ",".join(f"t{i}" for i in range(9))}, "Tags: at most 8, not 9"),
        ({"tags": "x" * 41}, "is too long: at most 40 characters per tag"),
        ({"why": "y" * 301}, "Why it helps is too long"),
        ({"title": 12}, "Title must be text"),
    ],
)
async def test_a_bad_resource_is_refused_with_its_reason_and_nothing_stored(
    bot: BotUnderTest, changes: dict[str, Any], reason: str
) -> None:
    await setup(bot)
    form = await bot.say_in(WIDER, TEAM, "share resource")
    refused = await bot.press(WIDER, form.card, "Share", {**GOOD_RESOURCE, **changes}, where=TEAM)
    assert refused.status == 200
    assert reason in str(refused.body)
    assert await ResourceRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_titles_and_tags_are_shown_inert(bot: BotUnderTest) -> None:
    await setup(bot)
    form = await bot.say_in(WIDER, TEAM, "share resource")
    hostile = {
        **GOOD_RESOURCE,
        "title": "**Click** [here](javascript:alert(1)) <at>Alice</at>",
        "tags": "# heading, _x_",
    }
    await bot.press(WIDER, form.card, "Share", hostile, where=TEAM)
    shown = (await bot.say_in(CORE, TEAM, "resources")).everything
    assert "\\*\\*Click\\*\\* \\[here\\](javascript:alert(1)) \\<at\\>Alice\\</at\\>" in shown
    assert "[here](" not in shown
    assert "\\# heading" in shown


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"title": ""}, "Title is required"),
        ({"title": "t" * 121}, "Title is too long"),
        ({"goal": "g" * 1001}, "Goal is too long"),
        ({"status": "abandoned"}, "Please choose the status from the list"),
        ({"start": "2026-13-01"}, "Start date must be a date"),
        ({"start": "2026-10-02", "end": "2026-10-01"}, "The end date is before the start date"),
        ({"leads": "aad-stranger"}, "Led by: please choose people from the list"),
        ({"participants": "aad-0001,aad-nobody"}, "Taking part: please choose people from the list"),
        ({"title": "Tem\x07plates"}, "Title contains control characters"),
    ],
)
async def test_a_bad_project_is_refused_with_its_reason_and_nothing_stored(
    bot: BotUnderTest, changes: dict[str, Any], reason: str
) -> None:
    await setup(bot)
    form = await bot.say_in(LEAD, TEAM, "project new")
    refused = await bot.press(LEAD, form.card, "Register", {**GOOD_PROJECT, **changes}, where=TEAM)
    assert reason in str(refused.body)
    assert await ProjectRepo(bot.services.store).of_cop(TEAM.id) == []


async def registered(bot: BotUnderTest) -> Posted:
    await setup(bot)
    form = await bot.say_in(LEAD, TEAM, "project new")
    return await bot.press(LEAD, form.card, "Register", GOOD_PROJECT, where=TEAM)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"changed": ""}, "What changed is required"),
        ({"changed": "c" * 1001}, "What changed is too long"),
        ({"changed": "ok", "links": "javascript:alert(1)"}, "Links must be a web address starting with https://"),
        ({"changed": "ok", "links": "\n".join(f"https://e.org/{i}" for i in range(6))}, "Links: at most 5 links"),
        ({"changed": "ok", "case_study": "c" * 4001}, "Case study is too long"),
    ],
)
async def test_a_bad_outcome_is_refused_and_the_project_stays_as_it_was(
    bot: BotUnderTest, changes: dict[str, Any], reason: str
) -> None:
    created = await registered(bot)
    form = await bot.press(LEAD, created.card, "Record outcome", where=TEAM)
    refused = await bot.press(LEAD, form.card, "Record outcome", changes, where=TEAM)
    assert reason in str(refused.body)
    [project] = await ProjectRepo(bot.services.store).of_cop(TEAM.id)
    assert project.outcome is None
    assert project.status == "running"


@pytest.mark.parametrize(
    ("note", "reason"),
    [("", "Update is required"), ("n" * 501, "Update is too long"), ("a\x00b", "Update contains control characters")],
)
async def test_a_bad_update_is_refused(bot: BotUnderTest, note: str, reason: str) -> None:
    created = await registered(bot)
    refused = await bot.press(LEAD, created.card, "Save update", {"note": note}, where=TEAM)
    assert reason in str(refused.body)
    assert "Nothing was changed" in str(refused.body)
    [project] = await ProjectRepo(bot.services.store).of_cop(TEAM.id)
    assert project.updates == ()


async def test_forged_altered_stale_and_misplaced_buttons_are_refused(bot: BotUnderTest) -> None:
    created = await registered(bot)
    follow = find_action(created.card or {}, "Follow")["data"]
    altered = await bot.click(WIDER, "project.follow", {**follow, "id": "0" * 12}, where=TEAM)
    assert "altered" in str(altered.body)
    unsealed = await bot.click(WIDER, "project.follow", {"cop_id": TEAM.id, "id": follow["id"]}, where=TEAM)
    assert "didn't come from me" in str(unsealed.body)
    elsewhere = await bot.click(WIDER, "project.follow", follow, where=OTHER)
    assert "belongs to another CoP" in str(elsewhere.body)
    gone = await bot.click(
        WIDER, "project.follow", bot.sealed("project.follow", {"cop_id": TEAM.id, "id": "a" * 12}), where=TEAM
    )
    assert "can't find that project" in str(gone.body)
    clock(bot).advance(timedelta(days=121))
    stale = await bot.click(WIDER, "project.follow", follow, where=TEAM)
    assert "expired" in str(stale.body)
    assert await ProjectRepo(bot.services.store).followers(TEAM.id, str(follow["id"])) == []
    remove = bot.sealed("resource.remove", {"cop_id": TEAM.id, "id": "../../x"})
    assert "already been removed" in str((await bot.click(LEAD, "resource.remove", remove, where=TEAM)).body)
