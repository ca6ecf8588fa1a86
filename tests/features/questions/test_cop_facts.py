"""Who leads, sponsors or next meets in a named CoP: answered from the bot's own CoP directory when the CoP is
installed, and "not on CoP Bot yet" when it is not; questions about leads in general stay with the FAQ."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.domain.cop_questions import fact_asked, read_cop_question
from bot.domain.cops import Cop, CopRepo, PersonRef
from bot.domain.events import Draft, EventRepo
from bot.domain.queries import QueryRepo
from tests.features.questions.kit import ASKER, BOB, LEAD, OTHER_LEAD, STRANGER, TEAM, TEAM_B, make_cop
from tests.kit.harness import BotUnderTest

SPONSOR = PersonRef("aad-sponsor", "29:sponsor", "Tom Rowson")


async def with_sponsor(bot: BotUnderTest, cop: Cop) -> Cop:
    now = bot.services.clock.now()
    changed = await CopRepo(bot.services.store).change(cop.cop_id, now, lambda c: replace(c, sponsor=SPONSOR))
    assert changed is not None
    return changed


async def add_event(bot: BotUnderTest, cop: Cop, title: str, days: int, audience: str = "all") -> None:
    start = bot.services.clock.now() + timedelta(days=days)
    draft = Draft(title, "lunch_and_learn", start, start + timedelta(hours=1), "Europe/London", audience=audience)  # type: ignore[arg-type]
    await EventRepo(bot.services.store).create(cop.cop_id, draft, LEAD.aad, LEAD.name, bot.services.clock.now())


async def test_the_leads_of_an_installed_cop_come_from_the_directory(bot: BotUnderTest) -> None:
    cop = await with_sponsor(bot, await make_cop(bot))  # "Data & Insight", led by Lee Lead and Lou Lead
    posted = await bot.say(STRANGER, "Who are the current leads of Data and Insight?")
    text = posted.everything
    assert "**Data & Insight**, from the CoP directory on CoP Bot" in text
    assert text.index("Leads: **Lee Lead** and **Lou Lead**") < text.index("Sponsor: **Tom Rowson**")
    assert "Status: launched" in text
    assert "Next event: none announced on CoP Bot yet" in text
    assert "Did this help?" not in text  # not the FAQ's entry about what leads do
    assert await QueryRepo(bot.services.store).of_cop(cop.cop_id) == []


async def test_the_sponsor_and_next_event_are_answered_first_when_asked(bot: BotUnderTest) -> None:
    cop = await with_sponsor(bot, await make_cop(bot))
    await add_event(bot, cop, "Leads only planning", days=1, audience="leads")
    await add_event(bot, cop, "Power BI tips", days=3)
    await add_event(bot, cop, "Survey design", days=10)
    sponsor = (await bot.say(ASKER, "who sponsors the D&I CoP?")).everything
    assert sponsor.index("Sponsor: **Tom Rowson**") < sponsor.index("Leads:")
    event = (await bot.say(BOB, "when is the next data & insight lunch and learn?")).everything
    assert event.index("Next event: **Power BI tips**") < event.index("Leads:")
    assert "Leads only planning" not in event
    assert "Survey design" not in event


async def test_our_cop_is_the_cop_the_question_is_asked_in(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await make_cop(bot, TEAM_B, members=(), leads=(OTHER_LEAD,))
    posted = await bot.say_in(BOB, TEAM_B, "who are the leads of our CoP?")
    assert "**Comms**, from the CoP directory" in posted.everything
    assert "Leads: **Ola Otherlead**" in posted.everything
    mine = await bot.say(ASKER, "who leads my community?")  # in personal chat: the asker's one CoP
    assert "**Data & Insight**, from the CoP directory" in mine.everything


async def test_a_cop_the_bot_does_not_have_is_said_to_be_not_on_cop_bot_yet(bot: BotUnderTest) -> None:
    await make_cop(bot)
    listed = await bot.say(STRANGER, "Who leads Widening Participation?")  # the programme lists it; not installed
    assert "**Widening Participation** is not on CoP Bot yet" in listed.everything
    assert "who do I contact about CoPs?" in listed.everything
    unknown = await bot.say(STRANGER, "who are the leads of the Finance CoP?")
    assert "**Finance** is not on CoP Bot yet" in unknown.everything
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_questions_about_leads_in_general_are_left_to_the_faq(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await make_cop(bot, TEAM_B, members=())
    for question in ("What do CoP leads do?", "who leads a CoP?", "when is the next lunch and learn?"):
        posted = await bot.say(ASKER, question)
        assert "from the CoP directory" not in posted.everything, question
        assert "not on CoP Bot yet" not in posted.everything, question


async def test_which_cops_a_named_sponsor_sponsors_comes_from_the_programme_list(bot: BotUnderTest) -> None:
    await make_cop(bot)  # Data & Insight, no sponsor set on the bot
    posted = await bot.say(STRANGER, "Which community does Fiona Ryland sponsor?")
    text = posted.everything
    assert "**Fiona Ryland**, from the CoP directory" in text
    wanted = "Sponsor of **Appraisals and Inductions** (Human Resources practice area, launched; not on CoP Bot yet)"
    assert wanted in text
    assert "listed by the programme but not installed here" in text
    assert "Did this help?" not in text  # not the FAQ's entry about what sponsors do
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id) == []


async def test_a_bare_name_and_cop_or_a_possessive_without_apostrophe_asks_about_that_person(
    bot: BotUnderTest,
) -> None:
    await make_cop(bot)
    for question, person in (
        ("wendy appleby cop?", "Wendy Appleby"),
        ("whats tom rowsons role with the cops", "Tom Rowson"),
    ):
        text = (await bot.say(STRANGER, question)).everything
        assert f"**{person}**, from the CoP directory" in text, question
    text = (await bot.say(STRANGER, "lunch learn cop?")).everything  # no one named: not the directory's
    assert "from the CoP directory" not in text


async def test_a_person_s_posts_on_installed_cops_come_first_and_a_listed_cop_is_not_repeated(
    bot: BotUnderTest,
) -> None:
    await with_sponsor(bot, await make_cop(bot))  # Data & Insight, sponsored by Tom Rowson on the bot
    text = (await bot.say(ASKER, "what does tom rowson sponsor")).everything  # lower case, no "which"
    installed = "- Sponsor of **Data & Insight** (launched; on CoP Bot: send **cops** to find it)"
    listed = "- Sponsor of **Project and Programme Management** (Planning practice area, launched; not on CoP Bot yet)"
    assert installed in text
    assert listed in text
    assert text.index(installed) < text.index(listed)
    assert "Data and Insight**" not in text  # the programme's listing of the CoP the bot has is not shown again
    lead = (await bot.say(BOB, "Which CoP is Lou Lead a lead of?")).everything
    assert "**Lou Lead**, from the CoP directory" in lead
    assert "- Lead of **Data & Insight** (launched; on CoP Bot" in lead
    assert "not installed here" not in lead


async def test_a_question_naming_a_person_and_an_installed_cop_is_answered_about_the_cop(bot: BotUnderTest) -> None:
    await with_sponsor(bot, await make_cop(bot))
    text = (await bot.say(STRANGER, "Is Tom Rowson still the sponsor of Data and Insight?")).everything
    assert "**Data & Insight**, from the CoP directory on CoP Bot" in text
    assert text.index("Sponsor: **Tom Rowson**") < text.index("Leads:")


async def test_a_listed_cop_not_on_the_bot_is_answered_with_what_the_programme_lists(bot: BotUnderTest) -> None:
    await make_cop(bot)
    text = (await bot.say(STRANGER, "who sponsors widening participation?")).everything
    assert "**Widening Participation** is not on CoP Bot yet, so I don't know its leads or events" in text
    assert "in the **Student Support Services** practice area, sponsored by **Wendy Appleby**" in text
    assert "(status: preparations underway (not yet launched))" in text
    contact = (await bot.say(STRANGER, "Who should I contact about the Events Management community?")).everything
    assert "**Events Management** is not on CoP Bot yet" in contact
    assert "sponsored by **Collette Lux**" in contact


async def test_a_first_name_or_an_unknown_person_is_not_guessed_at(bot: BotUnderTest) -> None:
    await with_sponsor(bot, await make_cop(bot))
    for question in ("who is Tom?", "which CoP does Jane Doe sponsor?", "can my sponsor help with my visa?"):
        text = (await bot.say(STRANGER, question)).everything
        assert "from the CoP directory:" not in text, question


def test_reading_a_question_about_a_person() -> None:
    from bot.domain.cop_people import person_question
    from bot.domain.programme_list import read_listing

    cops = [Cop("19:a@thread.tacv2", "Events Management", "t", "s", leads=(PersonRef("a", "29:a", "Ann Hall"),))]

    def named(question: str) -> str:
        found = person_question(question, cops)
        return found[0] if found else ""

    assert named("what CoPs is Ann Hall leading") == "Ann Hall"
    assert named("is dr hall a lead?") == "Ann Hall"  # a title and the surname
    assert named("whats Collette Lux's role in the CoPs") == "Collette Lux"  # a listed sponsor, possessive
    assert named("who leads the hall bookings?") == ""  # a surname alone is not a name
    assert named("Fiona and Tom, who sponsors what?") == ""
    assert named("can I email Collette Lux about joining?") == ""  # about joining, not about her posts
    assert named("who's Wendy Appleby?") == "Wendy Appleby"
    assert named("whats tom rowsons role with the cops") == "Tom Rowson"  # a possessive without its apostrophe
    assert named("wendy appleby cop?") == "Wendy Appleby"  # a name and "CoP", as typed into a search box
    assert named("events management cop?") == ""  # a CoP's name is not a person's
    assert named("wendy appleby") == ""  # a name alone does not ask about her posts
    # the programme's sponsor of Events Management stands while the installed CoP has none set on the bot
    assert [r.cop_name for r in person_question("what does collette lux sponsor", cops)[1]] == [  # type: ignore[index]
        "Events Management",
        "Student Recruitment",
        "Internal Communications",
        "Digital Communications",
    ]
    listing = read_listing("Yes: the **Finance** CoP, in the **Planning** practice area.\n\n- Status: launched")
    assert listing is not None
    assert (listing.name, listing.practice_area, listing.sponsor) == ("Finance", "Planning", "")
    assert read_listing("No bold name here") is None


def test_reading_a_directory_question() -> None:
    cops = [
        Cop("19:a@thread.tacv2", "Internal Communications", "t", "s"),
        Cop("19:b@thread.tacv2", "Project and Programme Management", "t", "s"),
        Cop("19:c@thread.tacv2", "Events Management", "t", "s"),
    ]

    def named(question: str) -> tuple[str, ...]:
        read = read_cop_question(question, cops)
        return tuple(c.name for c in read.cops) if read else ()

    assert named("who are the leads of internal comms?") == ("Internal Communications",)
    assert named("Who runs the PPM CoP at the moment") == ("Project and Programme Management",)
    assert named("when's the Events CoP's next meetup") == ("Events Management",)
    assert named("who sponsors project and programme management") == ("Project and Programme Management",)
    assert named("who should I contact with a question about the Events Management community?") == (
        "Events Management",
    )
    assert read_cop_question("who should I contact about CoPs?", cops) is None  # no CoP named: the FAQ's
    assert named("who leads events?") == ()  # one word without "CoP" is not a name
    assert read_cop_question("who leads the Procurement CoP?", cops) is not None
    assert read_cop_question("who leads a CoP?", cops) is None
    assert read_cop_question("who leads each community?", cops) is None
    assert read_cop_question("what does the Events Management CoP do?", cops) is None  # not a directory fact
    assert read_cop_question("what do the leads of the Events Management CoP do?", cops) is None  # the role
    assert fact_asked("how do I leave my job") is None


def test_a_number_in_a_question_does_not_name_a_cop_called_only_by_a_number() -> None:
    """'storeroom 60' is not 'CoP 60' (a 200-user load test on a shared store sent such a question to 'CoP 60')."""
    from bot.domain.cop_questions import installed_named
    from bot.domain.cops import Cop

    def cop(name: str) -> Cop:
        return Cop(cop_id=f"19:{name}@thread.tacv2", name=name, tenant_id="t", service_url="https://s")

    numbered, words = cop("CoP 60"), cop("Data and Insight")
    everyone = [numbered, words]
    assert installed_named("does anyone have the key code for storeroom 60 in the old zoology wing?", everyone) == []
    assert installed_named("who leads CoP 60?", everyone) == [numbered]
    assert installed_named("who leads data and insight", everyone) == [words]
