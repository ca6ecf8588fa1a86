"""A new CoP from proposal to launch: ``propose a cop`` (anyone), ``proposals`` (programme admins: approve naming
a sponsor, or decline with a reason; the proposer hears back privately), and the launch checklist of an approved
CoP (bot/domain/proposals.py), shown on its setup card and in the programme view. A lead links the CoP's team to
its approved proposal on the setup card; the CoP is "launched" as soon as the checklist is complete
(:func:`sync_launch`, run when the setup card is shown or saved, when a meeting is recorded, and daily).

Proposals reach each programme admin privately through the outbox (``proposal|new|<proposal>|<admin>``); the
outcome reaches the proposer once (``proposal|decided|<proposal>``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot.core.turn import Person, Role, reference_without_person
from bot.domain.cops import Cop, PersonRef, cop_repo
from bot.domain.events import last_core_meeting
from bot.domain.members import MembershipRepo
from bot.domain.practice_areas import PracticeArea, PracticeAreaRepo
from bot.domain.proposals import (
    CRITERIA,
    NAME_MAX,
    REASON_MAX,
    SPONSOR_MAX,
    TEXT_MAX,
    AlreadyDecided,
    Proposal,
    ProposalRepo,
    Step,
    checklist,
    complete,
    export_proposal,
    is_id,
    new_id,
)
from bot.domain.records import RecordRepo
from bot.domain.validation import BadInput, clean_text
from bot.features.membership import show
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.proposals import outcome_card, proposal_form_card, proposals_card, review_card, sent_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

NO_IDENTITY = "I can't tell who you are from this chat, so I can't send a proposal on your behalf."
UNKNOWN = "I can't find that proposal any more, so nothing was changed."


def area_named(areas: list[PracticeArea], area_id: str) -> str:
    return next((a.name for a in areas if a.area_id == area_id), "")


async def core_meeting_held(services: Services, cop_id: str, now: datetime) -> bool:
    held, records = await asyncio.gather(
        last_core_meeting(services.store, cop_id, now), RecordRepo(services.store).of_cop(cop_id)
    )
    return held is not None or any(r.kind == "core_meeting" and r.held_at <= now for r in records)


async def launch_steps(services: Services, cop: Cop | None, proposal: Proposal, now: datetime) -> list[Step]:
    held = await core_meeting_held(services, cop.cop_id, now) if cop is not None else False
    return checklist(cop, proposal, held)


async def sync_launch(services: Services, cop: Cop, now: datetime) -> tuple[Cop, list[Step]]:
    """The checklist of a CoP launched from a proposal; when it is complete and the CoP is still preparing, the
    CoP becomes "launched" (stored, and recorded in its audit log)."""
    if not cop.proposal_id:
        return cop, []
    proposal = await ProposalRepo(services.store).get(cop.proposal_id)
    if proposal is None:
        return cop, []
    steps = await launch_steps(services, cop, proposal, now)
    if complete(steps) and cop.status == "preparing":
        launched = await cop_repo(services).change(cop.cop_id, now, lambda c: replace(c, status="launched"))
        if launched is not None:
            await audit.record(services.store, cop.cop_id, now, "", "CoP Bot", "launched", "launch checklist complete")
            log.info("launched cop_id=%s", cop.cop_id)
            cop = launched
    return cop, steps


async def admin_person(services: Services, aad_id: str) -> Person:
    """A programme admin as a person to message: their Teams user id when they have a profile, else their
    Entra object id (which Teams also accepts to open a 1:1 chat)."""
    profile = await MembershipRepo(services.store).profile(aad_id)
    return Person(profile.user_id if profile and profile.user_id else aad_id, aad_id, profile.name if profile else "")


def _form(turn: Turn) -> dict[str, Any]:
    assert turn.request.action is not None
    return dict(turn.request.action.data)


def new_proposal(turn: Turn, data: dict[str, Any], areas: list[PracticeArea]) -> Proposal:
    name = " ".join(clean_text(data.get("name"), "Name of the CoP", NAME_MAX, required=True).split())
    area = clean_text(data.get("area"), "Practice area", 40, required=bool(areas))
    if areas and not any(a.area_id == area for a in areas):
        raise BadInput("Please choose the practice area from the list.")
    purpose = clean_text(data.get("purpose"), "Purpose", TEXT_MAX, multiline=True, required=True)
    audience = clean_text(data.get("audience"), "Who it is for", TEXT_MAX, multiline=True, required=True)
    answers = {
        key: clean_text(data.get(key), title, TEXT_MAX, multiline=True, required=True) for key, title, _ in CRITERIA
    }
    person = turn.request.person
    return Proposal(
        proposal_id=new_id(),
        name=name,
        area_id=area,
        purpose=purpose,
        audience=audience,
        answers=answers,
        proposer=PersonRef(person.aad_id, person.user_id, person.name),
        created_at=turn.services.clock.now(),
        reference=reference_without_person(turn.request.conversation_reference),
    )


async def list_card(services: Services, message: str = "") -> Any:
    now = services.clock.now()
    proposals, areas, cops = await asyncio.gather(
        ProposalRepo(services.store).all(),
        PracticeAreaRepo(services.store).all(),
        cop_repo(services).all(active_only=False),
    )
    by_id = {c.cop_id: c for c in cops}
    pending = [(p, area_named(areas, p.area_id)) for p in proposals if p.status == "pending"]
    preparing = []
    for p in proposals:
        if p.status != "approved":
            continue
        cop = by_id.get(p.cop_id) if p.cop_id else None
        if cop is not None and cop.status == "launched":
            continue
        preparing.append((p, area_named(areas, p.area_id), await launch_steps(services, cop, p, now)))
    return proposals_card(pending, preparing, message)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    privacy.register("proposals", export_person, erase_person)

    @router.command("propose a cop", help="Propose a new Community of Practice to the programme team")
    async def propose(turn: Turn) -> None:
        areas = await PracticeAreaRepo(turn.services.store).all()
        await turn.respond.reply(proposal_form_card(areas))

    @router.command("proposals", help="Proposals for new CoPs: approve or decline; preparations", role=Role.ADMIN)
    async def proposals(turn: Turn) -> None:
        await turn.respond.reply(await list_card(turn.services))

    @router.action("proposal.submit")
    async def submit(turn: Turn) -> None:
        services = turn.services
        if not turn.request.person.aad_id:
            await turn.tell(NO_IDENTITY)
            return
        data = _form(turn)
        areas = await PracticeAreaRepo(services.store).all()
        try:
            proposal = new_proposal(turn, data, areas)
        except BadInput as error:
            await turn.tell(f"{error} Nothing was sent.")
            return
        proposal = await ProposalRepo(services.store).create(proposal)
        area = area_named(areas, proposal.area_id)
        now = services.clock.now()
        queued = 0
        for aad in sorted(services.settings.programme_admins):
            admin = await admin_person(services, aad)
            queued += await services.outbox.enqueue(
                f"proposal|new|{proposal.proposal_id}|{aad}",
                proposal.reference,
                review_card(proposal, area),
                now,
                personal_for=admin,
            )
        log.info("proposal sent admins=%d activity_id=%s", queued, turn.request.activity_id)
        await show(turn, sent_card(proposal, area))

    async def decide(turn: Turn, *, approve: bool) -> None:
        services = turn.services
        data = _form(turn)
        proposal_id = data.get("id")
        if not is_id(proposal_id):
            await turn.tell(UNKNOWN)
            return
        pid = str(proposal_id)
        repo = ProposalRepo(services.store)
        found = await repo.get(pid)
        if found is None:
            await turn.tell(UNKNOWN)
            return
        areas = await PracticeAreaRepo(services.store).all()
        try:
            if approve:
                sponsor = clean_text(data.get(f"sponsor_{pid}"), "Sponsor", SPONSOR_MAX, required=True)
                reason = ""
            else:
                reason = clean_text(data.get(f"reason_{pid}"), "Reason", REASON_MAX, multiline=True, required=True)
                sponsor = ""
        except BadInput as error:
            message = f"{error} Name the sponsor to approve, or give a reason to decline. Nothing was changed."
            await show(turn, review_card(found, area_named(areas, found.area_id), message))
            return
        person = turn.request.person
        now = services.clock.now()
        try:
            decided = await repo.decide(
                pid, PersonRef(person.aad_id, person.user_id, person.name), now,
                approve=approve, sponsor_name=sponsor, reason=reason,
            )  # fmt: skip
        except AlreadyDecided as already:
            await show(turn, review_card(already.proposal, area_named(areas, found.area_id), "Already decided."))
            return
        if decided is None:
            await turn.tell(UNKNOWN)
            return
        proposer = decided.proposer
        if proposer.aad_id and decided.reference:
            await services.outbox.enqueue(
                f"proposal|decided|{pid}",
                decided.reference,
                outcome_card(decided),
                now,
                personal_for=Person(proposer.user_id or proposer.aad_id, proposer.aad_id, proposer.name),
            )
        log.info("proposal %s activity_id=%s", decided.status, turn.request.activity_id)
        await show(turn, review_card(decided, area_named(areas, decided.area_id)))

    @router.action("proposal.approve", role=Role.ADMIN)
    async def approve(turn: Turn) -> None:
        await decide(turn, approve=True)

    @router.action("proposal.decline", role=Role.ADMIN)
    async def decline(turn: Turn) -> None:
        await decide(turn, approve=False)


async def linkable(services: Services) -> list[Proposal]:
    """Approved proposals no team is linked to yet (offered on setup cards)."""
    return [p for p in await ProposalRepo(services.store).all() if p.status == "approved" and not p.cop_id]


async def link(services: Services, cop: Cop, proposal_id: str, now: datetime) -> Cop:
    """Link ``cop``'s team to an approved proposal: the CoP takes the proposal's practice area (and its purpose as
    objectives when it has none) and is "preparations underway" until its checklist is complete."""
    repo = ProposalRepo(services.store)

    def claim(p: Proposal) -> Proposal:
        if p.status != "approved" or (p.cop_id and p.cop_id != cop.cop_id):
            raise BadInput("That proposal is linked to another team already, or was not approved.")
        return replace(p, cop_id=cop.cop_id)

    proposal = await repo.change(proposal_id, claim)
    if proposal is None:
        raise BadInput("That proposal no longer exists.")

    def edit(c: Cop) -> Cop:
        return replace(
            c,
            proposal_id=proposal.proposal_id,
            practice_area_id=c.practice_area_id or proposal.area_id,
            objectives=c.objectives or proposal.purpose,
            status="preparing",
        )

    linked = await cop_repo(services).change(cop.cop_id, now, edit)
    return linked or cop


async def export_person(services: Services, aad_id: str) -> Any:
    return [export_proposal(p, aad_id) for p in await ProposalRepo(services.store).of_person(aad_id)]


async def erase_person(services: Services, aad_id: str) -> None:
    await ProposalRepo(services.store).erase_person(aad_id)


# -- the setup card's part -----------------------------------------------------------------------------------
async def setup_view_extras(services: Services, cop: Cop) -> tuple[Cop, dict[str, Any]]:
    """What the setup card shows beyond the CoP row: the practice areas, the approved proposals a lead may link
    this team to, and the launch checklist (the CoP launches here when it has just become complete)."""
    now = services.clock.now()
    areas, open_proposals = await asyncio.gather(PracticeAreaRepo(services.store).all(), linkable(services))
    cop, steps = await sync_launch(services, cop, now)
    return cop, {
        "areas": tuple(areas),
        "proposals": tuple((p.proposal_id, p.name) for p in open_proposals),
        "steps": tuple(steps),
    }


async def setup_choices(services: Services, cop: Cop, data: Any) -> tuple[str | None, str | None]:
    """The setup card's practice area and proposal choices, checked: (area id or None to keep, proposal id to
    link or None). A CoP launched from a proposal launches by itself: a lead cannot mark it launched early."""
    area_id = data.get("practice_area_id")
    if area_id is not None:
        areas = await PracticeAreaRepo(services.store).all()
        if not isinstance(area_id, str) or not any(a.area_id == area_id for a in areas):
            raise BadInput("Please choose the practice area from the list.")
    chosen = data.get("proposal")
    proposal_id: str | None = None
    if chosen not in (None, "", "none"):
        if not is_id(chosen) or cop.proposal_id:
            raise BadInput("Please choose the proposal from the list.")
        proposal_id = str(chosen)
    if cop.proposal_id and data.get("status") == "launched" and cop.status != "launched":
        proposal = await ProposalRepo(services.store).get(cop.proposal_id)
        if proposal is not None and not complete(await launch_steps(services, cop, proposal, services.clock.now())):
            raise BadInput("This CoP launches by itself when its launch checklist is complete.")
    return area_id, proposal_id
