"""Logs hold no person: a busy day (install, welcomes, joins, an event with RSVPs, questions, a digest, an outbox
run with throttling, gone recipients and retries, ``my data`` and ``forget me``) is logged at DEBUG, and no record
of a ``bot`` logger may carry anyone's Teams id, Entra object id or display name, in its message, its arguments
or its exception text (docs/security.md: logs carry activity, CoP and tenant ids)."""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import timedelta

import pytest

from bot.core import logsafe
from bot.core.clock import FakeClock
from tests.features.events.kit import FORM
from tests.features.membership.kit import install, join
from tests.kit.activities import User, team
from tests.kit.connector import Call
from tests.kit.harness import BotUnderTest

# distinctive values, so that a match anywhere is a person and not a coincidence
LEAD = User(id="29:leopold-0c8e3a", aad="aad-leopold-0c8e3a", name="Leopold Marchbanks")
AMY = User(id="29:amaryllis-4c1f7d", aad="aad-amaryllis-4c1f7d", name="Amaryllis Fenwick")  # throttled (429)
BEN = User(id="29:benedikt-9d2750", aad="aad-benedikt-9d2750", name="Benedikt Oyelaran")  # gone (404)
CAL = User(id="29:calpurnia-51ab03", aad="aad-calpurnia-51ab03", name="Calpurnia Vasquez")  # gone (403)
DIA = User(id="29:diarmuid-e3f0c2", aad="aad-diarmuid-e3f0c2", name="Diarmuid Achterberg")  # retried (500)
PEOPLE = (LEAD, AMY, BEN, CAL, DIA)
TEAM = team(12, "Research Data Practice")


def _needles() -> list[str]:
    out: list[str] = []
    for person in PEOPLE:
        out += [person.id, person.aad, person.name, *person.name.split()]
        out.append(person.id.removeprefix("29:"))  # the id without its prefix (a conversation id may embed it)
    return out


def _record_text(record: logging.LogRecord) -> str:
    parts = [str(record.msg), record.getMessage()]
    args = record.args if isinstance(record.args, tuple) else (record.args,) if record.args else ()
    parts += [repr(arg) for arg in args]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.exc_text:
        parts.append(record.exc_text)
    return "\n".join(parts)


class Failures:
    """The fake connector's answers: AMY's 1:1 chat is throttled twice, BEN's and CAL's are gone, DIA's fails
    once, and the channel is throttled once."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def __call__(self, call: Call) -> tuple[int, dict[str, str]] | None:
        body = json.dumps(call.body or {})
        if call.method == "POST" and call.path.rstrip("/") == "/v3/conversations":
            for person, answers in (
                (AMY, [(429, {"Retry-After": "1"}), (429, {"Retry-After": "2"})]),
                (BEN, [(404, {})]),
                (CAL, [(403, {})]),
                (DIA, [(500, {})]),
            ):
                if person.id in body:
                    self.seen[person.id] += 1
                    if person in (BEN, CAL):
                        return answers[0]
                    n = self.seen[person.id]
                    return answers[n - 1] if n <= len(answers) else None
        if call.method == "POST" and call.conversation_id.startswith(TEAM.general) and not self.seen["channel"]:
            self.seen["channel"] += 1
            return 429, {"Retry-After": "1"}
        return None


async def _flush_until_quiet(bot: BotUnderTest, clock: FakeClock, rounds: int = 8) -> None:
    for _ in range(rounds):
        await bot.services.outbox.flush(clock.now())
        clock.advance(timedelta(minutes=20))


async def test_a_busy_day_logs_no_person(bot: BotUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="bot")
    clock = bot.services.clock
    assert isinstance(clock, FakeClock)
    failures = Failures()
    bot.connector.policy = failures

    # install (the installer leads), welcomes for the roster, joins
    await install(bot, LEAD, TEAM, AMY, BEN, CAL, DIA)
    await bot.post(bot.acts.members_added(LEAD, TEAM, AMY, BEN, CAL, DIA))
    for person, tier in ((AMY, "core"), (BEN, "wider"), (DIA, "wider")):
        joined = await join(bot, person, TEAM, tier)
        assert joined.status == 200, joined.body
    await bot.say(CAL, "join")
    await bot.say(AMY, "me")

    # an event, announced, with RSVPs
    form = await bot.say_in(LEAD, TEAM, "event new")
    created = await bot.press(LEAD, form.card, "Create and announce", FORM, where=TEAM)
    assert "Event created" in str(created.card), created.body
    await _flush_until_quiet(bot, clock, rounds=3)
    announcements = [c.card for c in bot.connector.sent(TEAM.general) if c.card and "Going" in str(c.card)]
    assert announcements, "the announcement was not posted"
    for person, choice in ((AMY, "Going"), (BEN, "Maybe"), (DIA, "Can't go")):
        rsvp = await bot.press(person, announcements[-1], choice, where=TEAM)
        assert rsvp.status == 200, rsvp.body

    # questions nobody could answer: the lead is notified privately; a digest preview and a posted digest
    await bot.say_in(AMY, TEAM, "ask Where do I find the data management plan template for Horizon bids?")
    await bot.say(DIA, "ask Which repository should hold my thesis datasets after I submit?")
    await bot.say_in(BEN, TEAM, "Has anyone archived survey data with the library yet?", mention_bot=False)
    await bot.say_in(LEAD, TEAM, "unanswered")
    await bot.say_in(LEAD, TEAM, "digest")
    await bot.say_in(LEAD, TEAM, "digest now")

    # the outbox run: throttling, gone recipients (the welcome falls back to the channel), retries
    await _flush_until_quiet(bot, clock)
    await bot.say(AMY, "my data")
    confirm = await bot.say(DIA, "forget me")
    await bot.press(DIA, confirm.card, "Erase my data")
    await _flush_until_quiet(bot, clock, rounds=2)
    bot.connector.policy = None

    records = [r for r in caplog.records if r.name == "bot" or r.name.startswith("bot.")]
    said = "\n".join(r.getMessage() for r in records)
    # the scenario was busy: every outbox path this test is about was logged
    for line in ("outbox throttled", "outbox target gone", "outbox retry", "turn kind=", "query opened"):
        assert line in said, f"no {line!r} line was logged:\n{said}"
    assert failures.seen[AMY.id] >= 3
    assert failures.seen[BEN.id] >= 1
    assert failures.seen[CAL.id] >= 1
    assert failures.seen[DIA.id] >= 2

    leaks = [
        f"{record.name} {record.levelname}: {record.getMessage()!r} holds {needle!r}"
        for record in records
        for needle in _needles()
        if needle.lower() in _record_text(record).lower()
    ]
    assert not leaks, "log records carry people:\n" + "\n".join(leaks)


def test_logged_keys_and_conversations_keep_their_kind_and_a_stable_hash() -> None:
    key = f"welcome|{TEAM.id}|{AMY.aad}"
    assert logsafe.key(key) == logsafe.key(key) == f"welcome#{logsafe.short_hash(key)}"
    assert AMY.aad not in logsafe.key(f"event:e1:announce:{AMY.aad}")
    assert logsafe.key(f"event:e1:announce:{AMY.aad}").startswith("event#")
    assert logsafe.key(f"{AMY.aad}|x").startswith("item#")
    assert logsafe.conversation(TEAM.general) == TEAM.general
    assert logsafe.conversation(f"{TEAM.general};messageid=1700000000000") == f"{TEAM.general};messageid=1700000000000"
    assert logsafe.conversation(f"personal:{AMY.aad}").startswith("personal#")
    for private in (f"a:personal-{AMY.id}", f"19:{AMY.aad}_{LEAD.aad}@unq.gbl.spaces", "a:1Xy-opaque"):
        assert logsafe.conversation(private).startswith("chat#")
