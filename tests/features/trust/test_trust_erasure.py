"""``forget me`` erases the person by identity, never by substring over other people's data.

Someone called "Al" shares a CoP with "Alison"; a channel's conversation id and a button's seal happen to contain
"Al". After Al's erasure, Alison's audit entries and messages, that conversation id and that seal are exactly as
they were, and no row of the outbox or the audit log holds Al's ids. Al's name goes only where it is shown to
people as a whole word (a card's text), never into ids, seals, references or URLs.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any

from bot.core.turn import Card, Person
from bot.domain.codec import dumps, loads
from bot.jobs import outbox
from bot.security import audit
from bot.security.erasure import display_text_replaced, name_pattern, replace_whole
from bot.security.sealing import SEAL
from bot.services import Services
from cards.elements import card, execute, facts, open_url, text
from storage.base import Row, encode_key
from storage.sqlite import SqliteStore
from tests.features.trust.kit import make_cop
from tests.kit.activities import User, team, user
from tests.kit.harness import BotUnderTest

AL = User(id="29:al-5d1e0b", aad="aad-al-5d1e0b", name="Al")
ALISON = User(id="29:alison-77b2c4", aad="aad-alison-77b2c4", name="Alison")
LEE = user(41, "Lee Lead")
TEAM = team(9, "Analytics Alliance")
CHANNEL = "19:Al3xAlphaAl@thread.tacv2"  # another conversation whose id holds "Al"
AL_IDS = (AL.aad, AL.id)


def _person(who: User) -> Person:
    return Person(who.id, who.aad, who.name)


def _reference(bot: BotUnderTest, conversation_id: str) -> dict[str, Any]:
    return {
        "serviceUrl": bot.connector.url,
        "channelId": "msteams",
        "conversation": {"id": conversation_id, "tenantId": bot.acts.tenant, "conversationType": "channel"},
        "bot": {"id": bot.acts.bot_id, "name": "CoP Bot"},
    }


def _lead_card(asker: str, query_id: str) -> Card:
    return card(
        [text("I couldn't answer this question from the FAQ."), facts([("Asked by", asker), ("Question", "Where?")])],
        [
            execute("Answer", "queries.answer", {"cop_id": TEAM.id, "id": query_id}),
            open_url(f"{asker}'s profile", f"https://intranet.example/people/{asker}/Al"),
        ],
        summary=f"{asker} asked a question",
    )


def _seal(row: Row) -> str:
    message = loads(row["message"], {})
    return str(message["card"]["actions"][0]["data"][SEAL])


async def _channel_item_sealed_with_al(services: Services, reference: dict[str, Any], now: datetime) -> str:
    """Queue a channel card whose button's seal contains "Al" (the seal is an HMAC: try ids until one does)."""
    for n in itertools.count():
        key = f"digest|{TEAM.id}|alpha-{n}"
        shown = card([text("This week in Analytics Alliance: Alison's clinic")], [execute("Open", "x.open", {"id": n})])
        await services.outbox.enqueue(key, reference, shown, now, cop_id=TEAM.id)
        row = await services.store.get(outbox.TABLE, outbox.PARTITION, _row_key(key))
        if "Al" in _seal(row):
            return key
        await services.store.delete(outbox.TABLE, outbox.PARTITION, row.row_key)
    raise AssertionError("unreachable")


def _row_key(key: str) -> str:
    return encode_key(key)


async def _rows(store: SqliteStore, table: str) -> dict[str, dict[str, Any]]:
    return {f"{row.partition_key}/{row.row_key}": dict(row.data) for row in await store.query(table, None)}


async def test_forget_me_touches_only_the_person(bot: BotUnderTest, sqlite_store: SqliteStore) -> None:
    services = bot.services
    now = services.clock.now()
    await make_cop(sqlite_store, TEAM, bot.connector.url, now, leads=(LEE,))
    home = _reference(bot, TEAM.general)
    channel = _reference(bot, CHANNEL)

    # the audit log: Alison's own entries and one about her, Al's own, and two about Al (one written before
    # subjects were recorded: only the detail names them)
    await audit.record(sqlite_store, TEAM.id, now, ALISON.aad, ALISON.name, "faq add", "Alison's entry on Alpha")
    await audit.record(
        sqlite_store, TEAM.id, now, LEE.aad, LEE.name, "lead added", f"Alison ({ALISON.aad})", subject_aad_id=ALISON.aad
    )
    await audit.record(sqlite_store, TEAM.id, now, AL.aad, AL.name, "faq add", "Al's entry on Alpha")
    await audit.record(sqlite_store, TEAM.id, now, LEE.aad, LEE.name, "lead added", f"Al ({AL.aad})")
    await audit.record(
        sqlite_store, TEAM.id, now, LEE.aad, LEE.name, "lead removed", f"Al ({AL.aad})", subject_aad_id=AL.aad
    )

    # the outbox: messages for Alison and about her, a channel card whose conversation id and seal hold "Al",
    # and messages for and about Al
    q = services.outbox
    sealed_with_al = await _channel_item_sealed_with_al(services, channel, now)
    await q.enqueue(f"survey|s1|{ALISON.aad}", home, "Alison, how is the CoP?", now, personal_for=_person(ALISON))
    await q.enqueue(f"query|new|{TEAM.id}|q-alison|{LEE.aad}", home, _lead_card("Alison", "q-alison"), now,
                    cop_id=TEAM.id, personal_for=_person(LEE))  # fmt: skip
    await q.enqueue(f"query|answer|{TEAM.id}|q-alison", channel, "An answer for Alison", now, mention=_person(ALISON))
    await q.enqueue(f"survey|s1|{AL.aad}", home, "Al, how is the CoP?", now, personal_for=_person(AL))
    await q.enqueue(f"welcome|{TEAM.id}|{AL.aad}|fallback", home, "welcome, Al!", now, mention=_person(AL))
    await q.enqueue(f"query|new|{TEAM.id}|q-al|{LEE.aad}", home, _lead_card("Al", "q-al"), now,
                    cop_id=TEAM.id, personal_for=_person(LEE))  # fmt: skip
    await q.enqueue(f"query|answer|{TEAM.id}|q-al", channel, "The leads answered", now, mention=_person(AL))

    audit_before = await _rows(sqlite_store, audit.TABLE)
    outbox_before = await _rows(sqlite_store, outbox.TABLE)
    seal_before = _seal(await sqlite_store.get(outbox.TABLE, outbox.PARTITION, _row_key(sealed_with_al)))
    assert "Al" in seal_before
    assert "Al" in CHANNEL

    confirm = await bot.say(AL, "forget me")
    done = await bot.press(AL, confirm.card, "Erase my data")
    assert "Your data has been erased" in str(done.body), done.body

    audit_after = await _rows(sqlite_store, audit.TABLE)
    outbox_after = await _rows(sqlite_store, outbox.TABLE)

    # nobody else's row changed by a byte: Alison's, Lee's about Alison, the channel card (id, seal, text)
    def untouched(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> list[str]:
        return [k for k, data in before.items() if AL.aad not in json.dumps(data, default=str) and after.get(k) != data]

    assert untouched(audit_before, audit_after) == []
    outbox_others = {
        k: d for k, d in outbox_before.items() if not str(d.get("key", "")).endswith(("q-al", f"q-al|{LEE.aad}"))
    }
    assert untouched(outbox_others, outbox_after) == []
    sealed_row = await sqlite_store.get(outbox.TABLE, outbox.PARTITION, _row_key(sealed_with_al))
    assert _seal(sealed_row) == seal_before
    assert json.loads(str(sealed_row["reference"]))["conversation"]["id"] == CHANNEL
    assert {e.actor_name for e in await audit.recent(sqlite_store, TEAM.id)} == {
        "Alison",
        LEE.name,
        "former member",
    }

    # Al is gone from every row: as actor and subject of audit entries, and from the outbox
    for table, rows in ((audit.TABLE, audit_after), (outbox.TABLE, outbox_after)):
        for where, data in rows.items():
            held = [i for i in AL_IDS if i in where or i in json.dumps(data, default=str)]
            assert not held, f"{table} {where} still holds {held}"
    details = {str(d["detail"]) for d in audit_after.values()}
    assert {"former member's entry on Alpha", "former member (former member)"} <= details
    assert "Alison's entry on Alpha" in details
    assert f"Alison ({ALISON.aad})" in details

    keys = {str(d["key"]) for d in outbox_after.values()}
    assert f"survey|s1|{AL.aad}" not in keys
    assert f"welcome|{TEAM.id}|{AL.aad}|fallback" not in keys
    answer = next(d for d in outbox_after.values() if d["key"] == f"query|answer|{TEAM.id}|q-al")
    assert "mention" not in answer  # kept for the thread, without the @mention of Al
    lead_card_before = next(d for d in outbox_before.values() if d["key"] == f"query|new|{TEAM.id}|q-al|{LEE.aad}")
    lead_card = next(d for d in outbox_after.values() if d["key"] == f"query|new|{TEAM.id}|q-al|{LEE.aad}")
    shown, was = loads(lead_card["message"], {}), loads(lead_card_before["message"], {})
    # the name is replaced where it is shown, as a whole word; the button's data and seal and the URL are not
    assert shown["summary"] == "former member asked a question"
    assert shown["card"]["body"][1]["facts"][0] == {"title": "Asked by", "value": "former member"}
    assert shown["card"]["actions"][0] == was["card"]["actions"][0]
    assert shown["card"]["actions"][1] == {**was["card"]["actions"][1], "title": "former member's profile"}
    assert shown["card"]["actions"][1]["url"] == "https://intranet.example/people/Al/Al"
    assert dumps(shown["card"]["actions"][0]["data"]) == dumps(was["card"]["actions"][0]["data"])


def test_only_text_shown_to_people_is_renamed() -> None:
    """Choice values, input ids, button data and URLs keep the name; text blocks, facts, titles and labels don't."""
    names = name_pattern({"Al"})
    shown: dict[str, Any] = {
        "type": "AdaptiveCard",
        "fallbackText": "Al asked",
        "body": [
            {"type": "TextBlock", "text": "Al asked; Alison answered (al, AL, Al-Amin, Al_1)"},
            {"type": "FactSet", "facts": [{"title": "Al", "value": "Al"}]},
            {"type": "Input.ChoiceSet", "id": "Al", "label": "Al", "choices": [{"title": "Al", "value": "Al"}]},
            {"type": "Input.Text", "id": "Al", "value": "Al", "placeholder": "Al"},
            {"type": "Input.Toggle", "id": "t", "title": "Al", "value": "Al"},
            {"type": "Image", "url": "https://x.example/Al.png", "altText": "Al"},
        ],
        "actions": [{"type": "Action.Execute", "title": "Al", "verb": "Al", "data": {"id": "Al", "text": "Al"}}],
        "selectAction": {"type": "Action.OpenUrl", "url": "https://x.example/Al", "title": "Al"},
    }
    out = display_text_replaced(shown, lambda value: replace_whole(value, names))
    body: list[dict[str, Any]] = out["body"]  # type: ignore[assignment]
    assert out["fallbackText"] == "former member asked"
    assert body[0]["text"] == "former member asked; Alison answered (al, AL, Al-Amin, Al_1)"
    assert body[1]["facts"] == [{"title": "former member", "value": "former member"}]
    assert body[2] == {
        **shown["body"][2],
        "label": "former member",
        "choices": [{"title": "former member", "value": "Al"}],
    }
    assert body[3] == {**shown["body"][3], "value": "former member", "placeholder": "former member"}
    assert body[4] == {**shown["body"][4], "title": "former member"}
    assert body[5] == {**shown["body"][5], "altText": "former member"}
    assert out["actions"] == [{**shown["actions"][0], "title": "former member"}]
    assert out["selectAction"] == shown["selectAction"]
    unchanged = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "text": "Alison"}]}
    assert display_text_replaced(unchanged, lambda value: replace_whole(value, names)) is unchanged
