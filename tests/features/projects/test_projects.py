"""CoP projects end to end through Teams activities and card clicks: registering, listing, updates, status and
outcome, following with personal notices through the outbox, and who may do what."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from bot.domain.members import MembershipRepo
from bot.domain.projects import ProjectRepo
from tests.features.health.kit import NOW, Cast, clock, join
from tests.features.projects.kit import CORE, CORE2, LEAD, OTHER, OUTSIDER, TEAM, WIDER, has_button, setup, to
from tests.kit.activities import User
from tests.kit.harness import BotUnderTest, Posted


async def register(bot: BotUnderTest, who: User = LEAD, inputs: dict[str, Any] | None = None) -> tuple[Posted, Posted]:
    form = await bot.say_in(who, TEAM, "project new")
    assert form.card is not None
    assert "Register a project" in form.everything
    values = {
        "title": "Shared dashboard templates",
        "goal": "One template for every team's monthly figures.",
        "leads": f"{CORE.aad}",
        "participants": f"{WIDER.aad},{CORE2.aad}",
        "status": "running",
        "start": "2026-10-01",
        "end": "",
        **(inputs or {}),
    }
    return form, await bot.press(who, form.card, "Register", values, where=TEAM)


async def the_project(bot: BotUnderTest) -> Any:
    [project] = await ProjectRepo(bot.services.store).of_cop(TEAM.id)
    return project


async def test_a_lead_registers_a_project_and_everyone_sees_it_in_projects(bot: BotUnderTest) -> None:
    await setup(bot)
    _, created = await register(bot)
    assert created.status == 200
    text = str(created.body)
    assert "Shared dashboard templates" in text
    assert "Running" in text
    assert "Member 1" in text
    assert "Member 2" in text
    assert "Member 3" in text
    project = await the_project(bot)
    assert [p.aad_id for p in project.leads] == [CORE.aad]
    assert {p.aad_id for p in project.participants} == {WIDER.aad, CORE2.aad}
    assert project.start == date(2026, 10, 1)
    assert project.status == "running"
    listed = await bot.say_in(WIDER, TEAM, "projects")
    assert "Shared dashboard templates" in listed.everything
    assert not has_button(listed.card, "Register a project")  # wider members don't register projects
    assert has_button((await bot.say_in(CORE, TEAM, "projects")).card, "Register a project")


async def test_personal_chat_lists_the_projects_of_my_cops_only(bot: BotUnderTest) -> None:
    await setup(bot)
    await register(bot)
    assert "Shared dashboard templates" in (await bot.say(WIDER, "projects")).everything
    other_lead_view = await bot.say(User("29:x", "aad-x", "Xavier"), "projects")
    assert "aren't in any CoP" in other_lead_view.everything
    assert "Shared dashboard templates" not in (await bot.say_in(LEAD, OTHER, "projects")).everything


async def test_core_members_register_wider_members_and_outsiders_cannot(bot: BotUnderTest) -> None:
    await setup(bot)
    _, _created = await register(bot, CORE, {"leads": ""})
    project = await the_project(bot)
    assert [p.aad_id for p in project.leads] == [CORE.aad]  # no lead chosen: whoever registered it leads it
    assert "Only the CoP's leads and core members" in (await bot.say_in(WIDER, TEAM, "project new")).everything
    assert "only members of this CoP" in (await bot.say_in(OUTSIDER, TEAM, "project new")).everything
    # a wider member pressing a genuine Register button from someone else's form is refused too
    form = await bot.say_in(LEAD, TEAM, "project new")
    refused = await bot.press(WIDER, form.card, "Register", {"title": "Mine", "status": "proposed"}, where=TEAM)
    assert "Only the CoP's leads and core members" in str(refused.body)
    assert len(await ProjectRepo(bot.services.store).of_cop(TEAM.id)) == 1


async def test_the_same_form_sent_twice_registers_one_project(bot: BotUnderTest) -> None:
    await setup(bot)
    form, _ = await register(bot)
    await bot.press(
        LEAD, form.card, "Register", {"title": "Shared dashboard templates", "status": "running"}, where=TEAM
    )
    assert len(await ProjectRepo(bot.services.store).of_cop(TEAM.id)) == 1


async def test_updates_status_and_outcome_by_the_projects_lead_and_followers_are_told(bot: BotUnderTest) -> None:
    await setup(bot)
    _, created = await register(bot)
    card = created.card
    followed = await bot.press(WIDER, card, "Follow", where=TEAM)
    assert has_button(followed.card, "Unfollow")
    await bot.press(LEAD, card, "Follow", where=TEAM)
    # the project's own lead (a core member, not a CoP lead) adds a dated update
    updated = await bot.press(CORE, card, "Save update", {"note": "First draft shared with three teams."}, where=TEAM)
    assert "First draft shared with three teams." in str(updated.body)
    assert "23 Nov 2026, Member 1" in str(updated.body)
    paused = await bot.press(CORE, card, "Save status", {"status": "paused"}, where=TEAM)
    assert "Paused" in str(paused.body)
    await bot.services.outbox.flush(clock(bot).now())
    [notice] = to(bot, WIDER)
    assert "changed from Running to Paused" in notice.everything
    assert len(to(bot, LEAD)) == 1
    assert not to(bot, CORE)
    clock(bot).advance(timedelta(days=20))
    form = await bot.press(CORE, card, "Record outcome", where=TEAM)
    recorded = await bot.press(
        CORE,
        form.card,
        "Record outcome",
        {"changed": "Monthly reports take a day, not a week.", "users": "Finance", "links": "https://example.org/t"},
        where=TEAM,
    )
    assert "Monthly reports take a day, not a week." in str(recorded.body)
    project = await the_project(bot)
    assert project.status == "finished"
    assert project.outcome is not None
    assert project.has_impact
    assert project.end == date(2026, 12, 13)
    await bot.services.outbox.flush(clock(bot).now())
    assert "Its outcome was recorded." in to(bot, WIDER)[-1].everything
    unfollowed = await bot.press(WIDER, followed.card, "Unfollow", where=TEAM)
    assert has_button(unfollowed.card, "Follow")
    assert await ProjectRepo(bot.services.store).followers(TEAM.id, project.project_id) != []
    assert WIDER.aad not in {
        f.aad_id for f in await ProjectRepo(bot.services.store).followers(TEAM.id, project.project_id)
    }


async def test_only_the_projects_leads_and_the_cops_leads_edit_it(bot: BotUnderTest) -> None:
    await setup(bot)
    _, created = await register(bot)
    # a participant presses the genuine buttons of the lead's card: refused, nothing changed
    for button, inputs in (
        ("Save update", {"note": "sneaky"}),
        ("Save status", {"status": "finished"}),
        ("Record outcome", {}),
        ("Edit", {}),
    ):
        refused = await bot.press(WIDER, created.card, button, inputs, where=TEAM)
        assert "Only the project's leads and the CoP's leads" in str(refused.body), button
    project = await the_project(bot)
    assert project.status == "running"
    assert not project.updates
    # the CoP's lead may, though not named on the project
    assert "Paused" in str((await bot.press(LEAD, created.card, "Save status", {"status": "paused"}, where=TEAM)).body)


async def test_a_member_sees_no_edit_buttons_but_can_follow(bot: BotUnderTest) -> None:
    await setup(bot)
    _, _created = await register(bot)
    listed = await bot.say_in(WIDER, TEAM, "projects")
    project = await the_project(bot)
    opened = await bot.press(WIDER, listed.card, "Open", {"project_0": project.project_id}, where=TEAM)
    assert has_button(opened.card, "Follow")
    assert not has_button(opened.card, "Save status")
    assert not has_button(opened.card, "Record outcome")
    outsider = await bot.press(OUTSIDER, opened.card, "Follow", where=TEAM)
    assert "only members of this CoP" in str(outsider.body)


async def test_editing_details_and_people(bot: BotUnderTest) -> None:
    await setup(bot)
    _, created = await register(bot)
    form = await bot.press(LEAD, created.card, "Edit", where=TEAM)
    assert "Edit the project" in str(form.body)
    saved = await bot.press(
        LEAD,
        form.card,
        "Save changes",
        {
            "title": "Dashboard templates v2",
            "leads": f"{CORE.aad},{CORE2.aad}",
            "participants": "",
            "status": "running",
        },
        where=TEAM,
    )
    assert "Dashboard templates v2" in str(saved.body)
    project = await the_project(bot)
    assert {p.aad_id for p in project.leads} == {CORE.aad, CORE2.aad}
    assert project.participants == ()


async def test_the_list_opens_the_chosen_project_of_its_own_cop_only(bot: BotUnderTest) -> None:
    await setup(bot)
    await register(bot)
    await register(bot, inputs={"title": "Second project"})
    listed = await bot.say_in(WIDER, TEAM, "projects")
    projects = {p.title: p.project_id for p in await ProjectRepo(bot.services.store).of_cop(TEAM.id)}
    second = await bot.press(WIDER, listed.card, "Open", {"project_0": projects["Second project"]}, where=TEAM)
    assert "Second project" in str(second.body)
    for chosen in ("", "0" * 12, "../p|x", 42):
        refused = await bot.press(WIDER, listed.card, "Open", {"project_0": chosen}, where=TEAM)
        assert "can't find that project" in str(refused.body)


async def test_a_follower_who_left_the_cop_is_not_told(bot: BotUnderTest) -> None:
    await setup(bot)
    _, created = await register(bot)
    await bot.press(WIDER, created.card, "Follow", where=TEAM)
    await bot.press(CORE2, created.card, "Follow", where=TEAM)
    await MembershipRepo(bot.services.store).leave(TEAM.id, WIDER.aad, clock(bot).now())
    await bot.press(LEAD, created.card, "Save status", {"status": "paused"}, where=TEAM)
    await bot.services.outbox.flush(clock(bot).now())
    assert not to(bot, WIDER)
    assert "changed from Running to Paused" in to(bot, CORE2)[0].everything


async def test_personal_chat_lists_every_cop_i_lead_or_belong_to(bot: BotUnderTest) -> None:
    await setup(bot)
    await register(bot)
    other_lead = Cast.leads[1]
    await join(bot.services.store, OTHER, {LEAD: ("wider", "central")}, NOW)
    form = await bot.say_in(other_lead, OTHER, "project new")
    await bot.press(other_lead, form.card, "Register", {"title": "Budget model", "status": "proposed"}, where=OTHER)
    listed = await bot.say(LEAD, "projects")  # LEAD leads one CoP and is a member of the other
    assert "Shared dashboard templates" in listed.everything
    assert "Budget model" in listed.everything
    assert "Finance" in listed.everything
