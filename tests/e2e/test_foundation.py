"""The foundation end to end: help, routing, bad input, redelivery, the error boundary, invoke round trips."""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import pytest

from bot.core.clock import FakeClock
from bot.routing.router import Turn
from storage.base import Unavailable
from storage.sqlite import SqliteStore
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest, running_bot, test_settings

ALICE = user(1, "Alice Adams")
TEAM = team(1, "Data and Insight")


async def test_help_in_personal_chat(bot: BotUnderTest) -> None:
    posted = await bot.say(ALICE, "help")
    assert posted.status == 201
    assert len(posted.calls) == 1
    call = posted.calls[0]
    assert call.conversation_id == f"a:personal-{ALICE.id}"
    assert "help" in call.card_text
    assert "What I can do for you here" in call.card_text


async def test_help_in_channel_by_mention(bot: BotUnderTest) -> None:
    posted = await bot.say_in(ALICE, TEAM, "help")
    assert posted.status == 201
    [call] = posted.calls
    assert call.conversation_id == TEAM.general
    assert "Mention me" in call.card_text


async def test_command_words_are_case_insensitive_and_need_whole_words(bot: BotUnderTest) -> None:
    assert "What I can do" in (await bot.say(ALICE, "  HELP ")).everything
    posted = await bot.say(ALICE, "helpme")  # not "help": a question, or "I didn't get that"
    assert "What I can do for you here" not in posted.everything


async def test_channel_post_without_mention_is_not_a_command(bot: BotUnderTest) -> None:
    posted = await bot.say_in(ALICE, TEAM, "help", mention_bot=False)
    assert posted.status == 201
    assert posted.calls == []


async def test_unknown_command_gets_a_friendly_hint(bot: BotUnderTest) -> None:
    bot.services.router._fallback = None  # the foundation alone: no question answering
    posted = await bot.say(ALICE, "frobnicate the widgets")
    assert "I didn't get that" in posted.everything
    assert "help" in posted.everything


async def test_action_execute_invoke_returns_200_with_a_card(bot: BotUnderTest) -> None:
    shown = await bot.say(ALICE, "help")
    posted = await bot.press(ALICE, shown.card, "Refresh")
    assert posted.status == 200
    assert posted.body["statusCode"] == 200
    assert posted.body["type"] == "application/vnd.microsoft.card.adaptive"
    assert posted.body["value"]["type"] == "AdaptiveCard"


async def test_unknown_card_verb_is_refused_clearly(bot: BotUnderTest) -> None:
    posted = await bot.click(ALICE, "no.such.verb", {"x": 1})
    assert posted.status == 200
    assert "didn't come from me" in posted.body["value"]
    submitted = await bot.submit(ALICE, bot.sealed("no.such.verb"))
    assert "no longer valid" in submitted.everything


async def test_forged_tampered_and_expired_buttons_are_refused(bot: BotUnderTest) -> None:
    genuine = bot.sealed("help.show", {"cop_id": "19:a@thread.tacv2", "id": "42"})
    ok = await bot.click(ALICE, "help.show", genuine)
    assert ok.body["type"] == "application/vnd.microsoft.card.adaptive"
    tampered = await bot.click(ALICE, "help.show", {**genuine, "cop_id": "19:other@thread.tacv2"})
    assert "altered" in tampered.body["value"]
    reused = await bot.click(ALICE, "help.show", {**genuine, "verb": "help.show", "id": "43"})
    assert "altered" in reused.body["value"]
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(days=121))
    expired = await bot.click(ALICE, "help.show", genuine)
    assert "expired" in expired.body["value"]


async def test_redelivered_activity_is_processed_once(bot: BotUnderTest) -> None:
    activity = bot.acts.personal(ALICE, "help")
    first = await bot.post(activity)
    second = await bot.post(activity)
    assert len(first.calls) == 1
    assert second.status in (200, 201)
    assert second.calls == []


async def test_only_actions_registered_idempotent_skip_the_redelivery_claim(bot: BotUnderTest) -> None:
    runs: list[str] = []

    @bot.services.router.action("test.once")
    async def once(turn: Turn) -> None:
        runs.append("once")
        await turn.tell("done once")

    @bot.services.router.action("test.again", idempotent=True)
    async def again(turn: Turn) -> None:
        runs.append("again")
        await turn.tell("done again")

    assert bot.services.router.is_idempotent("test.again")
    assert not bot.services.router.is_idempotent("test.once")
    assert not bot.services.router.is_idempotent("no.such.verb")
    once_activity = bot.acts.execute(ALICE, "test.once", bot.sealed("test.once"))
    assert (await bot.post(once_activity)).body["value"] == "done once"
    assert (await bot.post(once_activity)).body["value"] == "Already done."
    again_activity = bot.acts.execute(ALICE, "test.again", bot.sealed("test.again"))
    assert (await bot.post(again_activity)).body["value"] == "done again"
    assert (await bot.post(again_activity)).body["value"] == "done again"
    assert runs == ["once", "again", "again"]


async def test_error_boundary_apologises_with_a_reference_and_releases_the_claim(bot: BotUnderTest) -> None:
    attempts: list[str] = []

    @bot.services.router.command("explode", help="test only")
    async def explode(turn: Turn) -> None:
        attempts.append(turn.request.activity_id)
        raise RuntimeError("secret internal detail")

    activity = bot.acts.personal(ALICE, "explode")
    posted = await bot.post(activity)
    assert posted.status == 201
    assert "Sorry, something went wrong" in posted.everything
    assert "(ref " in posted.everything
    assert "secret internal detail" not in posted.everything
    assert "Traceback" not in posted.everything
    await bot.post(activity)  # Teams' retry of a failed turn is processed again
    assert len(attempts) == 2


async def test_storage_outage_tells_the_user_to_try_again(bot: BotUnderTest) -> None:
    @bot.services.router.command("needs storage", help="test only")
    async def needs_storage(turn: Turn) -> None:
        raise Unavailable("down")

    posted = await bot.say(ALICE, "needs storage")
    assert "can't reach my storage" in posted.everything


async def test_invalid_json_is_400(bot: BotUnderTest) -> None:
    status, body = await bot.post_raw(b"{not json")
    assert status == 400
    assert "not valid JSON" in body


async def test_non_object_json_is_400(bot: BotUnderTest) -> None:
    status, _ = await bot.post_raw(b"[1, 2, 3]")
    assert status == 400


async def test_wrong_content_type_is_415(bot: BotUnderTest) -> None:
    status, _ = await bot.post_raw(b"hello", content_type="text/plain")
    assert status == 415


async def test_oversized_body_is_413(bot: BotUnderTest) -> None:
    activity = bot.acts.personal(ALICE, "x" * (300 * 1024))
    status, _ = await bot.post_raw(json.dumps(activity).encode())
    assert status == 413


async def test_activity_missing_from_or_conversation_is_400(bot: BotUnderTest) -> None:
    for missing in ("from", "conversation", "recipient", "serviceUrl"):
        activity = bot.acts.personal(ALICE, "help")
        del activity[missing]
        posted = await bot.post(activity)
        assert posted.status == 400, missing
        assert posted.calls == []


async def test_unknown_activity_type_is_400_and_known_others_are_ignored(bot: BotUnderTest) -> None:
    activity = bot.acts.personal(ALICE, "help")
    activity["type"] = "launchMissiles"
    assert (await bot.post(activity)).status == 400
    typing = bot.acts.personal(ALICE, "")
    typing["type"] = "typing"
    posted = await bot.post(typing)
    assert posted.status == 200
    assert posted.calls == []


async def test_wrongly_typed_fields_are_400(bot: BotUnderTest) -> None:
    for field, value in (("text", 42), ("entities", "nope"), ("channelData", []), ("id", {"a": 1})):
        activity = bot.acts.personal(ALICE, "help")
        activity[field] = value
        assert (await bot.post(activity)).status == 400, field


async def test_invoke_without_verb_is_400(bot: BotUnderTest) -> None:
    activity = bot.acts.execute(ALICE, "help.show")
    activity["value"] = {"action": {"type": "Action.Execute"}}
    assert (await bot.post(activity)).status == 400


async def test_empty_personal_message_gets_a_hint(bot: BotUnderTest) -> None:
    posted = await bot.say(ALICE, "   ")
    assert "help" in posted.everything


async def test_health_endpoints(bot: BotUnderTest) -> None:
    status, body, _ = await bot.get("/healthz")
    assert status == 200
    assert json.loads(body)["status"] == "alive"
    status, body, _ = await bot.get("/readyz")
    assert status == 200
    assert json.loads(body)["status"] == "ready"


async def test_tenant_allow_list(sqlite_store, connector) -> None:  # type: ignore[no-untyped-def]
    from tests.kit.harness import running_bot, test_settings

    async with running_bot(
        sqlite_store, connector=connector, settings=test_settings(allowed_tenants=frozenset({"other"}))
    ) as b:
        posted = await b.say(ALICE, "help")
        assert posted.status == 403
        assert posted.calls == []


def test_mentions_are_removed_and_line_breaks_kept() -> None:
    from datetime import UTC, datetime

    from bot.teams import to_request
    from tests.kit.activities import Activities

    raw = Activities("http://127.0.0.1:1").channel(ALICE, TEAM, "faq import\nq1,a1\r\nq2,  a2")
    request = to_request(raw, datetime(2026, 11, 23, tzinfo=UTC))
    assert request.mentioned_bot
    assert request.text == "faq import\nq1,a1\nq2, a2"
    assert request.place.team_id == TEAM.id
    assert request.place.kind == "channel"
    assert request.conversation_reference["conversation"]["tenantId"] == "tenant-1"
    assert "user" not in request.conversation_reference  # a stored reference names no person


async def test_start_warns_when_the_configured_terms_run_out(
    sqlite_store: SqliteStore, caplog: pytest.LogCaptureFixture
) -> None:
    ending = ((date(2026, 9, 28), date(2026, 12, 11)),)  # the harness's clock says 23 November 2026
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        async with running_bot(sqlite_store, settings=test_settings(terms=ending)):
            pass
    assert "the last term in COPBOT_TERMS ends on 2026-12-11" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.app"):
        async with running_bot(sqlite_store):
            pass
    assert "COPBOT_TERMS" not in caplog.text
