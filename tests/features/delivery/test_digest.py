"""The digest: the pure card builder, and the lead's commands end to end through /api/messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.cops import CopRepo
from bot.domain.digest import DigestData, DigestEvent, HealthStats, NewFaq, NewMember, OpenQuestion, pick_highlight
from bot.features import digest
from bot.jobs.leases import Leases
from bot.jobs.outbox import PARTITION, TABLE
from cards.digest import digest_card, examples
from tests.features.delivery.kit import add_member, make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

LEAD = user(1, "Lena Lead")
MEMBER = user(2, "Mo Member")
TEAM = team(1, "Data and Insight")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # the kit's default clock: Monday 10:00 London


def data(**fields: object) -> DigestData:
    base = DigestData(
        cop_id=TEAM.id, cop_name="Data and Insight", timezone="Europe/London", since=NOW - timedelta(days=7), now=NOW
    )
    return DigestData(**{**base.__dict__, **fields})  # type: ignore[arg-type]


# -- the pure builder ---------------------------------------------------------------------------------------
def test_nothing_to_say_means_no_card_even_with_a_highlight() -> None:
    assert digest_card(data()) is None
    assert digest_card(data(highlight="42 members, 12 core members.")) is None


def test_full_digest_has_every_section_in_local_time() -> None:
    card = digest_card(
        data(
            new_members=(NewMember("Priya Shah", "core"), NewMember("Tom Wu", "wider")),
            upcoming_events=(
                DigestEvent("Lunch and Learn", datetime(2026, 11, 25, 12, 30, tzinfo=UTC), 14, capacity=30),
            ),
            open_questions=(OpenQuestion("Who owns the timetable?", NOW - timedelta(days=3)),),
            new_faqs=(NewFaq("How do I join?"),),
            highlight="The community grew by 5 in the last 30 days to 42 members.",
        )
    )
    assert card is not None
    flat = str(card.content)
    for expected in (
        "This week in Data and Insight",
        "Welcome to our 2 new members",
        "Priya Shah",
        "core member",
        "wider member",
        "Coming up in the next 14 days",
        "Wed 25 Nov, 12:30 · 14 going of 30",
        "Who owns the timetable?",
        "asked 3 days ago",
        "New or updated in the FAQ",
        "How do I join?",
        "grew by 5",
    ):
        assert expected in flat, expected
    # only the preview has the post button; the posted digest asks whether it was useful (counted per person)
    assert [a["title"] for a in card.content["actions"]] == ["Useful", "Not useful"]
    assert "digest.post" not in flat


def test_summer_time_events_are_shown_in_london_time() -> None:
    card = digest_card(data(upcoming_events=(DigestEvent("Social", datetime(2026, 6, 3, 11, 0, tzinfo=UTC), 3),)))
    assert card is not None
    assert "12:00" in str(card.content)


def test_user_text_is_made_inert() -> None:
    card = digest_card(
        data(
            cop_name="**Bold** CoP",
            new_members=(NewMember("<at>Everyone</at> [click](http://x)", "wider"),),
            open_questions=(OpenQuestion("# heading?", NOW),),
        )
    )
    assert card is not None
    flat = str(card.content)
    assert "<at>" not in flat
    assert "[click]" not in flat
    assert card.content["body"][0]["text"] == "This week in \\*\\*Bold\\*\\* CoP"


def test_long_lists_are_cut_with_a_count() -> None:
    card = digest_card(data(new_members=tuple(NewMember(f"M{i}", "wider") for i in range(12))))
    assert card is not None
    assert "…and 4 more" in str(card.content)


def test_highlight_picks_one_true_sentence() -> None:
    assert pick_highlight(HealthStats()) == ""
    assert "grew by 4" in pick_highlight(HealthStats(members=30, core=10, joined_30d=4, org_areas=1))
    assert "3 different parts" in pick_highlight(HealthStats(members=30, core=10, joined_30d=0, org_areas=3))
    assert pick_highlight(HealthStats(members=7, core=1)) == "7 members, 1 core member."


def test_card_examples_build() -> None:
    labels = [label for label, _ in examples()]
    assert labels == ["weekly", "preview", "many-new-members", "posted"]


# -- commands ------------------------------------------------------------------------------------------
async def setup_cop(bot: BotUnderTest, *, news: bool = True) -> None:
    store = bot.services.store
    await make_cop(store, TEAM, bot.connector.url, leads=(LEAD,), created_at=NOW - timedelta(days=90))
    await add_member(store, TEAM.id, MEMBER, NOW - timedelta(days=30))
    if news:
        await add_member(store, TEAM.id, user(3, "Nia New"), NOW - timedelta(days=2), tier="core")


async def test_preview_in_personal_chat_shows_the_card_with_a_post_button(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    posted = await bot.say(LEAD, "digest")
    assert "Preview: only you can see this." in posted.everything
    assert "Nia New" in posted.everything
    assert "Mo Member" not in posted.everything  # joined a month ago: not new this week
    assert posted.calls[0].conversation_id == f"a:personal-{LEAD.id}"
    assert bot.connector.sent(TEAM.general) == []
    # the button posts it to the channel
    pressed = await bot.press(LEAD, posted.card, "Post now")
    assert "on its way" in str(pressed.body)
    assert await bot.services.outbox.flush(NOW) == 1
    [post] = bot.connector.sent(TEAM.general)
    assert "Nia New" in post.card_text
    assert "Preview" not in post.card_text


async def test_preview_asked_in_the_channel_goes_to_the_lead_privately(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, "digest")
    assert "sent you a preview in our personal chat" in posted.everything
    assert len(bot.connector.created()) == 1
    previews = [c for c in bot.connector.sent() if c.conversation_id.startswith("a:personal-")]
    assert len(previews) == 1
    assert "Preview" in previews[0].card_text
    assert not any("Preview" in c.card_text for c in bot.connector.sent(TEAM.general))


async def test_members_cannot_use_digest_commands(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    for text in ("digest", "digest now", "digest schedule friday 10:00", "digest off"):
        posted = await bot.say_in(MEMBER, TEAM, text)
        assert "only this CoP's leads" in posted.everything, text
        assert "Preview" not in posted.everything
    cop = await CopRepo(bot.services.store).get(TEAM.id)
    assert cop is not None
    assert (cop.digest_day, cop.digest_enabled) == (0, True)
    assert not any("This week in" in c.card_text for c in bot.connector.sent())
    assert await bot.services.store.query(TABLE, PARTITION) == []


async def test_digest_now_posts_in_the_home_channel_once(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, "digest now")
    assert "Posted this week's digest" in posted.everything
    [post] = bot.connector.sent(TEAM.general)[:1]
    assert "This week in Data and Insight" in post.card_text
    again = await bot.say_in(LEAD, TEAM, "digest now")
    assert "less than a minute ago" in again.everything
    digests = [c for c in bot.connector.sent(TEAM.general) if "This week in" in c.card_text]
    assert len(digests) == 1


async def test_digest_now_with_nothing_to_say_posts_nothing(bot: BotUnderTest) -> None:
    await setup_cop(bot, news=False)
    posted = await bot.say_in(LEAD, TEAM, "digest now")
    assert "Nothing to report this week" in posted.everything
    assert not any("This week in" in c.card_text for c in bot.connector.sent())
    preview = await bot.say(LEAD, "digest")
    assert "Nothing to report this week" in preview.everything


async def test_digest_now_without_a_home_channel_says_so(bot: BotUnderTest) -> None:
    await make_cop(bot.services.store, TEAM, bot.connector.url, leads=(LEAD,), home=False)
    posted = await bot.say_in(LEAD, TEAM, "digest now")
    assert "no home channel" in posted.everything


async def test_schedule_changes_the_day_and_time_and_the_next_digest(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, "digest schedule Friday 16:30")
    assert "Fridays at 16:30" in posted.everything
    assert "Friday 27 November at 16:30" in posted.everything
    cop = await CopRepo(bot.services.store).get(TEAM.id)
    assert cop is not None
    assert (cop.digest_day, cop.digest_time, cop.digest_enabled) == (4, "16:30", True)
    # Monday 10:00 now: nothing until Friday 16:30 London
    services = bot.services
    assert await digest.run_due(services, NOW + timedelta(minutes=5)) == 0
    assert await digest.run_due(services, datetime(2026, 11, 27, 16, 29, tzinfo=UTC)) == 0
    assert await digest.run_due(services, datetime(2026, 11, 27, 16, 30, tzinfo=UTC)) == 1


async def test_schedule_to_a_time_already_past_this_week_does_not_fire_late(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    await bot.say_in(LEAD, TEAM, "digest schedule mon 08:00")  # Monday 10:00 now: 08:00 has passed
    assert await digest.run_due(bot.services, NOW + timedelta(minutes=1)) == 0
    assert await Leases(bot.services.store).is_done("digest", TEAM.id, "2026-W48")


@pytest.mark.parametrize(
    ("args", "reply"),
    [
        ("", "Tell me a day and a time"),
        ("friday", "Tell me a day and a time"),
        ("funday 09:00", "not a day of the week"),
        ("friday 25:00", "not a time"),
        ("friday 9am", "not a time"),
        ("friday 09:00 extra", "Tell me a day and a time"),
        ("friday 9:7", "not a time"),
    ],
)
async def test_bad_schedules_get_a_clear_reply_and_change_nothing(bot: BotUnderTest, args: str, reply: str) -> None:
    await setup_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, f"digest schedule {args}")
    assert reply in posted.everything
    cop = await CopRepo(bot.services.store).get(TEAM.id)
    assert cop is not None
    assert (cop.digest_day, cop.digest_time, cop.digest_enabled) == (0, "09:00", True)


async def test_off_stops_the_digest_and_on_restarts_it(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, "digest off")
    assert "is off" in posted.everything
    assert "already off" in (await bot.say_in(LEAD, TEAM, "digest off")).everything
    next_monday = datetime(2026, 11, 30, 9, 1, tzinfo=UTC)
    await add_member(bot.services.store, TEAM.id, user(9), next_monday - timedelta(days=1))
    assert await digest.run_due(bot.services, next_monday) == 0
    on = await bot.say_in(LEAD, TEAM, "digest on")
    assert "Mondays at 09:00" in on.everything
    assert "Monday 30 November at 09:00" in on.everything
    assert await digest.run_due(bot.services, next_monday) == 1


async def test_unknown_digest_words_get_usage(bot: BotUnderTest) -> None:
    await setup_cop(bot)
    posted = await bot.say_in(LEAD, TEAM, "digest tomorrow please")
    assert "digest schedule <day> <HH:MM>" in posted.everything


async def test_digest_in_personal_chat_without_a_cop(bot: BotUnderTest) -> None:
    from tests.kit.activities import User

    nobody = await bot.say(user(50, "Nobody"), "digest")
    assert "only this CoP's leads" in nobody.everything
    admin = await bot.say(User("29:admin", "aad-admin", "Ada Admin"), "digest now")
    assert "Which CoP?" in admin.everything


async def test_schedule_changes_are_audited(bot: BotUnderTest) -> None:
    from bot.security.audit import recent

    await setup_cop(bot)
    await bot.say_in(LEAD, TEAM, "digest schedule tuesday 08:15")
    await bot.say_in(LEAD, TEAM, "digest off")
    actions = [entry.action for entry in await recent(bot.services.store, TEAM.id)]
    assert sorted(actions) == ["digest.off", "digest.schedule"]


async def test_digest_lists_open_questions_and_new_faq_entries_from_their_tables(bot: BotUnderTest) -> None:
    from bot.core.turn import Person
    from bot.domain.faq import Draft, FaqRepo
    from bot.domain.queries import QueryRepo

    await setup_cop(bot, news=False)
    store = bot.services.store
    asker = Person(MEMBER.id, MEMBER.aad, MEMBER.name)
    await QueryRepo(store).open(
        TEAM.id,
        asker,
        "Who signs off the data-sharing agreement?",
        NOW - timedelta(days=4),
        place_kind="personal",
        reference={},
    )
    answered = await QueryRepo(store).open(
        TEAM.id, asker, "Where is the style guide?", NOW - timedelta(days=2), place_kind="personal", reference={}
    )
    await QueryRepo(store).close(answered, Person(LEAD.id, LEAD.aad, LEAD.name), NOW - timedelta(days=1), "On the wiki")
    await FaqRepo(store).add(
        TEAM.id, [Draft("How do I book the lab?", "Use the booking form.")], "lead", NOW - timedelta(days=1)
    )
    await FaqRepo(store).add(TEAM.id, [Draft("Old question?", "Old answer.")], "lead", NOW - timedelta(days=30))
    posted = await bot.say(LEAD, "digest")
    text = posted.everything
    assert "Who signs off the data-sharing agreement?" in text
    assert "asked 4 days ago" in text
    assert "Where is the style guide?" not in text  # answered
    assert "How do I book the lab?" in text
    assert "Old question?" not in text  # not new this week


async def test_upcoming_events_with_going_counts_are_in_the_digest(bot: BotUnderTest) -> None:
    from bot.domain.events import Draft, EventRepo

    await setup_cop(bot, news=False)
    events = EventRepo(bot.services.store)
    soon = NOW + timedelta(days=3)
    later = NOW + timedelta(days=20)
    await events.create(
        TEAM.id,
        Draft(
            "Lunch and learn: APIs", "lunch_and_learn", soon, soon + timedelta(hours=1), "Europe/London", place="Room 2"
        ),
        LEAD.aad,
        LEAD.name,
        NOW,
    )
    await events.create(
        TEAM.id,
        Draft("Far away social", "social", later, later + timedelta(hours=1), "Europe/London", place="Pub"),
        LEAD.aad,
        LEAD.name,
        NOW,
    )
    cancelled = await events.create(
        TEAM.id,
        Draft("Called off", "workshop", soon, soon + timedelta(hours=2), "Europe/London", place="Lab"),
        LEAD.aad,
        LEAD.name,
        NOW,
    )
    await events.cancel(TEAM.id, cancelled.event_id, NOW)
    posted = await bot.say(LEAD, "digest")
    assert "Lunch and learn: APIs" in posted.everything
    assert "Far away social" not in posted.everything  # beyond 14 days
    assert "Called off" not in posted.everything
