"""The generic erasure sweep: a scripted journey touches every feature that exists (commands, then every button
of every card the person was shown), a recording proxy lists the tables it wrote, and after ``forget me`` no row
of any of them may still hold the person's AAD id, Teams user id or name.

Nothing here names a feature's table: a feature added later is covered by the journey's commands and the button
crawl, and fails this test if it stores personal data without registering an eraser (bot/security/privacy.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from bot.core.turn import Person
from bot.domain.cops import CopRepo, PersonRef
from bot.domain.events import Draft, EventRepo
from bot.health.digest import as_text, member_marker
from bot.health.digest import decode as digest_of
from bot.health.history import contributor_marker
from bot.health.marking import TABLE as SNAPSHOTS
from bot.health.marking import raw_store
from bot.security import audit
from storage.sqlite import SqliteStore
from tests.features.trust.kit import make_cop
from tests.kit.activities import User, team
from tests.kit.connector import FakeConnector
from tests.kit.harness import BotUnderTest, Posted, running_bot
from tests.kit.recording import RecordingStore

# distinctive values, so that a match anywhere is the person and not a coincidence
ZELDA = User(id="29:zelda-7f3a9c", aad="aad-zelda-7f3a9c", name="Zelda Quibbleworth")
BOB = User(id="29:bob-91c2d0", aad="aad-bob-91c2d0", name="Bob Lindqvist")
CARL = User(id="29:carl-5e8b11", aad="aad-carl-5e8b11", name="Carl Okonkwo")
TEAM = team(7, "Learning Technologies")
NEEDLES = (ZELDA.aad, ZELDA.id, ZELDA.name, "Quibbleworth")
# Bob installed the bot in the team (so he is its first lead): the install's conversationUpdate is his activity
INSTALLER_NEEDLES = (BOB.aad, BOB.id, BOB.name, "Lindqvist")

# Tables whose rows are anonymous by design and may coincidentally hold text a person typed (none yet; a survey
# answers table would go here, with a note on why it cannot identify anyone).
ANONYMOUS_TABLES: frozenset[str] = frozenset()
# Buttons the crawl must not press: erasure is the step under test, and pressing it early would hide data.
SKIP_VERBS = ("privacy.",)
FILLER = {
    "Input.Text": "Zelda Quibbleworth",  # short enough for every field (tags, names, answers)
    "Input.Number": 3,
    "Input.Date": "2026-12-01",
    "Input.Time": "12:30",
    "Input.Toggle": "true",
}

COMMANDS = (
    "help",
    "join",
    "me",
    "cops",
    "cops lecture capture",
    "events",
    "faq",
    "ask How do I become a core member of a community of practice?",
    "How often do core members meet?",
    "my data",
)


@pytest.fixture
async def journey_bot(sqlite_store: SqliteStore, connector: FakeConnector) -> AsyncIterator[BotUnderTest]:
    async with running_bot(RecordingStore(sqlite_store), connector=connector) as bot:  # type: ignore[arg-type]
        yield bot


def _inputs_and_buttons(card: dict[str, Any], filler: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    inputs: dict[str, Any] = {}
    buttons: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            kind = node.get("type")
            if isinstance(kind, str) and kind.startswith("Input.") and "id" in node:
                if kind == "Input.ChoiceSet":
                    choices = node.get("choices") or []
                    inputs[node["id"]] = choices[0]["value"] if choices else ""
                else:
                    inputs[node["id"]] = filler.get(kind, "x")
            if kind in ("Action.Execute", "Action.Submit") and isinstance(node.get("data"), dict):
                buttons.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return inputs, buttons


def _cards_of(posted: Posted) -> list[dict[str, Any]]:
    cards = [call.card for call in posted.calls if call.card is not None]
    if isinstance(posted.body, dict) and isinstance(posted.body.get("value"), dict):
        cards.append(posted.body["value"])
    return cards


Shown = tuple[dict[str, Any], Any]  # a card and the place (None = personal chat, else the team) it was shown in


async def _crawl(
    bot: BotUnderTest, person: User, cards: list[Shown], budget: int, filler: dict[str, Any] | None = None
) -> int:
    """Press every button of every card where it was shown (and of the cards those presses return), each
    verb+id+place once."""
    pressed: set[str] = set()
    queue = list(cards)
    presses = 0
    while queue and presses < budget:
        card, where = queue.pop(0)
        inputs, buttons = _inputs_and_buttons(card, filler or FILLER)
        for button in buttons:
            data = button["data"]
            verb = str(data.get("verb", ""))
            key = f"{verb}|{data.get('id', '')}|{data.get('cop_id', '')}|{where is not None}"
            if not verb or verb.startswith(SKIP_VERBS) or key in pressed or presses >= budget:
                continue
            pressed.add(key)
            presses += 1
            merged = {**data, **inputs}
            if button["type"] == "Action.Execute":
                activity = bot.acts.execute(person, verb, where=where)
                activity["value"]["action"]["data"] = merged
                posted = await bot.post(activity)
            else:
                posted = await bot.post(bot.acts.submit(person, merged, where=where))
            assert posted.status < 500, (verb, posted.body)
            queue.extend((shown, where) for shown in _cards_of(posted))
    return presses


async def _journey(bot: BotUnderTest) -> None:
    acts = bot.acts
    store = bot.services.store  # the recording proxy: what is written here is swept
    now = bot.services.clock.now()
    await bot.post(acts.installed_in_team(BOB, TEAM))
    if await CopRepo(store).get(TEAM.id) is None:  # before the membership feature registers CoPs
        await make_cop(store, TEAM, bot.connector.url, now, leads=(BOB,))
    start = now + timedelta(days=7)
    draft = Draft("Lecture capture clinic", "workshop", start, start + timedelta(hours=1), "Europe/London",
                  place="Room 2", capacity=1)  # fmt: skip
    await EventRepo(store).create(TEAM.id, draft, BOB.aad, BOB.name, now)
    await bot.post(acts.members_added(BOB, TEAM, ZELDA, CARL))
    await bot.post(acts.personal_install(ZELDA))
    await bot.say_in(BOB, TEAM, f"leads add @{ZELDA.name}", mentions=(ZELDA,))
    cards: list[Shown] = []
    for text in ("join", "events", "ask Where are the lunch and learn recordings?"):
        cards += [(card, TEAM) for card in _cards_of(await bot.say_in(ZELDA, TEAM, text))]
    for text in COMMANDS:
        cards += [(card, None) for card in _cards_of(await bot.say(ZELDA, text))]
    asked = await bot.say_in(ZELDA, TEAM, "Does anyone know who runs the Moodle clinic?", mention_bot=False)
    thread = acts.channel(CARL, TEAM, f"Ask {ZELDA.name}'s team, they run it", mention_bot=False)
    thread["conversation"]["id"] = f"{TEAM.general};messageid={asked.calls[0].activity_id if asked.calls else '1'}"
    await bot.post(thread)
    await _crawl(bot, ZELDA, cards, budget=60)
    lead_cards: list[Shown] = []
    for text in ("members", "unanswered", "faq", "health", "digest", "audit"):
        lead_cards += [(card, TEAM) for card in _cards_of(await bot.say_in(BOB, TEAM, text))]
    # what a lead types is theirs, not the person's: neutral text, so a match below is the person's own data
    await _crawl(bot, BOB, lead_cards, budget=30, filler={**FILLER, "Input.Text": "Lecture capture guidance"})
    await audit.record(store, TEAM.id, now, BOB.aad, BOB.name, "leads add", f"added {ZELDA.name} ({ZELDA.aad})")
    await audit.record(store, TEAM.id, now, ZELDA.aad, ZELDA.name, "faq add", "Where is the handbook?")
    # Zelda's personal chat is gone when the outbox delivers to her: the item ends "dead", still naming her
    reference = {
        "serviceUrl": bot.connector.url,
        "channelId": "msteams",
        "conversation": {"id": TEAM.general, "tenantId": acts.tenant, "conversationType": "channel"},
        "bot": {"id": acts.bot_id, "name": "CoP Bot"},
    }
    zelda = Person(user_id=ZELDA.id, aad_id=ZELDA.aad, name=ZELDA.name)
    await bot.services.outbox.enqueue("sweep-note", reference, f"Hello {ZELDA.name}", now, personal_for=zelda)
    bot.connector.policy = lambda call: (
        (403, {}) if call.path.rstrip("/") == "/v3/conversations" and ZELDA.id in json.dumps(call.body) else None
    )
    await bot.services.outbox.flush(bot.services.clock.now())
    bot.connector.policy = None


def _hits(value: Any, needles: tuple[str, ...] = NEEDLES) -> list[str]:
    text = value if isinstance(value, str) else repr(value)
    return [needle for needle in needles if needle.lower() in text.lower()]


async def _forget(bot: BotUnderTest, person: User) -> None:
    confirm = await bot.say(person, "forget me")
    done = await bot.press(person, confirm.card, "Erase my data")
    assert "Your data has been erased" in str(done.body), done.body
    await bot.services.outbox.flush(bot.services.clock.now())


async def _left_behind(store: RecordingStore, needles: tuple[str, ...]) -> list[str]:
    left: list[str] = []
    for (table, pk, rk), data in (await store.snapshot(store.touched | store.written)).items():
        if table in ANONYMOUS_TABLES:
            continue
        decoded = digest_of(data) if table == SNAPSHOTS else None  # compressed: read what it holds
        shown = (("digest", as_text(decoded)),) if decoded is not None else ()
        for where, value in (("PartitionKey", pk), ("RowKey", rk), *data.items(), *shown):
            for needle in _hits(value, needles):
                left.append(f"{table} [{pk} / {rk}] {where} holds {needle!r}")
    return left


async def test_after_forget_me_no_table_holds_the_person(journey_bot: BotUnderTest) -> None:
    bot = journey_bot
    store = raw_store(bot.services.store)
    assert isinstance(store, RecordingStore)
    await _journey(bot)
    before = await store.snapshot(store.written)
    holding = {key[0] for key, data in before.items() if _hits(key) or any(_hits(v) for v in data.values())}
    # the journey did store data about the person (the sweep is not vacuous): profile and memberships, a
    # question, lead notifications naming them, audit entries
    assert {"audit", "events", "outbox", "people", "queries", "roster"} <= holding, sorted(holding)

    # the health snapshots hold people as pseudonyms (counts of distinct members and contributors): those go too
    key = bot.services.settings.signing_key
    pseudonyms = (member_marker(key, ZELDA.aad), contributor_marker(key, ZELDA.aad))
    digests = [digest_of(data) for (table, _, _), data in before.items() if table == SNAPSHOTS]
    assert any(_hits(as_text(d), pseudonyms) for d in digests if d is not None), "no snapshot held her"

    await _forget(bot, ZELDA)
    left = await _left_behind(store, NEEDLES + pseudonyms)
    written = ", ".join(sorted(store.written))
    assert not left, f"personal data left after forget me (tables written: {written}):\n" + "\n".join(left)


async def _as_stored_before_references_were_cut(bot: BotUnderTest, store: RecordingStore) -> int:
    """Rows written before references were cut down (the botbuilder seam stored whole ones): the CoP's home
    channel, its events' announcements and the welcomes queued by the installer's "members added" hold the
    installer as ``user``. Rewrites them so; returns how many."""
    installer = {"id": BOB.id, "name": BOB.name, "aadObjectId": BOB.aad}

    def old(reference: Any) -> str:
        cut = json.loads(reference or "{}") if isinstance(reference, str) else dict(reference)
        return json.dumps({**cut, "activityId": "1:00000001", "user": installer})

    rewritten = 0
    for (table, pk, rk), data in (await store.snapshot({"cops", "events", "outbox"})).items():
        if table == "cops" and data.get("cop_id") == TEAM.id:
            changes = {"home_reference": old(data["home_reference"])}
        elif table == "events" and data.get("kind_") == "event":
            changes = {"announce_reference": old((await CopRepo(store).get(TEAM.id) or _no_cop()).home_reference)}
        elif table == "outbox" and str(data.get("key", "")).startswith("welcome|"):
            changes = {"reference": old(data["reference"])}
        else:
            continue
        row = await store.get(table, pk, rk)
        await store.update(table, pk, rk, {**row.data, **changes}, etag=row.etag)
        rewritten += 1
    return rewritten


def _no_cop() -> Any:
    raise AssertionError("the journey registered no CoP")


@pytest.mark.parametrize("handed_over", [False, True], ids=["still-lead", "handed-over"])
async def test_after_forget_me_no_table_holds_the_installer(journey_bot: BotUnderTest, handed_over: bool) -> None:
    """The installer's activity is where the CoP's home channel reference came from (and the announcements'
    references copied from it), and they are its first lead: after they say ``forget me`` no row may still name
    them, including rows written before references were cut down, and when they no longer lead the CoP."""
    bot = journey_bot
    store = raw_store(bot.services.store)
    assert isinstance(store, RecordingStore)
    await _journey(bot)
    if handed_over:  # the installer handed the CoP over: erasing their roles does not touch its row
        carl = PersonRef(CARL.aad, CARL.id, CARL.name)
        await CopRepo(store).change(TEAM.id, bot.services.clock.now(), lambda cop: replace(cop, leads=(carl,)))
    assert await _as_stored_before_references_were_cut(bot, store) >= 3
    before = await store.snapshot(store.written)
    holding = {key[0] for key, data in before.items() if any(_hits(v, INSTALLER_NEEDLES) for v in data.values())}
    assert {"cops", "events", "outbox"} <= holding, sorted(holding)  # the sweep is not vacuous

    await _forget(bot, BOB)
    left = await _left_behind(store, INSTALLER_NEEDLES)
    written = ", ".join(sorted(store.written))
    assert not left, f"the installer's data left after forget me (tables written: {written}):\n" + "\n".join(left)
