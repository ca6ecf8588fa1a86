"""Inviting the people already in a CoP's team: when the app is installed, on ``invite`` in the CoP's channel, and
from the setup card, the bot reads the team's roster and offers the leads to invite everyone not yet a member;
confirming queues one personal join card per person through the outbox (paced, rate limited, keyed per person
and CoP) and the minute tick reports to the leads when every card has gone or the run's deadline has passed.

Queueing runs after the click is answered (hundreds of outbox writes take longer than Teams waits for a card),
under a lease in storage: if this process stops part way, the minute tick on any instance carries on, and the
outbox key keeps each person to one card.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from bot.core.turn import Card, Person, Role
from bot.domain.codec import dump_reference, load_reference
from bot.domain.cops import Cop, cop_repo
from bot.domain.invitations import Invitations, Run, invite_key
from bot.domain.members import ROSTER
from bot.features.imports import roster_reference, team_roster
from bot.features.membership import choice_of, load_cop, show
from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.invitations import GREETING, offer_card, report_card, sending_card
from cards.membership import join_card
from storage import paging
from storage.base import encode_key

log = logging.getLogger(__name__)

NO_ROSTER = "I couldn't read this team's member list from Teams just now. Try **invite** again in a minute."
GONE = "That offer is no longer valid. Type **invite** for a fresh one."
UNDER_WAY = "These invitations are already under way (another lead may have started them). Each person gets one card."
DONE = "These invitations have already been sent. Type **invite** to invite anyone who has joined the team since."
NOT_HERE = "Type **invite** in a channel of the CoP's team."
UNDER_WAY_NO_OFFER = (
    "Invitations to this CoP are still going out; I'll post how it went when they're done. Then type **invite** "
    "again to invite anyone who has joined the team since."
)
INACTIVE = "{name} is not active at the moment, so I won't invite anyone to it."


async def member_ids(services: Services, cop_id: str) -> set[str]:
    """The CoP's members' object ids, from its roster index, a page at a time."""
    found: set[str] = set()
    async for rows, _ in paging.pages(services.store, ROSTER, encode_key(cop_id)):
        found.update(str(r.get("aad_id", "")) for r in rows)
    return found


async def make_offer(services: Services, cop: Cop, reference: dict[str, Any]) -> Card | str:
    """The offer card for the people in the team who are neither members nor invited, or why there is none."""
    if not cop.active:
        return INACTIVE.format(name=cop.name)
    if await Invitations(services.store).under_way(cop.cop_id):
        return UNDER_WAY_NO_OFFER
    roster = await team_roster(services, cop)
    if roster is None:
        return NO_ROSTER
    now = services.clock.now()
    run = await Invitations(services.store).offer(
        cop.cop_id, roster, await member_ids(services, cop.cop_id), dump_reference(reference), now
    )
    log.info(
        "invitations offered cop_id=%s run=%s team=%d members=%d to_invite=%d",
        cop.cop_id,
        run.run_id,
        run.team_size,
        run.members,
        run.to_invite,
    )
    return offer_card(cop.cop_id, cop.name, run.run_id, run.team_size, run.members, run.invited_before, run.to_invite)


async def settle(services: Services) -> None:
    """Wait for this process's invitation runs still queueing (tests, shutdown)."""
    await services.background.settle()


async def queue_run(services: Services, run: Run) -> int:
    """Queue the join card of everyone the run offered (a claimed run)."""
    cop = await cop_repo(services).get(run.cop_id)
    if cop is None:
        return 0
    now = services.clock.now()
    reference = roster_reference(cop)
    greeting = GREETING.format(name=cop.name)
    card = join_card(choice_of(cop), None, prefill=False, greeting=greeting)

    async def enqueue(person: Person) -> None:
        await services.outbox.enqueue(
            invite_key(cop.cop_id, person.aad_id), reference, card, now, cop_id=cop.cop_id, personal_for=person
        )

    queued = await Invitations(services.store).queue(run, enqueue, now)
    log.info("invitations queued cop_id=%s run=%s queued=%d", cop.cop_id, run.run_id, queued)
    return queued


def start_run(services: Services, run: Run) -> None:
    # if it stops part way, the run keeps its lease until it runs out; then the minute tick carries on
    services.background.start(f"invite-{run.run_id}", queue_run(services, run))


async def run_due(services: Services, now: datetime) -> int:
    """Carry on runs whose queueing stopped, and report the runs whose cards have all gone (or whose deadline
    has passed) to the leads where they confirmed."""
    invitations = Invitations(services.store)
    done = 0
    for run in await invitations.due(now):
        if run.status == "sending":
            claimed = await invitations.claim(run, now)
            if claimed is not None:
                log.info("invitation run resumed cop_id=%s run=%s", run.cop_id, run.run_id)
                done += await queue_run(services, claimed)
            continue
        report = await invitations.outcome(run, now)
        if report.waiting:
            continue
        cop = await cop_repo(services).get(run.cop_id)
        reference = load_reference(run.reference)
        if reference:
            await services.outbox.enqueue(
                f"invite-report|{run.cop_id}|{run.run_id}",
                reference,
                report_card(cop.name if cop else "the CoP", report.as_json()),
                now,
                cop_id=run.cop_id,
            )
        await invitations.reported(run, report, now)
        log.info("invitation run reported cop_id=%s run=%s %s", run.cop_id, run.run_id, report.as_json())
        done += 1
    if now.minute % 30 == 0:
        done += await invitations.purge(now)
    return done


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.on("installed")
    async def installed(turn: Turn) -> None:
        team_id = turn.request.place.team_id
        if team_id is None:
            return
        cop = await cop_repo(turn.services).get(team_id)
        if cop is None or not cop.active:
            return
        offer = await make_offer(turn.services, cop, turn.request.conversation_reference)
        if isinstance(offer, Card):
            await turn.respond.reply(offer)

    @router.command(
        "invite",
        help="Invite the people in this team who are not members yet (asks first)",
        role=Role.LEAD,
        places=("channel",),
    )
    async def invite(turn: Turn) -> None:
        cop = await load_cop(turn, turn.cop_id) if turn.cop_id else None
        if cop is None:
            await turn.respond.reply(NOT_HERE)
            return
        await turn.respond.reply(await make_offer(turn.services, cop, turn.request.conversation_reference))

    @router.action("invitations.offer", role=Role.LEAD)
    async def offer_again(turn: Turn) -> None:
        cop = await load_cop(turn, turn.cop_id) if turn.cop_id else None
        if cop is None:
            await turn.tell(NOT_HERE)
            return
        await show(turn, await make_offer(turn.services, cop, turn.request.conversation_reference))

    @router.action("invitations.confirm", role=Role.LEAD)
    async def confirm(turn: Turn) -> None:
        assert turn.request.action is not None
        run_id = str(turn.request.action.data.get("id") or "")
        cop_id = turn.cop_id or ""
        invitations = Invitations(turn.services.store)
        run = await invitations.run(cop_id, run_id) if cop_id and run_id.isalnum() and len(run_id) <= 32 else None
        if run is None:
            await turn.tell(GONE)
            return
        if run.status != "offered":
            await turn.tell(UNDER_WAY if run.status in ("sending", "queued") else DONE)
            return
        now = turn.services.clock.now()
        claimed = await invitations.claim(run, now, requested_by=turn.request.person.aad_id)
        if claimed is None:
            await turn.tell(UNDER_WAY)
            return
        cop = await load_cop(turn, cop_id)
        log.info("invitations confirmed cop_id=%s run=%s activity_id=%s", cop_id, run_id, turn.request.activity_id)
        await show(turn, sending_card(cop.name if cop else "the CoP", run.to_invite))
        start_run(turn.services, claimed)

    privacy.register("invitations", export_invitations, erase_invitations)


async def export_invitations(services: Services, aad_id: str) -> Any:
    return await Invitations(services.store).export_person(aad_id)


async def erase_invitations(services: Services, aad_id: str) -> None:
    removed = await Invitations(services.store).erase_person(aad_id)
    log.info("erased invitation rows of one person rows=%d", removed)
