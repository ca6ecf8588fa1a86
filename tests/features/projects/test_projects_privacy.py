"""``my data`` and ``forget me`` for projects, follows and shared resources: the export holds what names the
person, and erasure takes them off every project by identity (not by name), keeps their updates and resources
without them, and deletes their follows."""

from __future__ import annotations

from bot.domain.projects import TABLE as PROJECTS
from bot.domain.projects import ProjectRepo
from bot.domain.resources import TABLE as RESOURCES
from bot.domain.resources import ResourceRepo
from tests.features.projects.kit import CORE, CORE2, LEAD, TEAM, WIDER, forget, my_data, setup
from tests.kit.harness import BotUnderTest

REPORT = {"title": "Report template", "url": "https://example.org/t", "kind": "template", "tags": "", "why": ""}


async def build(bot: BotUnderTest) -> str:
    """A project led by CORE with WIDER and CORE2 taking part, an update by CORE, follows by CORE and WIDER, and a
    resource shared by each of CORE and WIDER."""
    await setup(bot)
    form = await bot.say_in(LEAD, TEAM, "project new")
    created = await bot.press(
        LEAD,
        form.card,
        "Register",
        {"title": "Templates", "leads": CORE.aad, "participants": f"{WIDER.aad},{CORE2.aad}", "status": "running"},
        where=TEAM,
    )
    await bot.press(CORE, created.card, "Save update", {"note": "Draft shared by Member 1."}, where=TEAM)
    await bot.press(CORE, created.card, "Follow", where=TEAM)
    await bot.press(WIDER, created.card, "Follow", where=TEAM)
    for who in (CORE, WIDER):
        share = await bot.say_in(who, TEAM, "share resource")
        await bot.press(who, share.card, "Share", {**REPORT, "title": f"Template of {who.name}"}, where=TEAM)
    [project] = await ProjectRepo(bot.services.store).of_cop(TEAM.id)
    return project.project_id


async def test_my_data_lists_my_projects_updates_follows_and_resources(bot: BotUnderTest) -> None:
    project_id = await build(bot)
    data = (await my_data(bot, CORE))["sources"]
    [mine] = data["projects"]["projects"]
    assert (mine["project_id"], mine["lead"], mine["taking_part"]) == (project_id, True, False)
    assert [u["text"] for u in mine["your_updates"]] == ["Draft shared by Member 1."]
    assert data["projects"]["following"] == [{"cop_id": TEAM.id, "project_id": project_id}]
    assert [r["title"] for r in data["resources"]] == ["Template of Member 1"]
    other = (await my_data(bot, CORE2))["sources"]
    assert other["projects"]["projects"][0]["taking_part"] is True
    assert other["projects"]["following"] == []
    assert other["resources"] is None


async def test_forget_me_takes_the_person_off_projects_and_keeps_everyone_elses(bot: BotUnderTest) -> None:
    project_id = await build(bot)
    await forget(bot, CORE)
    store = bot.services.store
    repo = ProjectRepo(store)
    [project] = await repo.of_cop(TEAM.id)
    assert project.leads == ()
    assert {p.aad_id for p in project.participants} == {WIDER.aad, CORE2.aad}
    [update] = project.updates
    assert (update.by_aad, update.by_name, update.text) == ("", "", "Draft shared by former member.")
    assert [f.aad_id for f in await repo.followers(TEAM.id, project_id)] == [WIDER.aad]
    resources = {r.title: r for r in await ResourceRepo(store).of_cop(TEAM.id)}
    assert (resources["Template of Member 1"].shared_by, resources["Template of Member 1"].shared_by_name) == ("", "")
    assert resources["Template of Member 2"].shared_by == WIDER.aad
    for table in (PROJECTS, RESOURCES):
        for row in await store.query(table, None):
            assert CORE.aad not in str(row.data), (table, row.row_key)
            assert CORE.id not in str(row.data), (table, row.row_key)
    # the card still shows the project, its update now by "a former member"
    listed = await bot.say_in(WIDER, TEAM, "projects")
    opened = await bot.press(WIDER, listed.card, "Open", {"project_0": project_id}, where=TEAM)
    assert "a former member" in str(opened.body)
    after = (await my_data(bot, CORE))["sources"]
    assert after["projects"] is None
    assert after["resources"] is None
