"""Cards for a new CoP from proposal to launch: the proposal form (with the programme's criteria and defining
characteristics for guidance), the admins' review card, the outcome sent to the proposer, the admins' list of
proposals, and the launch checklist shown on setup and programme cards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from bot.core.turn import JSON, Card
from bot.domain.cops import PersonRef
from bot.domain.practice_areas import PracticeArea
from bot.domain.proposals import (
    CHARACTERISTICS,
    CRITERIA,
    NAME_MAX,
    REASON_MAX,
    SPONSOR_MAX,
    TEXT_MAX,
    Proposal,
    Step,
)
from cards.elements import (
    action_set,
    card,
    container,
    execute,
    facts,
    heading,
    input_choice,
    input_text,
    safe,
    text,
)

REVIEW_LIMIT = 8  # pending proposals shown on one list card


def checklist_items(steps: Sequence[Step]) -> list[JSON]:
    done = sum(s.done for s in steps)
    items: list[JSON] = [text(f"Launch checklist: {done} of {len(steps)} done", weight="bolder", spacing="medium")]
    for s in steps:
        mark = "\N{CHECK MARK}" if s.done else "\N{BALLOT BOX}"
        items.append(text(f"{mark} {s.label}" + ("" if s.done else f": {s.how}"), spacing="small", size="small"))
    return items


def proposal_form_card(areas: Sequence[PracticeArea], values: Mapping[str, str] | None = None) -> Card:
    v = values or {}
    body: list[JSON] = [
        heading("Propose a Community of Practice"),
        text(
            "The programme team reads every proposal and tells you what they decide. A CoP has three defining "
            "characteristics:",
            size="small",
        ),
    ]
    body.extend(
        text(f"• **{title}**: {safe(words)}", size="small", spacing="small") for title, words in CHARACTERISTICS
    )
    body.append(
        input_text("name", label="Name of the CoP", value=v.get("name", ""), max_length=NAME_MAX, required=True)
    )
    if areas:
        body.append(
            input_choice(
                "area",
                label="Practice area",
                choices=[(safe(a.name, 80), a.area_id) for a in areas],
                value=v.get("area", ""),
                required=True,
            )
        )
    body.append(
        input_text(
            "purpose", label="Purpose", value=v.get("purpose", ""), multiline=True, max_length=TEXT_MAX, required=True
        )
    )
    body.append(
        input_text(
            "audience",
            label="Who it is for",
            value=v.get("audience", ""),
            multiline=True,
            max_length=TEXT_MAX,
            required=True,
        )
    )
    body.append(text("How it meets the programme's criteria for identifying staff", weight="bolder", spacing="medium"))
    for key, title, guidance in CRITERIA:
        body.append(text(f"**{title}**: {safe(guidance)}", size="small", subtle=True))
        body.append(
            input_text(key, label=title, value=v.get(key, ""), multiline=True, max_length=TEXT_MAX, required=True)
        )
    return card(body, [execute("Send proposal", "proposal.submit", style="positive")], summary="Propose a CoP")


def _summary(p: Proposal, area: str) -> list[JSON]:
    body: list[JSON] = [
        facts(
            [
                ("Proposed by", safe(p.proposer.name or "former member", 80)),
                ("Practice area", safe(area, 80) or "not set"),
                ("Purpose", safe(p.purpose, TEXT_MAX)),
                ("Who it is for", safe(p.audience, TEXT_MAX)),
                *((title, safe(p.answers.get(key, ""), TEXT_MAX) or "—") for key, title, _ in CRITERIA),
            ]
        )
    ]
    return body


def _decision(p: Proposal) -> JSON:
    who = safe(p.decided_by.name if p.decided_by else "the programme team", 80)
    if p.status == "approved":
        return text(f"Approved by {who}; sponsor: {safe(p.sponsor_name, SPONSOR_MAX)}.", color="good")
    return text(f"Declined by {who}: {safe(p.reason, REASON_MAX)}", color="attention")


def _review_items(p: Proposal, area: str) -> list[JSON]:
    items: list[JSON] = [text(f"**{safe(p.name, NAME_MAX)}**"), *_summary(p, area)]
    if p.status != "pending":
        items.append(_decision(p))
        return items
    items.append(input_text(f"sponsor_{p.proposal_id}", label="Sponsor (to approve)", max_length=SPONSOR_MAX))
    items.append(
        input_text(f"reason_{p.proposal_id}", label="Reason (to decline)", multiline=True, max_length=REASON_MAX)
    )
    items.append(
        action_set(
            [
                execute("Approve", "proposal.approve", {"id": p.proposal_id}, style="positive"),
                execute("Decline", "proposal.decline", {"id": p.proposal_id}, style="destructive"),
            ]
        )
    )
    return items


def review_card(p: Proposal, area: str, message: str = "") -> Card:
    body: list[JSON] = [heading("A proposal for a new CoP")]
    if message:
        body.append(text(safe(message, 300), color="attention"))
    body.extend(_review_items(p, area))
    return card(body, summary=f"Proposal: {p.name[:60]}")


def sent_card(p: Proposal, area: str) -> Card:
    body = [
        heading("Proposal sent"),
        text(
            f"Thank you. The programme team will read your proposal for **{safe(p.name, NAME_MAX)}** "
            "and I'll tell you what they decide."
        ),
        *_summary(p, area),
    ]
    return card(body, summary="Proposal sent")


def outcome_card(p: Proposal) -> Card:
    if p.status == "approved":
        body = [
            heading(f"{safe(p.name, NAME_MAX)}: approved"),
            text(
                f"The programme team approved your proposal; the sponsor is {safe(p.sponsor_name, SPONSOR_MAX)}. "
                "Preparations are underway: create the CoP's team in Teams, add CoP Bot to it, and link the team "
                "to the proposal on its setup card. It launches when its checklist is complete."
            ),
        ]
    else:
        body = [
            heading(f"{safe(p.name, NAME_MAX)}: not approved"),
            text(f"The programme team declined your proposal: {safe(p.reason, REASON_MAX)}"),
        ]
    return card(body, summary=f"Your proposal {p.name[:50]}: {p.status}")


def proposals_card(
    pending: Sequence[tuple[Proposal, str]],
    preparing: Sequence[tuple[Proposal, str, Sequence[Step]]],
    message: str = "",
) -> Card:
    body: list[JSON] = [heading("Proposals")]
    if message:
        body.append(text(safe(message, 300), color="attention"))
    if not pending:
        body.append(text("No proposals are waiting for a decision."))
    for p, area in pending[:REVIEW_LIMIT]:
        body.append(container(_review_items(p, area), separator=True))
    if len(pending) > REVIEW_LIMIT:
        body.append(text(f"… and {len(pending) - REVIEW_LIMIT} more waiting; decide these first.", subtle=True))
    if preparing:
        body.append(text("Preparations underway", weight="bolder", spacing="large"))
    for p, area, steps in preparing:
        body.append(
            container(
                [text(f"**{safe(p.name, NAME_MAX)}** · {safe(area, 80) or 'no area'}"), *checklist_items(steps)],
                separator=True,
            )
        )
    return card(body, summary=f"{len(pending)} proposals waiting", full_width=True)


def examples() -> Iterable[tuple[str, Card]]:
    areas = [PracticeArea("a1", "Planning"), PracticeArea("a2", "Human Resources")]
    p = Proposal(
        "0123456789ab",
        "Widening <Participation>",
        "a1",
        "Share practice in outreach.",
        "Outreach officers across faculties.",
        {key: "Faculties and central teams." for key, _, _ in CRITERIA},
        PersonRef("aad-1", "29:1", "Sam Staff"),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    steps = [Step("A Teams team with the app installed", True, ""), Step("2 to 4 leads", False, "Add leads.")]
    approved = Proposal(
        **{**p.__dict__, "status": "approved", "sponsor_name": "Wendy A", "proposal_id": "ba9876543210"}
    )
    declined = Proposal(**{**p.__dict__, "status": "declined", "reason": "Overlaps an existing CoP."})
    yield "form", proposal_form_card(areas)
    yield "review", review_card(p, "Planning")
    yield "sent", sent_card(p, "Planning")
    yield "approved", outcome_card(approved)
    yield "declined", outcome_card(declined)
    yield "list", proposals_card([(p, "Planning")], [(approved, "Planning", steps)])
    yield "list-empty", proposals_card([], [])
