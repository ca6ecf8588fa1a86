"""Teams meetings for online events through a fake Microsoft Graph: made for the lead who creates the event (its
link on the announcement and in the calendar file), moved when the event moves, removed when it is cancelled;
every Graph failure leaves the event created and tells the lead why; without the setting the form says to paste a
link. The bot runs authenticated (its Graph token comes from the same identity as its connector token)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.domain.events import EventRepo
from bot.features.event_notices import calendar_url, settle
from storage.sqlite import SqliteStore
from tests.features.events.kit import FORM, messages_to, setup
from tests.kit.activities import team, user
from tests.kit.connector import FakeConnector
from tests.kit.graph import FakeGraph
from tests.kit.harness import BotUnderTest, running_bot, test_settings
from tests.kit.identity import FakeIdentity

APP_ID = "11111111-2222-3333-4444-555555555555"
GRAPH = "https://graph.microsoft.com/.default"
LEAD = user(1, "Lena Lead")
TEAM = team(1, "Data and Insight")
ONLINE = {**FORM, "link": "", "place": "", "teams_meeting": "true", "date": "2026-11-30"}


@pytest.fixture
async def identity() -> AsyncIterator[FakeIdentity]:
    fake = FakeIdentity()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    fake = FakeGraph()
    await fake.start()
    yield fake
    await fake.close()


def token_for(scope: str) -> str:
    return f"token-for-{scope}"


async def signed_bot(
    store: SqliteStore, connector: FakeConnector, identity: FakeIdentity, graph: FakeGraph, **overrides: Any
) -> Any:
    settings = test_settings(
        app_id=APP_ID,
        app_password="not-used",
        openid_metadata_url=identity.metadata_url,
        teams_meetings=True,
        graph_url=graph.url,
        connector_timeout=1.0,
        **overrides,
    )
    return running_bot(store, connector=connector, settings=settings, token_source=token_for)


def sign(bot: BotUnderTest, identity: FakeIdentity) -> None:
    """Every activity the test posts carries a channel token, as Teams' would."""
    post = bot.post

    async def signed(activity: dict[str, Any], *, headers: dict[str, str] | None = None) -> Any:
        token = identity.token(app_id=APP_ID, service_url=activity["serviceUrl"])
        return await post(activity, headers={"Authorization": f"Bearer {token}"})

    bot.post = signed  # type: ignore[method-assign]


async def create_online_event(bot: BotUnderTest, **changes: str) -> Any:
    form = await bot.say_in(LEAD, TEAM, "event new")
    assert "Make a Teams meeting for it" in form.everything
    created = await bot.press(LEAD, form.card, "Create and announce", {**ONLINE, **changes}, where=TEAM)
    await bot.services.outbox.flush(bot.services.clock.now())  # the announcement, posted before the meeting is back
    await settle(bot.services)  # the meeting made, the card updated in place
    await bot.services.outbox.flush(bot.services.clock.now())  # the note to the lead
    [event] = await EventRepo(bot.services.store).of_cop(TEAM.id)
    return created, event


async def test_an_online_event_gets_a_teams_meeting_organised_by_its_lead(
    sqlite_store: SqliteStore, connector: FakeConnector, identity: FakeIdentity, graph: FakeGraph
) -> None:
    async with await signed_bot(sqlite_store, connector, identity, graph) as bot:
        sign(bot, identity)
        await setup(bot, TEAM, leads=[LEAD])
        created, event = await create_online_event(bot)
        assert "making its Teams meeting" in created.everything
        [call] = graph.calls
        assert (call.method, call.path) == ("POST", f"/v1.0/users/{LEAD.aad}/onlineMeetings")
        assert call.authorization == f"Bearer token-for-{GRAPH}"
        assert call.body is not None
        assert call.body["subject"] == FORM["title"]
        assert call.body["startDateTime"] == event.start.isoformat()
        assert event.meeting_state == "ready"
        assert event.meeting_id == "MSo1"
        assert event.link.startswith("https://teams.microsoft.com/l/meetup-join/")
        # the channel card carries the link (updated in place) and the lead is told privately
        updates = [str(c.card) for c in connector.calls if c.method == "PUT" and c.card is not None]
        assert any(event.link in card for card in updates)
        [note] = messages_to(connector, LEAD)
        assert "Teams meeting" in note.card_text
        assert "is ready" in note.card_text
        url = calendar_url(bot.services, event)
        status, ics, _ = await bot.get(url[url.index("/files/") :])
        assert status == 200
        assert event.link.encode() in ics.replace(b"\r\n ", b"")  # folded lines joined


@pytest.mark.parametrize(
    ("failure", "says"),
    [
        (403, "has not allowed CoP Bot to create Teams meetings"),
        (401, "did not accept CoP Bot's sign-in"),
        (429, "busy right now"),
        (500, "Microsoft Graph failed"),
        ("hang", "did not answer in time"),
    ],
)
async def test_a_meeting_graph_refuses_leaves_the_event_created_and_tells_the_lead_why(
    sqlite_store: SqliteStore,
    connector: FakeConnector,
    identity: FakeIdentity,
    graph: FakeGraph,
    failure: int | str,
    says: str,
) -> None:
    if failure == "hang":
        graph.hang = True
    else:
        graph.fail = int(failure)
    async with await signed_bot(sqlite_store, connector, identity, graph) as bot:
        sign(bot, identity)
        await setup(bot, TEAM, leads=[LEAD])
        created, event = await create_online_event(bot)
        assert "Event created" in created.everything
        assert event.meeting_state.startswith("failed: ")
        assert not event.meeting_id
        assert not event.link
        [note] = messages_to(connector, LEAD)
        assert says in note.card_text
        assert "use Edit on its card to add a meeting link" in note.card_text
        # the channel card, updated in place, says the link will come from the organiser
        shown = [c.card_text for c in connector.calls if c.method in ("POST", "PUT") and c.card is not None]
        assert any("the organiser will share the link" in text for text in shown)


async def test_moving_or_cancelling_the_event_moves_or_removes_its_meeting(
    sqlite_store: SqliteStore, connector: FakeConnector, identity: FakeIdentity, graph: FakeGraph
) -> None:
    async with await signed_bot(sqlite_store, connector, identity, graph) as bot:
        sign(bot, identity)
        await setup(bot, TEAM, leads=[LEAD])
        _, event = await create_online_event(bot)
        [announcement] = [c for c in connector.sent(TEAM.general) if "Show my answer" in str(c.card)]
        opened = await bot.press(LEAD, announcement.card, "Show my answer", where=TEAM)
        form = await bot.press(LEAD, opened.card, "Edit", where=TEAM)
        assert "Make a Teams meeting" not in form.everything  # an edit keeps the meeting it has
        await bot.press(LEAD, form.card, "Save changes", {**event.form(), "start": "14:00", "end": "15:00"}, where=TEAM)
        await settle(bot.services)
        patch = [c for c in graph.calls if c.method == "PATCH"]
        assert len(patch) == 1
        assert patch[0].path.endswith(f"/onlineMeetings/{event.meeting_id}")
        assert patch[0].body is not None
        assert patch[0].body["startDateTime"].startswith("2026-11-30T14:00")
        confirm = await bot.press(LEAD, opened.card, "Cancel event", where=TEAM)
        await bot.press(LEAD, confirm.card, "event.cancel.confirm", where=TEAM)
        await settle(bot.services)
        assert [c.method for c in graph.calls] == ["POST", "PATCH", "DELETE"]
        assert graph.meetings == {}


async def test_without_the_setting_the_form_asks_for_a_link_and_a_forged_toggle_asks_for_nothing(
    bot: BotUnderTest,
) -> None:
    await setup(bot, TEAM, leads=[LEAD])
    form = await bot.say_in(LEAD, TEAM, "event new")
    assert "can't make Teams meetings in this tenant" in form.everything
    assert "Make a Teams meeting" not in form.everything
    refused = await bot.press(LEAD, form.card, "Create and announce", ONLINE, where=TEAM)
    assert "Say where it happens" in refused.everything
    assert await EventRepo(bot.services.store).of_cop(TEAM.id) == []
