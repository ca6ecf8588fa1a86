"""Install, setup, join (core/wider, one-core rule), leave, me and the welcome card, end to end."""

from __future__ import annotations

from datetime import timedelta

from bot.domain.members import MembershipRepo
from bot.security import audit
from tests.features.membership.kit import PROFILE, answer, cop, install, join, state
from tests.kit import harness
from tests.kit.activities import team, user
from tests.kit.connector import Call, FakeConnector
from tests.kit.harness import BotUnderTest, running_bot

ALICE = user(1, "Alice Adams")
BOB = user(2, "Bob Brown")
CAROL = user(3, "Carol Clark")
DATA = team(1, "Data and Insight")
COMMS = team(2, "Internal Communications")
DIGITAL = team(3, "Digital Communications")


# -- install, setup, removal -----------------------------------------------------------------------------
async def test_install_registers_the_cop_with_the_installer_as_first_lead(bot: BotUnderTest) -> None:
    posted = await install(bot, ALICE, DATA)
    # the setup card, then the offer to invite the team's people (tests/features/rollout/test_invitations.py)
    call, offer = [c for c in posted.calls if c.method == "POST" and "/activities" in c.path]
    assert "Invite the team to Data and Insight" in offer.card_text
    assert call.conversation_id == DATA.general
    assert "Set up Data and Insight" in call.card_text
    assert "made you its first lead" in call.card_text
    registered = await cop(bot, DATA)
    assert registered.active
    assert registered.name == "Data and Insight"
    assert registered.aad_group_id == DATA.aad_group_id
    assert registered.tenant_id == "tenant-1"
    assert registered.service_url == bot.connector.url
    assert [lead.aad_id for lead in registered.leads] == [ALICE.aad]
    assert registered.home_channel_id == DATA.general
    assert registered.home_reference["conversation"]["id"] == DATA.general
    assert registered.home_reference["serviceUrl"] == bot.connector.url
    entries = await audit.recent(bot.services.store, DATA.id)
    assert [e.action for e in entries] == ["installed"]


async def test_installer_without_a_name_is_named_from_the_roster(bot: BotUnderTest) -> None:
    """Teams' install activities carry the installer's ids but no name."""
    from tests.features.membership.kit import member

    bot.connector.teams[DATA.id] = {"id": DATA.id, "name": DATA.name, "aadGroupId": DATA.aad_group_id}
    bot.connector.rosters[DATA.id] = [member(ALICE)]
    activity = bot.acts.installed_in_team(ALICE, DATA)
    activity["from"] = {"id": ALICE.id, "aadObjectId": ALICE.aad}
    posted = await bot.post(activity)
    assert posted.status == 200
    assert [lead.name for lead in (await cop(bot, DATA)).leads] == ["Alice Adams"]
    assert "Alice Adams" in posted.everything
    [entry] = await audit.recent(bot.services.store, DATA.id)
    assert entry.actor_name == "Alice Adams"


async def test_install_without_team_details_uses_the_activity(bot: BotUnderTest) -> None:
    bot.connector.rosters[DATA.id] = []
    posted = await bot.post(bot.acts.installed_in_team(ALICE, DATA))  # the connector has no team details: 404
    assert posted.status == 200
    assert "Set up Data and Insight" in posted.everything
    assert (await cop(bot, DATA)).name == "Data and Insight"


async def test_personal_install_says_hello(bot: BotUnderTest) -> None:
    posted = await bot.post(bot.acts.personal_install(ALICE))
    assert "I'm CoP Bot" in posted.everything
    assert await bot.services.store.query("cops", "cop") == []


async def test_setup_card_saves_the_cop_profile(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    shown = await bot.say_in(ALICE, DATA, "setup")
    inputs = {
        "name": "Data & Insight",
        "practice_area": "Planning",
        "status": "launched",
        "terms_of_reference_url": "https://example.ac.uk/tor",
        "objectives": "Share good practice.\nRun two lunch and learns a term.",
        "home": "here",
        "answer_target_hours": "24",
    }
    saved = await bot.press(ALICE, shown.card, "Save", inputs, where=DATA)
    assert "is set up" in answer(saved)
    assert "1 lead" in answer(saved)  # governance warning: 2 to 4 leads recommended
    updated = await cop(bot, DATA)
    assert (updated.name, updated.practice_area, updated.status) == ("Data & Insight", "Planning", "launched")
    assert updated.terms_of_reference_url == "https://example.ac.uk/tor"
    assert updated.answer_target_hours == 24
    assert updated.objectives.startswith("Share good practice.")
    assert "setup saved" in [e.action for e in await audit.recent(bot.services.store, DATA.id)]


async def test_setup_moves_the_home_channel_to_where_it_is_saved(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    other = DATA.channels[0][0]
    shown = await bot.say_in(ALICE, DATA, "setup", channel_id=other)
    activity = bot.acts.execute(ALICE, "setup.save", where=DATA)
    from tests.kit.harness import find_action

    action = find_action(shown.card or {}, "Save")
    activity["conversation"]["id"] = other
    activity["channelData"] = bot.acts.team_data(DATA, other) | {"tenant": {"id": "tenant-1"}}
    activity["value"]["action"]["data"] = {**action["data"], "name": "Data and Insight", "home": "here"}
    posted = await bot.post(activity)
    assert "is set up" in answer(posted)
    updated = await cop(bot, DATA)
    assert updated.home_channel_id == other
    assert updated.home_reference["conversation"]["id"] == other


async def test_setup_refuses_bad_input_and_changes_nothing(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    shown = await bot.say_in(ALICE, DATA, "setup")
    before = await cop(bot, DATA)
    cases = {
        "too long": ({"name": "x" * 121}, "too long"),
        "empty name": ({"name": "  "}, "required"),
        "status": ({"name": "D", "status": "legendary"}, "status"),
        "link": ({"name": "D", "terms_of_reference_url": "javascript:alert(1)"}, "https://"),
        "hours": ({"name": "D", "answer_target_hours": "0"}, "between 1 and 720"),
        "hours text": ({"name": "D", "answer_target_hours": "soon"}, "whole number"),
        "control": ({"name": "Data\x07Insight"}, "control characters"),
        "home": ({"name": "D", "home": "elsewhere"}, "home channel"),
    }
    for label, (inputs, reason) in cases.items():
        posted = await bot.press(ALICE, shown.card, "Save", inputs, where=DATA)
        assert reason in answer(posted), label
        assert "Nothing was changed" in answer(posted), label
    after = await cop(bot, DATA)
    assert (after.name, after.status, after.answer_target_hours) == (before.name, before.status, 48)


async def test_setup_is_for_leads_only(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    posted = await bot.say_in(BOB, DATA, "setup")
    assert "only this CoP's leads" in posted.everything
    card = (await bot.say_in(ALICE, DATA, "setup")).card
    pressed = await bot.press(BOB, card, "Save", {"name": "Hijacked"}, where=DATA)
    assert "only this CoP's leads" in answer(pressed)
    assert (await cop(bot, DATA)).name == "Data and Insight"


async def test_setup_in_personal_chat_for_the_only_cop_i_lead(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    posted = await bot.say(ALICE, "setup")
    assert "Set up Data and Insight" in posted.everything
    saved = await bot.press(ALICE, posted.card, "Save", {"name": "Data and Insight", "practice_area": "Planning"})
    assert "is set up" in answer(saved)
    here = await bot.press(ALICE, posted.card, "Save", {"name": "Data and Insight", "home": "here"})
    assert "open **setup** in that channel" in answer(here)


async def test_uninstall_keeps_data_and_reinstall_reactivates(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await join(bot, BOB, DATA, "core")
    card = (await bot.say_in(CAROL, DATA, "join")).card
    bot.services.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    posted = await bot.post(bot.acts.uninstalled_from_team(ALICE, DATA))
    assert posted.status == 200
    bot.services.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    removed = await cop(bot, DATA)
    assert not removed.active
    assert BOB.aad in [m.aad_id for m in await MembershipRepo(bot.services.store).members_of(DATA.id)]
    late = await bot.press(CAROL, card, "Join as wider", PROFILE, where=DATA)
    assert "not active at the moment" in answer(late)
    assert (await state(bot, CAROL)).memberships == {}
    assert "Data and Insight" not in (await bot.say(CAROL, "cops")).everything

    again = await bot.post(bot.acts.installed_in_team(CAROL, DATA))
    assert "Welcome back" in again.everything
    back = await cop(bot, DATA)
    assert back.active
    assert [lead.aad_id for lead in back.leads] == [ALICE.aad]  # the re-installer does not become a lead
    assert [e.action for e in await audit.recent(bot.services.store, DATA.id)][:2] == ["reinstalled", "uninstalled"]


# -- join --------------------------------------------------------------------------------------------------
async def test_join_in_a_channel_as_core_records_membership_and_confirms_in_place(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    shown = await bot.say_in(BOB, DATA, "join")
    text = shown.calls[0].card_text
    for area in ("Identity", "Learning", "Engagement", "Activities", "Leadership"):
        assert area in text
    assert "Core member" in text
    assert "Wider member" in text
    assert "Organisational area" in text
    assert "Job family" in text
    posted = await bot.press(BOB, shown.card, "Join as core", PROFILE, where=DATA)
    assert posted.status == 200
    assert posted.body["type"] == "application/vnd.microsoft.card.adaptive"  # the clicked card is replaced
    assert "You are now a **core member** of Data and Insight" in answer(posted)
    stored = await state(bot, BOB)
    assert stored.core_cop_id == DATA.id
    assert stored.memberships[DATA.id][0].tier == "core"
    assert stored.profile is not None
    assert stored.profile.interests == ("data visualisation", "Power BI")
    assert stored.profile.org_area == "central"
    [row] = await MembershipRepo(bot.services.store).members_of(DATA.id)
    assert (row.aad_id, row.tier, row.org_area) == (BOB.aad, "core", "central")


async def test_channel_join_card_shows_no_personal_data_and_keeps_the_saved_profile(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    await join(bot, BOB, DATA, "wider")
    shown = await bot.say_in(BOB, COMMS, "join")
    assert "Power BI" not in shown.everything
    await bot.press(BOB, shown.card, "Join as wider", {"job_family": "Technical"}, where=COMMS)
    profile = (await state(bot, BOB)).profile
    assert profile is not None
    assert (profile.org_area, profile.job_family, profile.interests) == (
        "central",
        "Technical",
        ("data visualisation", "Power BI"),
    )


async def test_join_in_personal_chat_offers_a_choice_of_active_cops(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    await bot.post(bot.acts.uninstalled_from_team(ALICE, COMMS))
    shown = await bot.say(BOB, "join")
    choice = next(e for e in shown.card["body"] if e.get("id") == "choose_cop")  # type: ignore[index]
    assert [c["value"] for c in choice["choices"]] == [DATA.id]
    posted = await bot.press(BOB, shown.card, "Join as wider", {**PROFILE, "choose_cop": DATA.id})
    assert "wider member** of Data and Insight" in answer(posted)
    missing = await bot.press(BOB, shown.card, "Join as wider", PROFILE)
    assert "choose a CoP" in answer(missing)


async def test_join_by_name_in_personal_chat_prefills_my_profile(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await join(bot, BOB, DATA, "wider")
    shown = await bot.say(BOB, "join data and insight")
    assert "Join Data and Insight" in shown.everything
    assert "Power BI" in shown.everything  # private chat: prefilled
    assert "already a wider member" in shown.everything
    posted = await bot.press(BOB, shown.card, "Join as core")
    assert "core member** of Data and Insight" in answer(posted)
    assert (await state(bot, BOB)).core_cop_id == DATA.id


async def test_join_finds_a_cop_by_initials_or_part_of_its_name(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    await install(bot, ALICE, DIGITAL)
    shown = await bot.say(BOB, "join D&I")
    assert "Join Data and Insight" in shown.everything
    posted = await bot.press(BOB, shown.card, "Join as wider", PROFILE)
    assert "wider member** of Data and Insight" in answer(posted)
    # two CoPs fit: the choice offers those two only
    both = await bot.say(BOB, "join communications")
    choice = next(e for e in both.card["body"] if e.get("id") == "choose_cop")  # type: ignore[index]
    assert sorted(c["value"] for c in choice["choices"]) == sorted([COMMS.id, DIGITAL.id])
    # none fits: all of them
    none = await bot.say(BOB, "join finance")
    choice = next(e for e in none.card["body"] if e.get("id") == "choose_cop")  # type: ignore[index]
    assert sorted(c["value"] for c in choice["choices"]) == sorted([DATA.id, COMMS.id, DIGITAL.id])


async def test_core_elsewhere_offers_switch_and_switch_demotes_the_other(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    await join(bot, BOB, DATA, "core")
    offered = await join(bot, BOB, COMMS, "core")
    assert "already a core member of Data and Insight" in answer(offered)
    assert (await state(bot, BOB)).memberships.keys() == {DATA.id}  # nothing recorded yet
    switched = await bot.press(BOB, offered.card, "Make this my core CoP (the other becomes wider)", where=COMMS)
    assert "core member** of Internal Communications" in answer(switched)
    assert "Data and Insight is now one of your wider memberships" in answer(switched)
    after = await state(bot, BOB)
    assert after.core_cop_id == COMMS.id
    assert {c: m.tier for c, (m, _) in after.memberships.items()} == {DATA.id: "wider", COMMS.id: "core"}
    roster = await MembershipRepo(bot.services.store).members_of(DATA.id)
    assert [m.tier for m in roster] == ["wider"]


async def test_core_elsewhere_join_as_wider_keeps_the_core(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    await join(bot, BOB, DATA, "core")
    offered = await join(bot, BOB, COMMS, "core")
    wider = await bot.press(BOB, offered.card, "Join as wider", where=COMMS)
    assert "wider member** of Internal Communications" in answer(wider)
    after = await state(bot, BOB)
    assert after.core_cop_id == DATA.id
    assert {c: m.tier for c, (m, _) in after.memberships.items()} == {DATA.id: "core", COMMS.id: "wider"}


async def test_relaxed_rule_allows_two_cores_with_a_warning(sqlite_store, connector: FakeConnector) -> None:  # type: ignore[no-untyped-def]
    async with running_bot(
        sqlite_store, connector=connector, settings=harness.test_settings(enforce_one_core=False)
    ) as b:
        await install(b, ALICE, DATA)
        await install(b, ALICE, COMMS)
        await join(b, BOB, DATA, "core")
        posted = await join(b, BOB, COMMS, "core")
        assert "core member** of Internal Communications" in answer(posted)
        assert "also a core member of Data and Insight" in answer(posted)
        after = await state(b, BOB)
        assert {m.tier for m, _ in after.memberships.values()} == {"core"}
        # leaving the first core CoP moves the claim to the remaining one
        left = await bot_leave(b, BOB, DATA)
        assert "You have left Data and Insight" in answer(left)
        assert (await state(b, BOB)).core_cop_id == COMMS.id


async def bot_leave(bot: BotUnderTest, person, where):  # type: ignore[no-untyped-def]
    shown = await bot.say_in(person, where, "leave")
    return await bot.press(person, shown.card, "Yes, leave", where=where)


async def test_moving_from_wider_to_core_is_remembered(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await join(bot, BOB, DATA, "wider")
    bot.services.clock.advance(timedelta(days=30))  # type: ignore[attr-defined]
    await join(bot, BOB, DATA, "core")
    membership = (await state(bot, BOB)).memberships[DATA.id][0]
    assert membership.was_wider
    assert membership.tier_changed_at is not None
    assert membership.tier_changed_at > membership.joined_at
    await join(bot, BOB, DATA, "wider")
    assert (await state(bot, BOB)).core_cop_id is None


# -- bad input on join -------------------------------------------------------------------------------------
async def test_join_submit_for_unknown_cop_is_refused(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    shown = await bot.say(BOB, "join")
    posted = await bot.press(BOB, shown.card, "Join as core", {**PROFILE, "choose_cop": "19:nope@thread.tacv2"})
    assert "can't find that CoP" in answer(posted)
    forged = await bot.click(BOB, "membership.join", bot.sealed("membership.join", {"cop_id": "19:x", "tier": "core"}))
    assert "can't find that CoP" in answer(forged)
    assert (await state(bot, BOB)).memberships == {}
    assert (await state(bot, BOB)).profile is None


async def test_forged_tier_is_refused(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    shown = await bot.say_in(BOB, DATA, "join")
    for tier in ("lead", "CORE", "", 1, None):
        posted = await bot.press(BOB, shown.card, "Join as core", {**PROFILE, "tier": tier}, where=DATA)
        assert "core or wider" in answer(posted), tier
    assert (await state(bot, BOB)).memberships == {}


async def test_profile_fields_too_long_or_with_control_characters_are_refused(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    shown = await bot.say_in(BOB, DATA, "join")
    cases = {
        "org_unit": ("x" * 121, "too long"),
        "job_family": ("x" * 81, "too long"),
        "interests": ("a" * 41, "too long"),
        "org_area": ("moon", "from the list"),
    }
    for field, (value, reason) in cases.items():
        posted = await bot.press(BOB, shown.card, "Join as wider", {**PROFILE, field: value}, where=DATA)
        assert reason in answer(posted), field
        assert "Nothing was saved" in answer(posted), field
    many = ", ".join(f"tag{i}" for i in range(16))
    assert "at most 15 tags" in answer(
        await bot.press(BOB, shown.card, "Join as wider", {"interests": many}, where=DATA)
    )
    for bad in ("Plan\x00ning", "Plan\u202e", "Plan\x1bning", "line\u2028sep"):
        posted = await bot.press(BOB, shown.card, "Join as wider", {**PROFILE, "org_unit": bad}, where=DATA)
        assert "control characters" in answer(posted), repr(bad)
    typed = await bot.press(BOB, shown.card, "Join as wider", {**PROFILE, "org_unit": ["a"]}, where=DATA)
    assert "must be text" in answer(typed)
    stored = await state(bot, BOB)
    assert stored.memberships == {}
    assert stored.profile is None


async def test_markdown_in_profile_is_shown_inert(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await join(bot, BOB, DATA, "wider", {"interests": "**bold**, [link](https://evil.example)"})
    shown = await bot.say(BOB, "me")
    assert "\\*\\*bold\\*\\*" in shown.everything
    assert "\\[link\\]" in shown.everything


# -- leave and me ------------------------------------------------------------------------------------------
async def test_leave_asks_first_and_removes_the_membership(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await join(bot, BOB, DATA, "core")
    shown = await bot.say_in(BOB, DATA, "leave")
    assert "Leave Data and Insight?" in shown.everything
    stayed = await bot.press(BOB, shown.card, "Stay", where=DATA)
    assert "still a member" in answer(stayed)
    assert DATA.id in (await state(bot, BOB)).memberships
    left = await bot.press(BOB, shown.card, "Yes, leave", where=DATA)
    assert "You have left Data and Insight" in answer(left)
    after = await state(bot, BOB)
    assert after.memberships == {}
    assert after.core_cop_id is None
    assert after.profile is not None  # the profile is kept
    assert await MembershipRepo(bot.services.store).members_of(DATA.id) == []
    again = await bot.press(BOB, shown.card, "Yes, leave", where=DATA)
    assert "not a member of Data and Insight" in answer(again)
    assert "not a member of Data and Insight" in (await bot.say_in(BOB, DATA, "leave")).everything


async def test_leave_in_personal_chat_chooses_among_my_cops(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    assert "not a member of any CoP" in (await bot.say(BOB, "leave")).everything
    await join(bot, BOB, DATA, "core")
    await join(bot, BOB, COMMS, "wider")
    shown = await bot.say(BOB, "leave")
    left = await bot.press(BOB, shown.card, "Yes, leave", {"choose_cop": COMMS.id})
    assert "You have left Internal Communications" in answer(left)
    assert list((await state(bot, BOB)).memberships) == [DATA.id]
    assert "choose a CoP" in answer(await bot.press(BOB, shown.card, "Yes, leave"))


async def test_me_lists_my_cops_and_tiers_and_edits_my_profile(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await install(bot, ALICE, COMMS)
    await join(bot, BOB, DATA, "core")
    await join(bot, BOB, COMMS, "wider")
    shown = await bot.say(BOB, "me")
    text = shown.everything
    assert "Data and Insight" in text
    assert "core member since 23 Nov 2026" in text
    assert "Internal Communications" in text
    assert "wider member since" in text
    assert "Power BI" in text
    form = await bot.press(BOB, shown.card, "Edit my profile")
    assert "Power BI" in answer(form)
    saved = await bot.press(BOB, form.card, "Save profile", {"org_area": "faculty", "interests": "teaching"})
    assert "Profile saved" in answer(saved)
    after = await state(bot, BOB)
    assert after.profile is not None
    assert after.profile.org_area == "faculty"
    assert after.profile.interests == ("teaching",)
    roster = await MembershipRepo(bot.services.store).members_of(DATA.id)
    assert [m.org_area for m in roster] == ["faculty"]  # counts by area follow the profile
    bad = await bot.press(BOB, form.card, "Save profile", {"org_unit": "x" * 500})
    assert "too long" in answer(bad)
    assert (await state(bot, BOB)).profile.org_unit == ""  # type: ignore[union-attr]
    assert "works in a personal chat" in (await bot.say_in(BOB, DATA, "me")).everything


async def test_me_with_no_memberships(bot: BotUnderTest) -> None:
    posted = await bot.say(CAROL, "me")
    assert "not a member of any CoP yet" in posted.everything


# -- welcome ------------------------------------------------------------------------------------------------
def _is_create(call: Call) -> bool:
    return call.path.rstrip("/") == "/v3/conversations"


async def test_member_added_gets_a_personal_welcome_card_with_join_buttons(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    posted = await bot.post(bot.acts.members_added(ALICE, DATA, CAROL))
    assert posted.status == 200
    assert [c.method for c in posted.calls] == ["GET"]  # queued, not sent in the turn (only the roster is read)
    again = bot.acts.members_added(ALICE, DATA, CAROL)
    await bot.post(again)  # added twice (e.g. re-added): still one welcome
    bot.connector.clear()
    assert await bot.services.outbox.flush(bot.services.clock.now()) == 1
    [created] = bot.connector.created()
    assert created.body["members"][0]["id"] == CAROL.id  # type: ignore[index]
    [sent] = bot.connector.sent()
    assert sent.conversation_id.startswith("a:personal-")
    assert "Welcome to Data and Insight" in sent.card_text
    card = sent.card
    joined = await bot.press(CAROL, card, "Join as wider", PROFILE)
    assert "wider member** of Data and Insight" in answer(joined)
    assert DATA.id in (await state(bot, CAROL)).memberships


async def test_welcome_falls_back_to_a_channel_mention_when_the_personal_chat_fails(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA, CAROL)
    bot.connector.policy = lambda call: (403, {}) if call.method == "POST" and _is_create(call) else None
    await bot.post(bot.acts.members_added(ALICE, DATA, CAROL))
    bot.connector.clear()
    now = bot.services.clock.now()
    assert await bot.services.outbox.flush(now) == 0
    assert bot.connector.sent() == []
    assert await bot.services.outbox.status(f"welcome|{DATA.id}|{CAROL.aad}") == "dead"
    assert await bot.services.outbox.flush(now + timedelta(seconds=5)) == 1  # the fallback is queued by then
    [sent] = bot.connector.sent()
    assert sent.conversation_id == DATA.general
    assert "welcome to Data and Insight" in sent.text
    assert "<at>Carol Clark</at>" in sent.text  # the name comes from the roster: Teams sends only ids
    assert sent.body["entities"][0]["mentioned"]["id"] == CAROL.id  # type: ignore[index]


async def test_no_welcome_for_teams_without_an_active_cop(bot: BotUnderTest) -> None:
    await bot.post(bot.acts.members_added(ALICE, DATA, CAROL))
    assert await bot.services.outbox.pending(bot.services.clock.now()) == 0


# -- privacy ------------------------------------------------------------------------------------------------
async def test_membership_data_is_exported_and_erased(bot: BotUnderTest) -> None:
    await install(bot, ALICE, DATA)
    await join(bot, BOB, DATA, "core")
    sources = {s.name: s for s in bot.services.privacy.sources}
    exported = await sources["membership"].export(bot.services, BOB.aad)
    assert exported["profile"]["interests"] == ["data visualisation", "Power BI"]
    assert exported["memberships"][0]["tier"] == "core"
    assert exported["core_cop"] == DATA.id
    roles = await sources["cop_roles"].export(bot.services, ALICE.aad)
    assert roles == {"lead_of": [DATA.id], "sponsor_of": []}
    await sources["membership"].erase(bot.services, BOB.aad)
    erased = await state(bot, BOB)
    assert erased.profile is None
    assert erased.memberships == {}
    assert erased.core_cop_id is None
    assert await MembershipRepo(bot.services.store).members_of(DATA.id) == []
    await sources["cop_roles"].erase(bot.services, ALICE.aad)
    after = await cop(bot, DATA)
    assert after.leads == ()
    assert "erasure" in after.flagged
