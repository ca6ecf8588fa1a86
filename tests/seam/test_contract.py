"""The seam contract: the same cases against both SDK seams (the Agents SDK, the default, and botbuilder).

Through the HTTP app: a message in gets its reply, a card action gets its invoke response (200 with the card), a
conversation update is understood. Straight on the gateway: proactive send, update, personal chat, failures as
DeliveryError with the status and Retry-After and no hidden SDK retries, an unreachable connector as status 0;
and each responder call a handler can make (reply, update, delete, roster, team details) against the fake Bot
Connector. Authentication cases run over both seams in tests/seam/test_auth.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.core.turn import Card, Person, Request, Responder, SearchResult
from bot.teams import DeliveryError, Gateway, open_gateway
from storage.sqlite import SqliteStore
from tests.kit.activities import Activities, team, user
from tests.kit.connector import Call, FakeConnector, Member
from tests.kit.harness import running_bot, test_settings

ALICE = user(1, "Alice Adams")
TEAM = team(1, "Digital Education")
NOW = datetime(2026, 11, 23, tzinfo=UTC)


@pytest.fixture
async def gateway(sdk: str) -> AsyncIterator[Gateway]:
    gw = open_gateway(test_settings(sdk=sdk), lambda: NOW)
    yield gw
    await gw.close()


def _reference(connector: FakeConnector, conversation: str = "19:team-1@thread.tacv2") -> dict[str, object]:
    return {
        "bot": {"id": "28:bot", "name": "CoP Bot"},
        "user": {"id": "29:u1", "name": "Alice"},
        "conversation": {"id": conversation, "conversationType": "channel", "tenantId": "tenant-1"},
        "channelId": "msteams",
        "serviceUrl": connector.url,
    }


# -- through the app ---------------------------------------------------------------------------------------
async def test_a_message_gets_its_reply(sdk: str, sqlite_store: SqliteStore, connector: FakeConnector) -> None:
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(sdk=sdk)) as bot:
        activity = bot.acts.personal(ALICE, "help")
        posted = await bot.post(activity)
        assert posted.status == 201
        [reply] = posted.calls
        assert "What I can do" in reply.card_text
        assert reply.method == "POST"
        assert reply.conversation_id == activity["conversation"]["id"]
        assert reply.body is not None
        assert reply.body["from"]["id"] == bot.acts.bot_id
        assert reply.body["recipient"]["id"] == ALICE.id
        assert reply.body["replyToId"] == activity["id"]  # a reply to the activity, in its conversation


async def test_a_card_action_gets_an_invoke_response_with_the_card(
    sdk: str, sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(sdk=sdk)) as bot:
        posted = await bot.post(bot.acts.execute(ALICE, "help.show", bot.sealed("help.show")))
        assert posted.status == 200
        assert posted.body["statusCode"] == 200
        assert posted.body["type"] == "application/vnd.microsoft.card.adaptive"
        assert posted.body["value"]["type"] == "AdaptiveCard"


async def test_an_install_is_understood_and_answered_in_the_team(
    sdk: str, sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    connector.rosters[TEAM.id] = [Member(ALICE.id, ALICE.aad, ALICE.name)]
    connector.teams[TEAM.id] = {"id": TEAM.id, "name": TEAM.name, "aadGroupId": TEAM.aad_group_id}
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(sdk=sdk)) as bot:
        posted = await bot.post(bot.acts.installed_in_team(ALICE, TEAM))
        assert posted.status == 200
        assert connector.sent(TEAM.id), "the bot says hello where it was installed"
        [cop] = await sqlite_store.query("cops", None)
        assert TEAM.name in str(cop)


async def test_a_non_teams_channel_is_refused_with_403(
    sdk: str, sqlite_store: SqliteStore, connector: FakeConnector
) -> None:
    async with running_bot(sqlite_store, connector=connector, settings=test_settings(sdk=sdk)) as bot:
        activity = bot.acts.personal(ALICE, "help")
        activity["channelId"] = "webchat"
        posted = await bot.post(activity)
        assert posted.status == 403
        assert posted.calls == []


# -- straight on the gateway ---------------------------------------------------------------------------------
async def test_send_update_and_personal_chat(gateway: Gateway, connector: FakeConnector) -> None:
    activity_id = await gateway.send(_reference(connector), Card({"type": "AdaptiveCard", "body": []}, "hi"))
    assert activity_id.startswith("act-")
    await gateway.update(_reference(connector), activity_id, "edited")
    [put] = connector.updates()
    assert put.activity_id == activity_id
    assert put.text == "edited"
    personal = await gateway.open_personal_chat(_reference(connector), Person("29:u2", "aad-2", "Bob"))
    [created] = connector.created()
    assert created.body is not None
    assert created.body["members"][0]["id"] == "29:u2"
    assert created.body["channelData"]["tenant"]["id"] == "tenant-1"
    assert created.body["bot"]["id"] == "28:bot"
    assert personal["conversation"]["id"].startswith("a:personal-")
    assert personal["serviceUrl"] == connector.url
    assert "user" not in personal  # stored for later sends: no person in it
    mention = await gateway.send(personal, "hello", mention=Person("29:u2", "aad-2", "Bob"))
    assert mention
    last = connector.sent()[-1]
    assert last.text.startswith("<at>Bob</at>")
    assert last.body is not None
    assert last.body["entities"][0]["mentioned"]["id"] == "29:u2"
    assert last.conversation_id == personal["conversation"]["id"]


@pytest.mark.parametrize(("status", "retry_after"), [(429, 3.0), (403, None), (404, None), (502, None)])
async def test_failures_surface_with_status_and_are_not_retried_by_the_sdk(
    gateway: Gateway, connector: FakeConnector, status: int, retry_after: float | None
) -> None:
    headers = {"Retry-After": "3"} if retry_after else {}

    def fail(call: Call) -> tuple[int, dict[str, str]] | None:
        return (status, headers) if call.method in ("POST", "PUT") else None

    connector.policy = fail
    with pytest.raises(DeliveryError) as raised:
        await gateway.send(_reference(connector), "hello")
    assert raised.value.status == status
    assert raised.value.retry_after == retry_after
    with pytest.raises(DeliveryError):
        await gateway.update(_reference(connector), "act-1", "edited")
    assert len(connector.calls) == 2  # one POST and one PUT: no hidden SDK retries


async def test_unreachable_connector_is_status_zero(gateway: Gateway) -> None:
    reference = {
        "bot": {"id": "28:bot"},
        "conversation": {"id": "a:1"},
        "channelId": "msteams",
        "serviceUrl": "http://127.0.0.1:9/",
    }
    with pytest.raises(DeliveryError) as raised:
        await gateway.send(reference, "hello")
    assert raised.value.status == 0


async def _turn(gateway: Gateway, activity: dict[str, Any], handler: Any) -> tuple[int, Any]:
    authenticated = await gateway.authenticate(activity, "")

    async def on_request(request: Request, responder: Responder) -> None:
        await handler(request, responder)

    return await gateway.run(authenticated, on_request)


async def test_every_responder_call_reaches_the_connector(gateway: Gateway, connector: FakeConnector) -> None:
    connector.rosters[TEAM.id] = [Member(ALICE.id, ALICE.aad, ALICE.name), Member("29:u2", "aad-2", "Bob Brown")]
    connector.teams[TEAM.id] = {"id": TEAM.id, "name": "Renamed team", "aadGroupId": TEAM.aad_group_id}
    seen: dict[str, Any] = {}

    async def handler(request: Request, responder: Responder) -> None:
        seen["request"] = request
        first = await responder.reply("first", mention=Person(ALICE.id, ALICE.aad, ALICE.name))
        assert first
        await responder.update(first, Card({"type": "AdaptiveCard", "body": []}, "changed"))
        await responder.delete(first)
        seen["roster"] = await responder.team_members()
        seen["details"] = await responder.team_details()

    status, body = await _turn(gateway, Activities(connector.url).channel(ALICE, TEAM, "hello"), handler)
    assert (status, body) == (201, None)
    request = seen["request"]
    assert request.mentioned_bot
    assert request.text == "hello"
    assert request.place.team_id == TEAM.id
    assert "user" not in request.conversation_reference
    assert [p.aad_id for p in seen["roster"]] == [ALICE.aad, "aad-2"]
    assert seen["details"] == (TEAM.aad_group_id, "Renamed team")
    methods = [(c.method, c.path.split("/")[2] if c.path.startswith("/v3/") else c.path) for c in connector.calls]
    assert methods[:3] == [("POST", "conversations"), ("PUT", "conversations"), ("DELETE", "conversations")]
    posted, put, deleted = connector.calls[:3]
    assert posted.text.startswith("<at>Alice Adams</at> first")
    assert put.card is not None
    assert put.activity_id == deleted.activity_id
    assert any(c.path.endswith(f"/v3/teams/{TEAM.id}") for c in connector.calls)


async def test_an_invoke_answered_by_the_handler_returns_its_card(gateway: Gateway, connector: FakeConnector) -> None:
    async def handler(request: Request, responder: Responder) -> None:
        assert request.action is not None
        assert request.action.verb == "rsvp.yes"
        assert request.action.data["event"] == "e1"
        responder.answer_action(Card({"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Going"}]}))

    activity = Activities(connector.url).execute(ALICE, "rsvp.yes", {"verb": "rsvp.yes", "event": "e1"})
    status, body = await _turn(gateway, activity, handler)
    assert status == 200
    assert body["statusCode"] == 200
    assert body["value"]["body"][0]["text"] == "Going"
    assert connector.calls == []  # the answer is the HTTP response, not a connector call


async def test_a_message_extension_search_and_pick_are_answered_with_results(
    gateway: Gateway, connector: FakeConnector
) -> None:
    seen: list[Request] = []
    card = Card({"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "An answer"}]})

    async def handler(request: Request, responder: Responder) -> None:
        seen.append(request)
        responder.answer_search([SearchResult(card, "How do I join?", "Programme", {"kind": "answer", "id": "p1"})])

    acts = Activities(connector.url)
    query = acts.compose_query(ALICE, "answers", "join a cop", where=TEAM, skip=25, count=10)
    status, body = await _turn(gateway, query, handler)
    assert status == 200
    assert connector.calls == []  # the results are the HTTP response
    # the body Teams documents for search results (Respond to search command)
    assert set(body) == {"composeExtension"}
    assert body["composeExtension"]["type"] == "result"
    assert body["composeExtension"]["attachmentLayout"] == "list"
    [attachment] = body["composeExtension"]["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"] == card.content
    assert attachment["preview"]["contentType"] == "application/vnd.microsoft.card.thumbnail"
    assert attachment["preview"]["content"] == {
        "title": "How do I join?",
        "text": "Programme",
        "tap": {"type": "invoke", "value": {"kind": "answer", "id": "p1"}},
    }
    status, picked = await _turn(gateway, acts.compose_select(ALICE, {"kind": "answer", "id": "p1"}), handler)
    assert status == 200
    assert picked["composeExtension"]["attachments"][0]["content"] == card.content
    search, pick = (r.search for r in seen)
    assert [r.kind for r in seen] == ["search", "search_pick"]
    assert search is not None
    assert (search.command, search.text, search.skip, search.count, search.initial_run) == (
        "answers",
        "join a cop",
        25,
        10,
        False,
    )
    assert seen[0].place.team_id == TEAM.id
    assert pick is not None
    assert dict(pick.picked) == {"kind": "answer", "id": "p1"}

    async def refuses(request: Request, responder: Responder) -> None:
        responder.answer_search([], message="That search is too long.")

    status, body = await _turn(gateway, acts.compose_query(ALICE, "answers", initial_run=True), refuses)
    assert (status, body) == (200, {"composeExtension": {"type": "message", "text": "That search is too long."}})
