"""``propose a cop`` to launch, end to end: a proposal reaches the programme admins privately, who approve it
(naming a sponsor) or decline it (with a reason) and the proposer hears back; who may decide, stale and forged
buttons; an approved CoP's team is linked on its setup card and launches by itself once its checklist is
complete; ``my data`` / ``forget me``; the repository on SQLite and Azurite."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.domain.cops import CopRepo, PersonRef
from bot.domain.practice_areas import PracticeAreaRepo
from bot.domain.proposals import TABLE, Proposal, ProposalRepo
from bot.features import records as records_feature
from storage.base import TableStore
from tests.features.health.kit import ADMIN, NOW, clock
from tests.features.membership.kit import install
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest

SAM = user(7, "Sam Staff")
ALICE, BO, EVE = user(1, "Alice Adams"), user(2, "Bo Brown"), user(5, "Eve Evans")
TECH = team(4, "Technicians")
ANSWERS = {
    "where_from": "Technical staff in faculties and central services.",
    "reports_to": "Many line managers across departments.",
    "in_common": "Lab safety, equipment and the same research customers.",
    "trajectory": "Chartered technician status.",
}


def proposal_inputs(area_id: str, name: str = "Technical support") -> dict[str, str]:
    return {"name": name, "area": area_id, "purpose": "Share lab practice.", "audience": "Technicians.", **ANSWERS}


async def propose(bot: BotUnderTest, area_id: str, name: str = "Technical support") -> str:
    form = await bot.say(SAM, "propose a cop")
    sent = await bot.press(SAM, form.card, "Send proposal", proposal_inputs(area_id, name))
    assert "Proposal sent" in sent.everything
    [found] = [p for p in await ProposalRepo(bot.services.store).all() if p.name == name]
    return found.proposal_id


async def admin_card(bot: BotUnderTest) -> dict[str, Any]:
    bot.connector.clear()
    await bot.services.outbox.flush(bot.services.clock.now())
    [call] = [c for c in bot.connector.sent() if "A proposal for a new CoP" in c.card_text]
    assert bot.connector.recipient(call) in (ADMIN.id, ADMIN.aad)
    assert call.card is not None
    return call.card


async def test_a_proposal_is_approved_and_the_proposer_hears_back(bot: BotUnderTest) -> None:
    estates = await PracticeAreaRepo(bot.services.store).add("Estates")
    form = await bot.say(SAM, "propose a cop")
    text = form.everything
    assert "Professional identity" in text
    assert "Shared resources" in text
    assert "Learning and development" in text
    assert "Where staff come from" in text
    assert "career trajectory" in text
    assert "Estates" in text
    missing = await bot.press(SAM, form.card, "Send proposal", {**proposal_inputs(estates.area_id), "trajectory": ""})
    assert "Staff members' career trajectory is required" in missing.everything
    wrong_area = await bot.press(SAM, form.card, "Send proposal", proposal_inputs("nope"))
    assert "practice area from the list" in wrong_area.everything
    assert await ProposalRepo(bot.services.store).all() == []

    pid = await propose(bot, estates.area_id)
    review = await admin_card(bot)
    assert "Technical support" in json.dumps(review)
    assert "Sam Staff" in json.dumps(review)
    # a lead or the proposer cannot decide; approving needs a sponsor
    assert "only programme admins" in (await bot.press(SAM, review, "Approve", {f"sponsor_{pid}": "Me"})).everything
    no_sponsor = await bot.press(ADMIN, review, "Approve")
    assert "Sponsor is required" in no_sponsor.everything
    approved = await bot.press(ADMIN, review, "Approve", {f"sponsor_{pid}": "Wendy Appleby"})
    assert "Approved by Pat Programme; sponsor: Wendy Appleby" in approved.everything
    again = await bot.press(ADMIN, review, "Decline", {f"reason_{pid}": "Changed my mind"})
    assert "Already decided" in again.everything
    stored = await ProposalRepo(bot.services.store).get(pid)
    assert stored is not None
    assert stored.status == "approved"
    assert stored.sponsor_name == "Wendy Appleby"
    bot.connector.clear()
    await bot.services.outbox.flush(bot.services.clock.now())
    [outcome] = bot.connector.sent()
    assert bot.connector.recipient(outcome) == SAM.id
    assert "approved" in outcome.card_text
    assert "Wendy Appleby" in outcome.card_text
    forged = await bot.click(ADMIN, "proposal.approve", {"id": pid, f"sponsor_{pid}": "X"})
    assert "didn't come from me" in forged.everything


async def test_a_declined_proposal_tells_the_proposer_why(bot: BotUnderTest) -> None:
    area = await PracticeAreaRepo(bot.services.store).add("Planning")
    pid = await propose(bot, area.area_id, "Yet another reporting group")
    review = await admin_card(bot)
    no_reason = await bot.press(ADMIN, review, "Decline")
    assert "Reason is required" in no_reason.everything
    declined = await bot.press(ADMIN, review, "Decline", {f"reason_{pid}": "Data and Insight covers this already."})
    assert "Declined by Pat Programme" in declined.everything
    bot.connector.clear()
    await bot.services.outbox.flush(bot.services.clock.now())
    [outcome] = bot.connector.sent()
    assert bot.connector.recipient(outcome) == SAM.id
    assert "not approved" in outcome.card_text
    assert "Data and Insight covers this already." in outcome.card_text
    listed = await bot.say(ADMIN, "proposals")
    assert "No proposals are waiting" in listed.everything


async def test_an_approved_cop_launches_when_its_checklist_is_complete(bot: BotUnderTest) -> None:
    store = bot.services.store
    area = await PracticeAreaRepo(store).add("Estates")
    pid = await propose(bot, area.area_id)
    review = await admin_card(bot)
    await bot.press(ADMIN, review, "Approve", {f"sponsor_{pid}": "Wendy Appleby"})
    waiting = await bot.say(ADMIN, "programme")
    assert "Preparations underway" in waiting.everything
    assert "Technical support" in waiting.everything

    installed = await install(bot, ALICE, TECH, BO, EVE)
    [setup] = [c.card for c in installed.calls if c.card is not None and "Set up Technicians" in c.card_text]
    assert "Yes: Technical support" in json.dumps(setup)
    saved = await bot.press(ALICE, setup, "Save", {"name": TECH.name, "proposal": pid}, where=TECH)
    assert "Launch checklist: 1 of 5 done" in saved.everything
    cop = await CopRepo(store).get(TECH.id)
    assert cop is not None
    assert (cop.proposal_id, cop.status, cop.practice_area_id) == (pid, "preparing", area.area_id)
    assert cop.objectives == "Share lab practice."  # the proposal's purpose until the leads write their own
    linked = await ProposalRepo(store).get(pid)
    assert linked is not None
    assert linked.cop_id == TECH.id
    # a lead cannot tick "launched" by hand
    early = await bot.press(ALICE, saved.card, "Edit again", where=TECH)
    refused = await bot.press(ALICE, early.card, "Save", {"name": TECH.name, "status": "launched"}, where=TECH)
    assert "launches by itself" in refused.everything

    await bot.say_in(ALICE, TECH, "leads add", mentions=(BO,))
    await bot.say_in(ALICE, TECH, "sponsor set", mentions=(EVE,))
    form = await bot.say_in(ALICE, TECH, "setup")
    tor = {
        "name": TECH.name,
        "terms_of_reference_url": "https://example.ac.uk/tor",
        "objectives": "Share lab practice.",
    }
    saved = await bot.press(ALICE, form.card, "Save", tor, where=TECH)
    assert "Launch checklist: 4 of 5 done" in saved.everything
    assert "first core meeting" in saved.everything
    cop = await CopRepo(store).get(TECH.id)
    assert cop is not None
    assert cop.status == "preparing"
    record = await bot.say_in(BO, TECH, "record event")
    await bot.press(BO, record.card, "Record", {"kind": "core_meeting", "date": "2026-11-20"}, where=TECH)
    cop = await CopRepo(store).get(TECH.id)
    assert cop is not None
    assert cop.status == "launched"
    after = await bot.say(ADMIN, "programme")
    assert "Preparations underway" not in after.everything
    assert "No proposals are waiting" in (await bot.say(ADMIN, "proposals")).everything


async def test_the_daily_pass_launches_a_cop_whose_leads_were_added_since(bot: BotUnderTest) -> None:
    store = bot.services.store
    pid = await propose(bot, "")
    await bot.press(ADMIN, await admin_card(bot), "Approve", {f"sponsor_{pid}": "Wendy Appleby"})
    installed = await install(bot, ALICE, TECH, BO, EVE)
    [setup] = [c.card for c in installed.calls if c.card is not None and "Set up Technicians" in c.card_text]
    inputs = {"name": TECH.name, "proposal": pid, "terms_of_reference_url": "https://x.ac.uk/tor"}
    await bot.press(ALICE, setup, "Save", inputs, where=TECH)
    record = await bot.say_in(ALICE, TECH, "record event")
    await bot.press(ALICE, record.card, "Record", {"kind": "core_meeting", "date": "2026-11-20"}, where=TECH)
    await bot.say_in(ALICE, TECH, "sponsor set", mentions=(EVE,))
    await bot.say_in(ALICE, TECH, "leads add", mentions=(BO,))
    cop = await CopRepo(store).get(TECH.id)
    assert cop is not None
    assert cop.status == "preparing"
    clock(bot).set(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    await records_feature.run_due(bot.services, bot.services.clock.now())
    cop = await CopRepo(store).get(TECH.id)
    assert cop is not None
    assert cop.status == "launched"


async def test_my_data_and_forget_me_cover_proposers(bot: BotUnderTest) -> None:
    pid = await propose(bot, "")
    [source] = [s for s in bot.services.privacy.sources if s.name == "proposals"]
    [exported] = await source.export(bot.services, SAM.aad)
    assert exported["you"] == "proposed it"
    assert exported["purpose"] == "Share lab practice."
    confirm = await bot.say(SAM, "forget me")
    done = await bot.press(SAM, confirm.card, "Erase my data")
    assert "Your data has been erased" in str(done.body)
    rows = json.dumps([r.data for r in await bot.services.store.query(TABLE, None)], default=str)
    assert SAM.aad not in rows
    assert SAM.id not in rows
    assert "Sam Staff" not in rows
    kept = await ProposalRepo(bot.services.store).get(pid)
    assert kept is not None
    assert kept.name == "Technical support"
    assert kept.proposer.name == "former member"


async def test_proposal_repository(store: TableStore) -> None:
    repo = ProposalRepo(store)
    who = PersonRef("aad-7", "29:7", "Sam Staff")
    made = await repo.create(
        Proposal("0123456789ab", "Technical support", "a1", "Purpose", "Who", ANSWERS, who, NOW, {"serviceUrl": "x"})
    )
    assert (await repo.get(made.proposal_id)) == made
    assert await repo.areas_in_use() == {"a1"}
    admin = PersonRef("aad-admin", "", "Pat")
    decided = await repo.decide(made.proposal_id, admin, NOW, approve=False, reason="No")
    assert decided is not None
    assert decided.status == "declined"
    assert decided.reason == "No"
    assert await repo.areas_in_use() == set()
    assert [p.proposal_id for p in await repo.of_person("aad-7")] == [made.proposal_id]
    assert await repo.erase_person("aad-7") == 1
    erased = await repo.get(made.proposal_id)
    assert erased is not None
    assert erased.proposer.aad_id == ""
    assert erased.reference == {}
