"""``my data`` and ``forget me`` end to end: a signed, expiring JSON export from every registered source; erasure
everywhere only after a confirmation that is the person's own and fresh; a clear answer when it cannot finish."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from bot.core.clock import FakeClock
from bot.features.privacy import NO_IDENTITY, NOT_YOURS
from bot.security import audit
from bot.services import Services
from storage.base import Unavailable
from storage.sqlite import SqliteStore
from tests.features.trust.kit import join, make_cop
from tests.kit.activities import User, team, user
from tests.kit.harness import BotUnderTest, find_action

ALICE = user(31, "Alice Adams")
BOB = user(32, "Bob Brown")
TEAM = team(3, "Digital Education")


class Recorder:
    """A personal-data source for tests: what was exported and erased, and an optional failure."""

    def __init__(self) -> None:
        self.erased: list[str] = []
        self.fail_next = 0

    async def export(self, services: Services, aad_id: str) -> Any:
        return {"held_for": aad_id, "when": services.clock.now()}

    async def erase(self, services: Services, aad_id: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise Unavailable("storage went away")
        self.erased.append(aad_id)


def install_recorder(bot: BotUnderTest) -> Recorder:
    recorder = Recorder()
    bot.services.privacy.register("test-source", recorder.export, recorder.erase)
    return recorder


def download_path(card: dict[str, Any] | None) -> str:
    assert card is not None
    url = find_open_url(card)
    return urlsplit(url).path


def find_open_url(card: dict[str, Any]) -> str:
    for action in card.get("actions", []):
        if action.get("type") == "Action.OpenUrl":
            return str(action["url"])
    raise AssertionError("no download link on the card")


async def test_my_data_gives_a_signed_json_link_with_every_source(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    install_recorder(bot)
    now = bot.services.clock.now()
    await audit.record(sqlite_store, TEAM.id, now, ALICE.aad, ALICE.name, "faq add", "What is a CoP?")
    await audit.record(sqlite_store, TEAM.id, now, BOB.aad, BOB.name, "faq add", "Bob's entry")
    posted = await bot.say(ALICE, "my data")
    assert "one hour" in posted.everything
    status, body, headers = await bot.get(download_path(posted.card))
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert headers["Cache-Control"] == "no-store"
    assert "attachment" in headers["Content-Disposition"]
    data = json.loads(body)
    assert data["aad_object_id"] == ALICE.aad
    assert set(data["sources"]) == {source.name for source in bot.services.privacy.sources}
    assert data["sources"]["test-source"]["held_for"] == ALICE.aad
    assert [entry["detail"] for entry in data["sources"]["audit"]] == ["What is a CoP?"]
    assert "Bob" not in body.decode()


async def test_my_data_link_expires_after_an_hour_and_cannot_be_altered(bot: BotUnderTest) -> None:
    path = download_path((await bot.say(ALICE, "my data")).card)
    token = path.rsplit("/", 1)[1]
    body, mac = token.split(".")
    assert (await bot.get(f"/files/{body[:-2]}xx.{mac}"))[0] == 404
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(minutes=59))
    assert (await bot.get(path))[0] == 200
    clock.advance(timedelta(minutes=2))
    status, body_bytes, _ = await bot.get(path)
    assert status == 403
    assert b"expired" in body_bytes


async def test_my_data_and_forget_me_only_work_in_personal_chat(bot: BotUnderTest) -> None:
    for command in ("my data", "forget me"):
        posted = await bot.say_in(ALICE, TEAM, command)
        assert "personal chat" in posted.everything
        assert posted.calls[0].card is None  # no link or confirmation posted in a channel


async def test_no_identity_means_nothing_to_export_or_erase(bot: BotUnderTest) -> None:
    nobody = User(id="29:guest", aad="", name="Guest")
    for command in ("my data", "forget me"):
        assert NO_IDENTITY in (await bot.say(nobody, command)).everything


async def test_forget_me_erases_everywhere_after_confirmation(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    recorder = install_recorder(bot)
    now = bot.services.clock.now()
    await make_cop(sqlite_store, TEAM, bot.connector.url, now, leads=(BOB,))
    await join(sqlite_store, TEAM, ALICE, now)
    await audit.record(sqlite_store, TEAM.id, now, ALICE.aad, ALICE.name, "faq add", "by Alice")
    await audit.record(sqlite_store, TEAM.id, now, BOB.aad, BOB.name, "leads add", f"added {ALICE.name} ({ALICE.aad})")
    confirm = await bot.say(ALICE, "forget me")
    assert "cannot be undone" in confirm.everything
    assert recorder.erased == []
    done = await bot.press(ALICE, confirm.card, "Erase my data")
    assert done.status == 200
    assert "Your data has been erased" in str(done.body)
    assert recorder.erased == [ALICE.aad]
    entries = await audit.recent(sqlite_store, TEAM.id)
    assert {(e.actor_name, e.actor_aad_id) for e in entries} == {("former member", ""), (BOB.name, BOB.aad)}
    assert "added former member (former member)" in {e.detail for e in entries}
    assert sorted(e.action for e in entries) == ["faq add", "leads add"]  # the record itself stays


async def test_keep_my_data_erases_nothing(bot: BotUnderTest) -> None:
    recorder = install_recorder(bot)
    confirm = await bot.say(ALICE, "forget me")
    kept = await bot.press(ALICE, confirm.card, "Keep my data")
    assert "Nothing was erased" in str(kept.body)
    assert recorder.erased == []


async def test_a_stale_confirmation_erases_nothing(bot: BotUnderTest) -> None:
    recorder = install_recorder(bot)
    confirm = await bot.say(ALICE, "forget me")
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    clock.advance(timedelta(minutes=16))
    stale = await bot.press(ALICE, confirm.card, "Erase my data")
    assert "Confirmation expired" in str(stale.body)
    assert recorder.erased == []


async def test_someone_elses_confirmation_erases_nothing(bot: BotUnderTest) -> None:
    recorder = install_recorder(bot)
    confirm = await bot.say(ALICE, "forget me")
    data = find_action(confirm.card or {}, "Erase my data")["data"]
    pressed = await bot.click(BOB, "privacy.forget", data)  # a genuine, sealed button of Alice's card
    assert pressed.body["value"] == NOT_YOURS
    assert recorder.erased == []


async def test_forget_me_that_cannot_finish_says_so_and_can_be_finished(bot: BotUnderTest) -> None:
    recorder = install_recorder(bot)
    recorder.fail_next = 1
    confirm = await bot.say(ALICE, "forget me")
    first = await bot.press(ALICE, confirm.card, "Erase my data")
    assert "could not be erased just now" in str(first.body)
    assert recorder.erased == []
    again = await bot.say(ALICE, "forget me")
    second = await bot.press(ALICE, again.card, "Erase my data")
    assert "Your data has been erased" in str(second.body)
    assert recorder.erased == [ALICE.aad]


async def test_my_data_link_when_storage_is_down_is_503(bot: BotUnderTest) -> None:
    recorder = install_recorder(bot)
    path = download_path((await bot.say(ALICE, "my data")).card)

    async def broken(services: Services, aad_id: str) -> Any:
        raise Unavailable("down")

    bot.services.privacy.register("broken", broken, recorder.erase)
    status, body, _ = await bot.get(path)
    assert status == 503
    assert b"storage" in body
