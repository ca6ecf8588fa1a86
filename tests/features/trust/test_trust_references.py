"""Stored conversation references never name the person whose activity made them: not the rows written now
(whatever a caller passes), not rows written before references were cut down (cut on every read, so nothing is
sent on with them, and rewritten on erasure), whichever table holds them: CoPs, events, queries, the outbox."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.turn import Person, reference_without_person
from bot.domain import cops as cops_table
from bot.domain import events as events_table
from bot.domain import queries as queries_table
from bot.domain.cops import CopRepo
from bot.domain.events import Draft, EventRepo
from bot.domain.queries import QueryRepo
from bot.features.digest import post_digest
from bot.jobs.outbox import PARTITION as OUTBOX_PARTITION
from bot.jobs.outbox import TABLE as OUTBOX_TABLE
from storage.base import TableStore, encode_key
from storage.sqlite import SqliteStore
from tests.features.delivery.kit import add_member, make_cop
from tests.kit.activities import BOT_ID, BOT_NAME, TENANT, User, team, user
from tests.kit.harness import BotUnderTest

ANA = user(501, "Ana Antunes")
# distinctive, so that finding it anywhere means the installer's activity leaked into a stored reference
INSTALLER = User(id="29:installer-4d9e1b", aad="aad-installer-4d9e1b", name="Ingrid Installwright")
TRACES = (INSTALLER.id, INSTALLER.aad, INSTALLER.name)
TEAM_A = team(51, "Research Software")
TEAM_B = team(52, "Assessment Design")
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def full_reference(service_url: str, conversation_id: str, person: User = INSTALLER) -> dict[str, Any]:
    """What TurnContext.get_conversation_reference() serialises for an activity ``person`` sent: the person
    (``user``) and the activity id included."""
    return {
        "activityId": "1:00000042",
        "user": {"id": person.id, "name": person.name, "aadObjectId": person.aad, "role": "user"},
        "bot": {"id": BOT_ID, "name": BOT_NAME, "role": "bot"},
        "conversation": {
            "id": conversation_id,
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
            "aadObjectId": person.aad,  # some channels put the sender here too
        },
        "channelId": "msteams",
        "locale": "en-GB",
        "serviceUrl": service_url,
    }


def traces(value: Any) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return [t for t in TRACES if t in text]


# -- reference_without_person ---------------------------------------------------------------------------------
def test_reference_without_person_keeps_where_and_as_whom_only() -> None:
    reference = full_reference("https://smba.example/emea/", "19:c@thread.tacv2;messageid=1:7")
    reference["conversation"]["tenantID"] = reference["conversation"].pop("tenantId")  # an older SDK's spelling
    reference["somethingNew"] = {"id": INSTALLER.id}
    assert reference_without_person(reference) == {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {
            "id": "19:c@thread.tacv2;messageid=1:7",
            "conversationType": "channel",
            "isGroup": True,
            "tenantId": TENANT,
        },
        "channelId": "msteams",
        "serviceUrl": "https://smba.example/emea/",
        "locale": "en-GB",
    }
    assert reference_without_person({}) == {}
    assert reference_without_person({"user": {"id": INSTALLER.id}, "activityId": "1"}) == {}
    once = reference_without_person(reference)
    assert reference_without_person(once) == once  # cutting a cut reference changes nothing


# -- stored rows -------------------------------------------------------------------------------------------------
async def _raw(store: TableStore, table: str, pk: str, rk: str) -> dict[str, Any]:
    return dict((await store.get(table, pk, rk)).data)


async def _rewrite(store: TableStore, table: str, pk: str, rk: str, **changes: Any) -> None:
    """Make a row look like one written before references were cut down."""
    row = await store.get(table, pk, rk)
    await store.update(table, pk, rk, {**row.data, **changes}, etag=row.etag)


async def test_installing_stores_a_home_reference_without_the_installer(bot: BotUnderTest) -> None:
    await bot.post(bot.acts.installed_in_team(INSTALLER, TEAM_A))
    data = await _raw(bot.services.store, cops_table.TABLE, cops_table.PARTITION, encode_key(TEAM_A.id))
    home = json.loads(str(data["home_reference"]))
    assert home["conversation"]["id"] == TEAM_A.general
    assert home["serviceUrl"] == bot.connector.url
    assert "user" not in home
    assert "activityId" not in home
    assert traces(home) == []


async def test_repositories_write_references_without_a_person(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    url = "https://smba.example/emea/"
    full = full_reference(url, TEAM_A.general)
    now = NOW
    cop = await make_cop(store, TEAM_A, url)
    created = await CopRepo(store).create(
        replace(cop, cop_id=TEAM_B.id, home_reference=full, lead_channel_reference=full)
    )
    assert traces(created.home_reference) == traces(created.lead_channel_reference) == []
    await CopRepo(store).save(replace(cop, home_reference=full, lead_channel_reference=full), now)
    data = await _raw(store, cops_table.TABLE, cops_table.PARTITION, encode_key(TEAM_B.id))
    assert traces(data["home_reference"]) == traces(data["lead_channel_reference"]) == []
    data = await _raw(store, cops_table.TABLE, cops_table.PARTITION, encode_key(TEAM_A.id))
    assert traces(data["home_reference"]) == traces(data["lead_channel_reference"]) == []

    start = now + timedelta(days=3)
    draft = Draft("Code review clinic", "workshop", start, start + timedelta(hours=1), "Europe/London")
    event = await EventRepo(store).create(TEAM_A.id, draft, ANA.aad, ANA.name, now, full)
    assert traces(event.announce_reference) == []
    rows = await store.query(events_table.TABLE, encode_key(TEAM_A.id))
    assert rows
    assert all(traces(row.get("announce_reference", "")) == [] for row in rows)

    asker = Person(ANA.id, ANA.aad, ANA.name)
    query = await QueryRepo(store).open(TEAM_A.id, asker, "Who runs the clinic?", now, place_kind="channel",
                                        reference=full, thread_root_id="1:7", origin="channel")  # fmt: skip
    assert traces(query.reference) == []
    assert traces((await _raw(store, queries_table.TABLE, encode_key(TEAM_A.id), query.query_id))["reference"]) == []


async def test_repositories_read_old_references_without_the_person(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    url = "https://smba.example/emea/"
    old = json.dumps(full_reference(url, TEAM_A.general))
    await make_cop(store, TEAM_A, url)
    now = NOW
    await _rewrite(store, cops_table.TABLE, cops_table.PARTITION, encode_key(TEAM_A.id),
                   home_reference=old, lead_channel_reference=old)  # fmt: skip
    loaded = await CopRepo(store).get(TEAM_A.id)
    assert loaded is not None
    assert loaded.home_reference == reference_without_person(json.loads(old))
    assert traces(loaded.home_reference) == traces(loaded.lead_channel_reference) == []
    assert traces([c.home_reference for c in await CopRepo(store).all()]) == []

    start = now + timedelta(days=3)
    draft = Draft("Code review clinic", "workshop", start, start + timedelta(hours=1), "Europe/London")
    event = await EventRepo(store).create(TEAM_A.id, draft, ANA.aad, ANA.name, now, json.loads(old))
    await _rewrite(store, events_table.TABLE, encode_key(TEAM_A.id), event.key, announce_reference=old)
    again = await EventRepo(store).get(TEAM_A.id, event.event_id)
    assert again is not None
    assert again.announce_reference["conversation"]["id"] == TEAM_A.general
    assert traces(again.announce_reference) == []

    asker = Person(ANA.id, ANA.aad, ANA.name)
    query = await QueryRepo(store).open(TEAM_A.id, asker, "Who runs the clinic?", now, place_kind="channel",
                                        reference={}, thread_root_id="1:7", origin="channel")  # fmt: skip
    await _rewrite(store, queries_table.TABLE, encode_key(TEAM_A.id), query.query_id, reference=old)
    read = await QueryRepo(store).get(TEAM_A.id, query.query_id)
    assert read is not None
    assert traces(read.reference) == traces(read.answer_reference()) == []
    assert read.answer_reference()["conversation"]["id"] == f"{TEAM_A.general};messageid=1:7"


async def test_old_references_are_rewritten_cut_for_erasure(sqlite_store: SqliteStore) -> None:
    """Reading cuts an old reference, but the row still names the person until it is rewritten: erasure does."""
    store = sqlite_store
    url = "https://smba.example/emea/"
    old = json.dumps(full_reference(url, TEAM_A.general))
    await make_cop(store, TEAM_A, url)
    await make_cop(store, TEAM_B, url)  # already cut: left alone
    key = encode_key(TEAM_A.id)
    await _rewrite(store, cops_table.TABLE, cops_table.PARTITION, key, home_reference=old, lead_channel_reference=old)
    before = await _raw(store, cops_table.TABLE, cops_table.PARTITION, key)
    start = NOW + timedelta(days=3)
    draft = Draft("Code review clinic", "workshop", start, start + timedelta(hours=1), "Europe/London")
    event = await EventRepo(store).create(TEAM_A.id, draft, ANA.aad, ANA.name, NOW)
    await _rewrite(store, events_table.TABLE, key, event.key, announce_reference=old)

    assert await CopRepo(store).cut_old_references() == 1
    assert await EventRepo(store).cut_old_references() == 1
    after = await _raw(store, cops_table.TABLE, cops_table.PARTITION, key)
    assert traces(after) == []
    assert json.loads(after["home_reference"]) == reference_without_person(json.loads(old))
    assert {k: v for k, v in after.items() if k not in cops_table.REFERENCES} == {
        k: v for k, v in before.items() if k not in cops_table.REFERENCES
    }  # nothing else changed, not even updated_at
    assert traces(await _raw(store, events_table.TABLE, key, event.key)) == []
    assert await CopRepo(store).cut_old_references() == 0  # idempotent
    assert await EventRepo(store).cut_old_references() == 0


async def test_the_outbox_stores_and_sends_references_without_a_person(bot: BotUnderTest) -> None:
    store = bot.services.store
    outbox = bot.services.outbox
    now = bot.services.clock.now()
    full = full_reference(bot.connector.url, TEAM_A.general)
    ana = Person(ANA.id, ANA.aad, ANA.name)

    assert await outbox.enqueue("to-channel", full, "Hello, channel", now, cop_id=TEAM_A.id)
    assert await outbox.enqueue("to-ana", full, "Hello, Ana", now, personal_for=ana, fallback_reference=full,
                                fallback_message="Hello here, Ana")  # fmt: skip
    for key in ("to-channel", "to-ana"):
        data = await _raw(store, OUTBOX_TABLE, OUTBOX_PARTITION, encode_key(key))
        assert traces(data["reference"]) == [], key
        assert traces(data.get("fallback", "")) == [], key
    # the person a private message is for is its own field, and stays
    assert ANA.aad in str((await _raw(store, OUTBOX_TABLE, OUTBOX_PARTITION, encode_key("to-ana")))["personal_for"])

    # an item queued before references were cut down: what is sent on does not carry the installer either
    assert await outbox.enqueue("old-item", full, "Hello again, channel", now, cop_id=TEAM_A.id)
    await _rewrite(store, OUTBOX_TABLE, OUTBOX_PARTITION, encode_key("old-item"), reference=json.dumps(full))
    bot.connector.clear()
    await outbox.flush(now)
    sent = {c.text: c for c in bot.connector.sent()}
    assert set(sent) == {"Hello, channel", "Hello, Ana", "Hello again, channel"}
    for call in sent.values():
        assert traces(call.body) == [], call.body
    assert sent["Hello again, channel"].conversation_id == TEAM_A.general


async def test_an_old_home_reference_reaches_the_outbox_and_teams_without_the_installer(bot: BotUnderTest) -> None:
    store = bot.services.store
    now = bot.services.clock.now()
    await make_cop(store, TEAM_A, bot.connector.url, created_at=now - timedelta(days=30))
    await add_member(store, TEAM_A.id, ANA, now - timedelta(days=1))  # news for the digest
    old = json.dumps(full_reference(bot.connector.url, TEAM_A.general))
    await _rewrite(store, cops_table.TABLE, cops_table.PARTITION, encode_key(TEAM_A.id), home_reference=old)
    cop = await CopRepo(store).get(TEAM_A.id)
    assert cop is not None
    assert await post_digest(bot.services, cop, "digest-old-home", now)
    queued = await _raw(store, OUTBOX_TABLE, OUTBOX_PARTITION, encode_key("digest-old-home"))
    assert traces(queued["reference"]) == []
    await bot.services.outbox.flush(now)
    [posted] = bot.connector.sent(TEAM_A.general)
    assert "This week in" in posted.card_text
    assert traces(posted.body) == []
