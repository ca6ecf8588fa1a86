"""Escalation with a fake clock: exactly one notification per overdue query, none for answered or young ones,
per-CoP answer targets, the lead channel, and no duplicates when the pass runs again or twice at once."""

from __future__ import annotations

import asyncio
import json

from bot.core.turn import Person
from bot.domain.queries import QueryRepo
from bot.features.queries import run_due
from tests.features.questions.kit import (
    ASKER,
    BOB,
    LEAD,
    STRANGER,
    TEAM,
    TEAM_B,
    advance,
    flush,
    make_cop,
    with_text,
)
from tests.kit.harness import BotUnderTest

ESCALATED = "Still unanswered after"


async def now_run(bot: BotUnderTest) -> int:
    return await run_due(bot.services, bot.services.clock.now())


async def test_one_notification_per_overdue_query_and_none_for_answered_ones(bot: BotUnderTest) -> None:
    await make_cop(bot, lead_channel=True)
    await bot.say(ASKER, "is the printer on floor 3 broken?")  # will be overdue
    await bot.say(BOB, "what time does the canteen shut on friday?")  # will be answered before the target
    await flush(bot)  # the "new question" notes
    advance(bot, hours=20)
    await bot.say(STRANGER, "is the car park open at weekends?")  # young when the others are due
    repo = QueryRepo(bot.services.store)
    canteen = next(q for q in await repo.of_cop(TEAM.id) if "canteen" in q.text)
    await repo.close(canteen, Person(LEAD.id, LEAD.aad, LEAD.name), bot.services.clock.now(), "17:00")
    await flush(bot)

    advance(bot, hours=27)  # printer: 47 h; not due yet
    assert await now_run(bot) == 0
    advance(bot, hours=2)  # printer: 49 h, canteen answered, car park 29 h
    assert await now_run(bot) == 1
    delivered = with_text(await flush(bot), ESCALATED)
    assert len(delivered) == 1
    assert "printer" in delivered[0].card_text
    assert delivered[0].conversation_id == TEAM.channels[0][0]  # the CoP's lead channel
    # later passes never repeat it
    assert await now_run(bot) == 0
    assert with_text(await flush(bot), ESCALATED) == []
    advance(bot, hours=20)  # car park: 49 h
    assert await now_run(bot) == 1
    delivered = with_text(await flush(bot), ESCALATED)
    assert [("car park" in c.card_text) for c in delivered] == [True]
    advance(bot, days=30)
    assert await now_run(bot) == 0
    assert with_text(await flush(bot), ESCALATED) == []
    flags = {q.text: q.escalated for q in await repo.of_cop(TEAM.id)}
    assert flags == {
        "is the printer on floor 3 broken?": True,
        "what time does the canteen shut on friday?": False,
        "is the car park open at weekends?": True,
    }


async def test_each_lead_gets_one_personal_escalation_and_targets_are_per_cop(bot: BotUnderTest) -> None:
    await make_cop(bot, TEAM, answer_target_hours=24)
    await make_cop(bot, TEAM_B, members=(), answer_target_hours=72)
    await bot.say_in(ASKER, TEAM, "is the printer on floor 3 broken?")
    await bot.say_in(ASKER, TEAM_B, "is the printer on floor 3 broken?")
    await flush(bot)
    advance(bot, hours=25)
    assert await now_run(bot) == 1  # only CoP A's 24 h target has passed
    delivered = with_text(await flush(bot), ESCALATED)
    assert len(delivered) == 2  # two leads, one personal message each
    assert all("Still unanswered after 24 h" in c.card_text for c in delivered)
    advance(bot, hours=48)
    assert await now_run(bot) == 1
    assert len(with_text(await flush(bot), "Still unanswered after 72 h")) == 2


async def test_concurrent_passes_notify_once(bot: BotUnderTest) -> None:
    await make_cop(bot, lead_channel=True)
    await bot.say(ASKER, "is the printer on floor 3 broken?")
    await flush(bot)
    advance(bot, hours=49)
    await asyncio.gather(now_run(bot), now_run(bot))
    assert len(with_text(await flush(bot), ESCALATED)) == 1


async def test_the_escalation_card_can_mark_the_query_answered(bot: BotUnderTest) -> None:
    await make_cop(bot)
    await bot.say(ASKER, "is the printer on floor 3 broken?")
    await flush(bot)
    advance(bot, hours=49)
    await now_run(bot)
    [card, _] = with_text(await flush(bot), ESCALATED)
    marked = await bot.press(LEAD, card.card, "Mark answered")
    assert "Marked answered" in json.dumps(marked.body)
    assert await QueryRepo(bot.services.store).of_cop(TEAM.id, open_only=True) == []


async def test_a_cop_without_leads_is_escalated_once_leads_exist(bot: BotUnderTest) -> None:
    await make_cop(bot, leads=())
    await bot.say(ASKER, "is the printer on floor 3 broken?")
    advance(bot, hours=49)
    assert await now_run(bot) == 0
    from dataclasses import replace

    from bot.domain.cops import CopRepo
    from tests.features.questions.kit import ref

    await CopRepo(bot.services.store).change(
        TEAM.id, bot.services.clock.now(), lambda c: replace(c, leads=(ref(LEAD),))
    )
    assert await now_run(bot) == 1
    assert len(with_text(await flush(bot), ESCALATED)) == 1
