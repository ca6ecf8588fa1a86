"""Governance roles end to end: leads add/remove, sponsor set, mentions resolved through the roster."""

from __future__ import annotations

from datetime import timedelta

from bot.security import audit
from tests.features.membership.kit import cop, install, member
from tests.kit.activities import User, team, user
from tests.kit.harness import BotUnderTest

ALICE = user(1, "Alice Adams")
BOB = user(2, "Bob Brown")
CAROL = user(3, "Carol Clark")
DAN = user(4, "Dan Dale")
ERIN = user(5, "Erin Ellis")
STRANGER = user(9, "Sam Stranger")
ADMIN = User("29:admin", "aad-admin", "Ada Admin")
DATA = team(1, "Data and Insight")


async def lead_ids(bot: BotUnderTest) -> list[str]:
    return [lead.aad_id for lead in (await cop(bot, DATA)).leads]


async def actions(bot: BotUnderTest) -> list[str]:
    return [e.action for e in await audit.recent(bot.services.store, DATA.id)]


async def test_leads_add_resolves_the_mention_through_the_roster(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB, CAROL)
    posted = await bot.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
    assert "Bob Brown is now a lead of Data and Insight" in posted.everything
    assert "recommends" not in posted.everything  # two leads: within 2 to 4
    assert await lead_ids(bot) == [ALICE.aad, BOB.aad]  # AAD ids from the roster (the mention carries none)
    assert "lead added" in await actions(bot)
    again = await bot.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
    assert "already a lead" in again.everything
    assert await lead_ids(bot) == [ALICE.aad, BOB.aad]


async def test_new_lead_can_use_lead_commands_and_gets_them_in_help(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB)
    assert "only this CoP's leads" in (await bot.say_in(BOB, DATA, "members")).everything
    await bot.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
    assert "Members of Data and Insight" in (await bot.say_in(BOB, DATA, "members")).everything
    assert "leads add" in (await bot.say_in(BOB, DATA, "help")).everything


async def test_more_than_four_leads_is_allowed_with_a_warning(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB, CAROL, DAN, ERIN)
    posted = await bot.say_in(ALICE, DATA, "leads add @Bob @Carol @Dan @Erin", mentions=(BOB, CAROL, DAN, ERIN))
    assert "now has 5 leads" in posted.everything
    assert "2 to 4" in posted.everything
    assert len(await lead_ids(bot)) == 5


async def test_leads_add_for_someone_not_in_the_team_is_refused(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB)
    posted = await bot.say_in(ALICE, DATA, "leads add @Sam Stranger", mentions=(STRANGER,))
    assert "Sam Stranger is not a member of this team" in posted.everything
    assert await lead_ids(bot) == [ALICE.aad]
    both = await bot.say_in(ALICE, DATA, "leads add @Bob @Sam", mentions=(BOB, STRANGER))
    assert "not a member of this team" in both.everything
    assert await lead_ids(bot) == [ALICE.aad]  # all or nothing
    assert "lead added" not in await actions(bot)


async def test_lead_commands_need_a_mention(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB)
    for command in ("leads add Bob", "leads remove", "sponsor set someone"):
        posted = await bot.say_in(ALICE, DATA, command)
        assert "Mention the person" in posted.everything, command
    assert await lead_ids(bot) == [ALICE.aad]


async def test_lead_commands_from_a_non_lead_are_refused(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB, CAROL)
    for command, mentioned in (("leads add", CAROL), ("leads remove", ALICE), ("sponsor set", CAROL)):
        posted = await bot.say_in(BOB, DATA, f"{command} @x", mentions=(mentioned,))
        assert "only this CoP's leads and programme admins" in posted.everything, command
    after = await cop(bot, DATA)
    assert [lead.aad_id for lead in after.leads] == [ALICE.aad]
    assert after.sponsor is None
    assert "works in a CoP team channel" in (await bot.say(ALICE, "leads add")).everything


async def test_programme_admin_may_use_lead_commands(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB, ADMIN)
    posted = await bot.say_in(ADMIN, DATA, "leads add @Bob Brown", mentions=(BOB,))
    assert "Bob Brown is now a lead" in posted.everything


async def test_leads_remove_and_never_the_last_lead(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, BOB)
    await bot.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
    bot.services.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    removed = await bot.say_in(BOB, DATA, "leads remove @Alice Adams", mentions=(ALICE,))
    assert "Alice Adams no longer lead Data and Insight" in removed.everything
    assert "has 1 lead" in removed.everything  # governance warning below two
    assert await lead_ids(bot) == [BOB.aad]
    assert (await actions(bot))[0] == "lead removed"
    last = await bot.say_in(BOB, DATA, "leads remove @Bob Brown", mentions=(BOB,))
    assert "at least one lead" in last.everything
    assert "Nothing was changed" in last.everything
    assert await lead_ids(bot) == [BOB.aad]
    not_lead = await bot.say_in(BOB, DATA, "leads remove @Alice Adams", mentions=(ALICE,))
    assert "Alice Adams is not a lead" in not_lead.everything
    # Alice is no longer a lead, so her lead commands are refused now
    assert "only this CoP's leads" in (await bot.say_in(ALICE, DATA, "setup")).everything


async def test_sponsor_set(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, CAROL, BOB)
    posted = await bot.say_in(ALICE, DATA, "sponsor set @Carol Clark", mentions=(CAROL,))
    assert "Carol Clark is now the sponsor of Data and Insight" in posted.everything
    sponsor = (await cop(bot, DATA)).sponsor
    assert sponsor is not None
    assert (sponsor.aad_id, sponsor.user_id, sponsor.name) == (CAROL.aad, CAROL.id, CAROL.name)
    assert "sponsor set" in await actions(bot)
    two = await bot.say_in(ALICE, DATA, "sponsor set @Carol @Bob", mentions=(CAROL, BOB))
    assert "one sponsor" in two.everything
    assert (await cop(bot, DATA)).sponsor == sponsor
    stranger = await bot.say_in(ALICE, DATA, "sponsor set @Sam", mentions=(STRANGER,))
    assert "not a member of this team" in stranger.everything
    assert "Carol Clark" in (await bot.say_in(ALICE, DATA, "setup")).everything


async def test_roster_is_read_through_the_connector(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    bot.connector.rosters[DATA.id].append(member(BOB))  # joined the team after the install
    posted = await bot.say_in(ALICE, DATA, "leads add @Bob Brown", mentions=(BOB,))
    assert "Bob Brown is now a lead" in posted.everything
    assert any("pagedmembers" in c.path for c in posted.calls)
