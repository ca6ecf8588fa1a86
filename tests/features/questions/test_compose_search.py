"""The message extension end to end: composeExtension/query and selectItem invokes through /api/messages, the
inserted cards' buttons pressed in other chats and teams, other tenants and audiences refused, bad queries."""

from __future__ import annotations

from typing import Any

from bot.core import messages
from bot.domain.events import EventRepo
from bot.features.compose_search import QUERY_MAX
from bot.features.events import NOT_AUDIENCE
from tests.features.events.kit import FORM, setup
from tests.kit.activities import Activities, team, user
from tests.kit.harness import BotUnderTest, find_action

ALICE = user(1, "Alice Adams")  # lead of TEAM
BO = user(2, "Bo Brown")  # core member of TEAM
CY = user(3, "Cy Chen")  # wider member of TEAM
DEE = user(4, "Dee Dunn")  # no CoP
TEAM = team(1, "Data and Insight")
OTHER = team(2, "Research Software")  # another CoP's team, where a card may be shared
ADAPTIVE = "application/vnd.microsoft.card.adaptive"
THUMBNAIL = "application/vnd.microsoft.card.thumbnail"


async def two_cops(bot: BotUnderTest) -> None:
    await setup(bot, TEAM, leads=[ALICE], members={BO: "core", CY: "wider"})
    await setup(bot, OTHER, leads=[DEE])


async def create_event(bot: BotUnderTest, **changes: str) -> str:
    """A lead creates (and announces) an event through the form; returns its id."""
    form = await bot.say_in(ALICE, TEAM, "event new")
    created = await bot.press(ALICE, form.card, "Create and announce", {**FORM, **changes}, where=TEAM)
    assert "Event created" in str(created.card), created.body
    await bot.services.outbox.flush(bot.services.clock.now())
    events = await EventRepo(bot.services.store).of_cop(TEAM.id)
    return next(e.event_id for e in events if e.title == {**FORM, **changes}["title"])


def result_of(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict), body
    extension: dict[str, Any] = body["composeExtension"]
    return extension


def attachments(body: Any) -> list[dict[str, Any]]:
    extension = result_of(body)
    assert extension["type"] == "result", extension
    assert extension["attachmentLayout"] == "list"
    found: list[dict[str, Any]] = extension["attachments"]
    return found


def titles(body: Any) -> list[str]:
    return [a["preview"]["content"]["title"] for a in attachments(body)]


async def search(bot: BotUnderTest, who: Any, command: str, text: str = "", **kwargs: Any) -> Any:
    posted = await bot.post(bot.acts.compose_query(who, command, text, **kwargs))
    assert posted.status == 200, posted.body
    assert not [c for c in posted.calls if c.method in ("POST", "PUT")]  # a search sends no message
    return posted.body


async def test_events_search_answers_in_the_documented_shape_with_sealed_buttons_and_paging(
    bot: BotUnderTest,
) -> None:
    await two_cops(bot)
    for n, date in enumerate(("2026-11-25", "2026-11-26", "2026-11-27")):
        await create_event(bot, title=f"Dashboards clinic {n}", date=date)
    body = await search(bot, CY, "events", "dashboards clinic")
    found = attachments(body)
    assert [a["preview"]["content"]["title"] for a in found] == [f"Dashboards clinic {n}" for n in range(3)]
    for item in found:
        assert item["contentType"] == ADAPTIVE
        assert item["content"]["type"] == "AdaptiveCard"
        assert item["content"]["version"] == "1.5"
        assert item["preview"]["contentType"] == THUMBNAIL
        assert item["preview"]["content"]["tap"]["type"] == "invoke"
        assert item["preview"]["content"]["tap"]["value"]["kind"] == "event"
        assert "Data and Insight" in item["preview"]["content"]["text"]
        going = find_action(item["content"], "Going")
        assert going["verb"] == "event.rsvp"
        assert "_seal" in going["data"]
        assert item["content"]["refresh"]["userIds"] == []  # a card everyone may be shown: nobody listed
    first = await search(bot, CY, "events", "dashboards clinic", count=2)
    rest = await search(bot, CY, "events", "dashboards clinic", skip=2, count=2)
    assert titles(first) == ["Dashboards clinic 0", "Dashboards clinic 1"]
    assert titles(rest) == ["Dashboards clinic 2"]
    assert titles(await search(bot, CY, "events", "nothing like this")) == []
    # in a team's channel too, and the same for both tiers of the audience "all"
    assert len(attachments(await search(bot, DEE, "events", "dashboards", where=OTHER))) == 3


async def test_nothing_typed_shows_defaults_programme_answers_my_cops_and_this_weeks_events(
    bot: BotUnderTest,
) -> None:
    await two_cops(bot)
    await create_event(bot, title="This week", date="2026-11-26")
    await create_event(bot, title="Next month", date="2026-12-20")
    answers = attachments(await search(bot, BO, "answers", initial_run=True))
    assert 0 < len(answers) <= 10
    assert all(a["preview"]["content"]["tap"]["value"]["scope"] == "" for a in answers)  # the programme FAQ
    assert titles(await search(bot, BO, "cops", initial_run=True)) == ["Data and Insight"]
    assert titles(await search(bot, DEE, "cops", initial_run=True)) == ["Research Software"]  # DEE leads it
    assert titles(await search(bot, BO, "events", initial_run=True)) == ["This week"]
    assert titles(await search(bot, BO, "events", "")) == ["This week"]  # an empty box is the same


async def test_answers_are_the_confident_ones_ask_gives_and_cops_rank_as_the_directory(bot: BotUnderTest) -> None:
    await two_cops(bot)
    asked = await bot.say(BO, "ask how do I join a CoP?")
    card = asked.card
    assert card is not None
    question_asked = card["body"][1]["text"]
    found = attachments(await search(bot, BO, "answers", "how do I join a CoP?"))
    assert found
    assert found[0]["content"]["body"][0]["text"] == question_asked
    assert titles(await search(bot, BO, "answers", "qwxz plorf")) == []  # nothing confident: nothing listed
    cops = attachments(await search(bot, BO, "cops", "research software"))
    assert [a["preview"]["content"]["title"] for a in cops] == ["Research Software"]
    join = find_action(cops[0]["content"], "Join")
    assert join["verb"] == "membership.start"
    assert join["data"]["cop_id"] == OTHER.id


async def test_a_picked_event_is_inserted_and_anyone_answers_it_from_another_team_or_a_chat(
    bot: BotUnderTest,
) -> None:
    await two_cops(bot)
    event_id = await create_event(bot, title="Dashboards clinic", capacity="1")
    [listed] = attachments(await search(bot, BO, "events", "dashboards"))
    picked = await bot.post(bot.acts.compose_select(BO, listed["preview"]["content"]["tap"]["value"]))
    [inserted] = attachments(picked.body)
    card = inserted["content"]
    assert "You're" not in str(card)  # nothing of the person who inserted it
    # Bo answers from a group chat; Cy from another CoP's channel: each for themselves
    going = await bot.press(BO, card, "Going")
    assert "You're going." in str(going.card)
    waiting = await bot.press(CY, card, "Going", where=OTHER)
    assert "on the waitlist" in str(waiting.card)
    assert "You're going." not in str(waiting.card)
    mine = await bot.press(BO, card, "Show my answer", where=OTHER)
    assert "You're going." in str(mine.card)
    event = await EventRepo(bot.services.store).get(TEAM.id, event_id)
    assert event is not None
    assert (event.going, event.waitlist) == (1, 1)
    # a CoP card's Join button starts joining that CoP for whoever presses it, wherever it was inserted
    [cop] = attachments(await search(bot, DEE, "cops", "data insight"))
    joining = await bot.press(DEE, cop["content"], "Join", where=OTHER)
    assert "Data and Insight" in str(joining.card)
    assert find_action(joining.card or {}, "membership.join")["data"]["cop_id"] == TEAM.id


async def test_another_tenant_and_people_outside_the_audience_are_refused(bot: BotUnderTest) -> None:
    await two_cops(bot)
    await create_event(bot, title="Core only", audience="core")
    event_id = await create_event(bot, title="For all")
    # a core-only event is not found by a wider member, and a crafted pick of it is refused
    assert titles(await search(bot, CY, "events", "core only")) == []
    assert titles(await search(bot, BO, "events", "core only")) == ["Core only"]
    [core] = attachments(await search(bot, BO, "events", "core only"))
    crafted = await bot.post(bot.acts.compose_select(CY, core["preview"]["content"]["tap"]["value"]))
    assert result_of(crafted.body)["type"] == "message"
    refused = await bot.press(CY, core["content"], "Going")
    assert refused.body["value"] == NOT_AUDIENCE["core"]
    # the card forwarded to another tenant: refused, nothing recorded
    [shared] = attachments(await search(bot, BO, "events", "for all"))
    foreign = Activities(bot.connector.url, tenant="tenant-2")
    press = foreign.execute(DEE, "event.rsvp")
    press["value"]["action"]["data"] = find_action(shared["content"], "Going")["data"]
    answered = await bot.post(press)
    assert answered.status == 200
    assert answered.body["value"] == messages.OTHER_TENANT
    event = await EventRepo(bot.services.store).get(TEAM.id, event_id)
    assert event is not None
    assert event.going == 0
    # and another tenant's search lists none of this tenant's CoPs or events
    other_tenant = await bot.post(foreign.compose_query(DEE, "cops", "data"))
    assert attachments(other_tenant.body) == []


async def test_bad_queries_get_a_message_not_an_error(bot: BotUnderTest) -> None:
    await two_cops(bot)
    long = await bot.post(bot.acts.compose_query(BO, "answers", "x" * (QUERY_MAX + 1)))
    assert long.status == 200
    assert result_of(long.body) == {"type": "message", "text": result_of(long.body)["text"]}
    assert "too long" in result_of(long.body)["text"]
    unknown = await bot.post(bot.acts.compose_query(BO, "passwords", "x"))
    assert unknown.status == 200
    assert result_of(unknown.body)["type"] == "message"
    odd = bot.acts.compose_query(BO, "events", "x")
    odd["value"]["queryOptions"] = {"skip": "ten", "count": -5}
    assert (await bot.post(odd)).status == 200
    odd["value"] = "not an object"
    assert (await bot.post(odd)).status == 200
    garbage = await bot.post(bot.acts.compose_select(BO, {"kind": "event", "cop_id": TEAM.id, "id": "../../x"}))
    assert result_of(garbage.body)["type"] == "message"


async def test_result_titles_and_previews_carry_no_markup(bot: BotUnderTest) -> None:
    await two_cops(bot)
    await create_event(bot, title="Clinic **bold** <at>Bo</at> [x](https://evil.example) `code`")
    [found] = attachments(await search(bot, BO, "events", "clinic"))
    preview = found["preview"]["content"]
    for field in (preview["title"], preview["text"]):
        assert not set(field) & set("*<>[]`_~#\\|")
    assert preview["title"] == "Clinic bold at Bo /at x (https://evil.example) code"  # no link syntax left
    heading = found["content"]["body"][0]["text"]
    assert "\\*\\*bold\\*\\*" in heading
    assert "\\<at\\>" in heading


async def test_a_search_past_its_time_budget_is_answered_in_time_with_a_message(
    bot: BotUnderTest, monkeypatch: Any
) -> None:
    from bot.features import compose_search

    await two_cops(bot)
    monkeypatch.setattr(compose_search, "SEARCH_BUDGET_S", 0.0)  # nothing finishes in no time
    slow = await bot.post(bot.acts.compose_query(BO, "cops", "data"))
    assert slow.status == 200
    assert result_of(slow.body) == {"type": "message", "text": compose_search.SLOW}
    monkeypatch.setattr(compose_search, "SEARCH_BUDGET_S", 4.0)
    assert titles(await search(bot, BO, "cops", "data insight")) == ["Data and Insight"]
