"""Proposals for new CoPs, from idea to launch (table ``proposals``, partition ``proposal``, one row each).

Any member of staff proposes a CoP: its name, practice area, purpose, who it is for, and how it meets each of the
programme's four criteria for identifying staff. The programme admins approve it (naming a sponsor) or decline
it with a reason. An approved CoP is "preparations underway" until its launch checklist is complete
(:func:`checklist`): 2 to 4 leads, a sponsor, terms of reference and objectives, a Teams team with the app
installed (a lead links the team to the proposal on its setup card) and a first core meeting. Each step is read
from the stored facts (the CoP row, events and records), never ticked by hand.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from bot.domain.codec import dump_reference, dumps, load_reference, loads
from bot.domain.cops import Cop, PersonRef
from storage.base import NotFound, PreconditionFailed, Row, TableStore

TABLE = "proposals"
PARTITION = "proposal"
Status = Literal["pending", "approved", "declined"]
NAME_MAX = 120
TEXT_MAX = 1000
REASON_MAX = 1000
SPONSOR_MAX = 120
FORMER = PersonRef("", "", "former member")

# The programme's criteria for identifying staff for a high impact CoP, and its three defining characteristics
# of a CoP (the programme's guidance), shown on the proposal card.
CRITERIA: tuple[tuple[str, str, str], ...] = (
    (
        "where_from",
        "Where staff come from",
        "Different parts of the university: central functions; academic areas (faculties, schools, departments, "
        "centres and units); Vice-Provost offices. Staff working in any part of the university are invited.",
    ),
    (
        "reports_to",
        "Who staff report to",
        "Staff do not report to the same person; different types of line managers from across the university.",
    ),
    (
        "in_common",
        "What staff have in common",
        "Many different roles but similar professional skills; the same group of stakeholders; reliant on the "
        "same services; a service to the same type of customers.",
    ),
    (
        "trajectory",
        "Staff members' career trajectory",
        "Staff may seek to develop similar capabilities, share similar career aspirations, and share similar "
        "transferable skills they may be seeking to maximise.",
    ),
)
CHARACTERISTICS: tuple[tuple[str, str], ...] = (
    (
        "Professional identity",
        "staff share a commitment to the practice area and therefore a shared competence that distinguishes them.",
    ),
    (
        "Learning and development",
        "in pursuing their interest in their practice area, staff engage in joint activities and projects, help "
        "each other, and share information. They build relationships that enable them to learn from each other.",
    ),
    (
        "Shared resources",
        "staff develop a shared repertoire of resources (experiences, stories, tools, solutions in addressing "
        "recurring problems) and a shared practice.",
    ),
)


@dataclass(frozen=True)
class Proposal:
    proposal_id: str
    name: str
    area_id: str
    purpose: str
    audience: str
    answers: dict[str, str]  # criterion key -> how the CoP meets it
    proposer: PersonRef
    created_at: datetime
    reference: dict[str, Any] = field(default_factory=dict)  # where the proposer can be reached (cut down)
    status: Status = "pending"
    decided_by: PersonRef | None = None
    decided_at: datetime | None = None
    reason: str = ""  # why it was declined
    sponsor_name: str = ""  # the sponsor named at approval
    cop_id: str = ""  # the Teams team linked to it, once installed
    etag: str = ""


def new_id() -> str:
    return secrets.token_hex(6)


def is_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 12 and all(c in "0123456789abcdef" for c in value)


def _data(p: Proposal) -> dict[str, Any]:
    data: dict[str, Any] = {
        "proposal_id": p.proposal_id,
        "name": p.name,
        "area_id": p.area_id,
        "purpose": p.purpose,
        "audience": p.audience,
        "answers": dumps(p.answers),
        "proposer": dumps(p.proposer.as_json()),
        "proposer_aad": p.proposer.aad_id,
        "created_at": p.created_at,
        "reference": dump_reference(p.reference),
        "status": p.status,
        "decided_by": dumps(p.decided_by.as_json() if p.decided_by else None),
        "decided_by_aad": p.decided_by.aad_id if p.decided_by else "",
        "reason": p.reason,
        "sponsor_name": p.sponsor_name,
        "cop_id": p.cop_id,
    }
    if p.decided_at is not None:
        data["decided_at"] = p.decided_at
    return data


def _proposal(row: Row) -> Proposal:
    get = row.get
    answers = loads(get("answers"), {})
    decider = PersonRef.from_json(loads(get("decided_by"), None))
    status = str(get("status", "pending"))
    return Proposal(
        proposal_id=str(get("proposal_id", "")),
        name=str(get("name", "")),
        area_id=str(get("area_id", "")),
        purpose=str(get("purpose", "")),
        audience=str(get("audience", "")),
        answers={str(k): str(v) for k, v in answers.items()} if isinstance(answers, dict) else {},
        proposer=PersonRef.from_json(loads(get("proposer"), None)) or FORMER,
        created_at=get("created_at"),  # type: ignore[arg-type]
        reference=load_reference(get("reference")),
        status=status if status in ("pending", "approved", "declined") else "pending",  # type: ignore[arg-type]
        decided_by=decider,
        decided_at=get("decided_at"),  # type: ignore[arg-type]
        reason=str(get("reason", "")),
        sponsor_name=str(get("sponsor_name", "")),
        cop_id=str(get("cop_id", "")),
        etag=row.etag,
    )


class AlreadyDecided(Exception):
    def __init__(self, proposal: Proposal) -> None:
        super().__init__(proposal.proposal_id)
        self.proposal = proposal


class ProposalRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def create(self, proposal: Proposal) -> Proposal:
        row = await self._store.insert(TABLE, PARTITION, proposal.proposal_id, _data(proposal))
        return replace(proposal, etag=row.etag)

    async def get(self, proposal_id: str) -> Proposal | None:
        try:
            return _proposal(await self._store.get(TABLE, PARTITION, proposal_id))
        except NotFound:
            return None

    async def all(self) -> list[Proposal]:
        rows = await self._store.query(TABLE, PARTITION)
        return sorted(map(_proposal, rows), key=lambda p: p.created_at)

    async def areas_in_use(self) -> set[str]:
        return {p.area_id for p in await self.all() if p.status != "declined" and p.area_id}

    async def change(self, proposal_id: str, edit: Callable[[Proposal], Proposal]) -> Proposal | None:
        for _ in range(5):
            found = await self.get(proposal_id)
            if found is None:
                return None
            changed = edit(found)
            try:
                row = await self._store.update(TABLE, PARTITION, proposal_id, _data(changed), etag=found.etag)
            except PreconditionFailed:
                continue
            except NotFound:
                return None
            return replace(changed, etag=row.etag)
        raise PreconditionFailed(f"proposal {proposal_id} kept changing")

    async def decide(
        self,
        proposal_id: str,
        by: PersonRef,
        now: datetime,
        *,
        approve: bool,
        sponsor_name: str = "",
        reason: str = "",
    ) -> Proposal | None:
        """Approve or decline a pending proposal; raises AlreadyDecided when someone decided it first."""

        def edit(p: Proposal) -> Proposal:
            if p.status != "pending":
                raise AlreadyDecided(p)
            return replace(
                p,
                status="approved" if approve else "declined",
                decided_by=by,
                decided_at=now,
                sponsor_name=sponsor_name,
                reason=reason,
            )

        return await self.change(proposal_id, edit)

    # -- personal data ----------------------------------------------------------------------------------
    async def of_person(self, aad_id: str) -> list[Proposal]:
        if not aad_id:
            return []  # "former member" proposals hold an empty id: they are nobody's
        return [
            p
            for p in await self.all()
            if p.proposer.aad_id == aad_id or (p.decided_by is not None and p.decided_by.aad_id == aad_id)
        ]

    async def erase_person(self, aad_id: str) -> int:
        """The proposal stays (it describes a CoP); the person becomes "former member", and a proposer's
        conversation reference (their personal chat) is dropped."""
        changed = 0
        for p in await self.of_person(aad_id):

            def edit(current: Proposal) -> Proposal:
                mine = current.proposer.aad_id == aad_id
                decider = current.decided_by
                return replace(
                    current,
                    proposer=FORMER if mine else current.proposer,
                    reference={} if mine else current.reference,
                    decided_by=FORMER if decider is not None and decider.aad_id == aad_id else decider,
                )

            if await self.change(p.proposal_id, edit) is not None:
                changed += 1
        return changed


def export_proposal(p: Proposal, aad_id: str) -> dict[str, Any]:
    return {
        "proposal": p.name,
        "you": "proposed it" if p.proposer.aad_id == aad_id else "decided it",
        "status": p.status,
        "created_at": p.created_at.isoformat(),
        "purpose": p.purpose if p.proposer.aad_id == aad_id else "",
    }


# -- the launch checklist --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Step:
    label: str
    done: bool
    how: str  # what to do while it is not done


def checklist(cop: Cop | None, proposal: Proposal | None, core_meeting_held: bool) -> list[Step]:
    leads = len(cop.leads) if cop is not None else 0
    sponsor = f" ({proposal.sponsor_name} was named at approval)" if proposal and proposal.sponsor_name else ""
    return [
        Step(
            "A Teams team with the app installed",
            cop is not None and cop.active,
            "Create the CoP's team in Teams, add CoP Bot to it, and link the team to this proposal on its setup card.",
        ),
        Step("2 to 4 leads", 2 <= leads <= 4, "Add leads in the team with **leads add @name**."),
        Step(
            "A sponsor",
            cop is not None and cop.sponsor is not None,
            f"Set the sponsor in the team with **sponsor set @name**{sponsor}.",
        ),
        Step(
            "Terms of reference and objectives",
            cop is not None and bool(cop.terms_of_reference_url.strip()) and bool(cop.objectives.strip()),
            "Add the terms of reference link and the objectives on the **setup** card.",
        ),
        Step(
            "A first core meeting",
            core_meeting_held,
            "Hold the first core members' meeting (**event new**) or record it (**record meeting**).",
        ),
    ]


@dataclass(frozen=True)
class Preparing:
    """An approved CoP not launched yet, as the programme view shows it."""

    name: str
    area: str
    steps: tuple[Step, ...]


def complete(steps: Sequence[Step]) -> bool:
    return all(s.done for s in steps)
