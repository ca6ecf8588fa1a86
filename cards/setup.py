"""The CoP setup card (posted on install, reopened by ``setup``) and its confirmation."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from bot.core.turn import JSON, Card
from bot.domain.cops import Cop, PersonRef
from bot.domain.practice_areas import PracticeArea, area_name
from bot.domain.proposals import Step
from cards.elements import card, execute, facts, heading, input_choice, input_number, input_text, safe, text
from cards.proposals import checklist_items

STATUSES: tuple[tuple[str, str], ...] = (
    ("launched", "Launched"),
    ("preparing", "Preparations underway"),
    ("paused", "Paused"),
)
STATUS_NAMES = dict(STATUSES)
NAME_MAX = 120
PRACTICE_AREA_MAX = 120
TOR_MAX = 500
OBJECTIVES_MAX = 2000
HOURS_MIN, HOURS_MAX = 1, 720


@dataclass(frozen=True)
class SetupView:
    cop: Cop
    here_is_home: bool  # the card is shown in the home channel already
    intro: str = ""  # e.g. the thanks on first install
    areas: tuple[PracticeArea, ...] = ()  # the programme's practice areas (a choice when there are any)
    proposals: tuple[tuple[str, str], ...] = ()  # approved proposals no team is linked to yet: (id, name)
    steps: tuple[Step, ...] = ()  # the launch checklist of a CoP launched from a proposal


def people(refs: Iterable[PersonRef]) -> str:
    return ", ".join(safe(p.name or "(unnamed)", 80) for p in refs) or "—"


def setup_card(view: SetupView) -> Card:
    cop = view.cop
    body: list[JSON] = [heading(f"Set up {safe(cop.name, NAME_MAX)}")]
    if view.intro:
        body.append(text(view.intro))
    body.append(
        facts(
            [
                ("Leads", people(cop.leads)),
                ("Sponsor", people([cop.sponsor]) if cop.sponsor else "not set yet"),
            ]
        )
    )
    body.append(
        text(
            "Add leads with **leads add @name** (2 to 4 leads are recommended) and set the senior sponsor with "
            "**sponsor set @name**.",
            subtle=True,
            size="small",
        )
    )
    body.extend(
        [
            input_text("name", label="CoP name", value=cop.name, max_length=NAME_MAX, required=True),
            _area_input(view),
            input_choice("status", label="Status", choices=[(title, key) for key, title in STATUSES], value=cop.status),
            input_text(
                "terms_of_reference_url",
                label="Terms of reference (link)",
                value=cop.terms_of_reference_url,
                placeholder="https://…",
                max_length=TOR_MAX,
            ),
            input_text(
                "objectives",
                label="Objectives",
                value=cop.objectives,
                multiline=True,
                max_length=OBJECTIVES_MAX,
            ),
            input_choice(
                "home",
                label="Home channel for my posts (digests, events)",
                choices=[
                    ("Keep the current home channel", "keep"),
                    ("Use the channel this card is in", "here"),
                ],
                value="keep",
            ),
            input_number(
                "answer_target_hours",
                label="Questions should be answered within (hours)",
                value=cop.answer_target_hours,
                low=HOURS_MIN,
                high=HOURS_MAX,
            ),
        ]
    )
    if view.proposals and not cop.proposal_id:
        choices = [("No", "none"), *((f"Yes: {safe(name, 80)}", pid) for pid, name in view.proposals)]
        body.append(input_choice("proposal", label="Is this team for an approved CoP proposal?", choices=choices))
    body.extend(checklist_items(view.steps) if view.steps else [])
    if view.here_is_home:
        body.append(text("This channel is the home channel now.", subtle=True, size="small"))
    return card(
        body,
        [
            execute("Save", "setup.save", {"cop_id": cop.cop_id}, style="positive"),
            execute("Invite the team's members", "invitations.offer", {"cop_id": cop.cop_id}),
        ],
        summary=f"Set up {cop.name}",
    )


def _area_input(view: SetupView) -> JSON:
    if view.areas:
        choices = [(safe(a.name, PRACTICE_AREA_MAX), a.area_id) for a in view.areas]
        return input_choice("practice_area_id", label="Practice area", choices=choices, value=view.cop.practice_area_id)
    return input_text(
        "practice_area",
        label="Practice area",
        value=view.cop.practice_area,
        placeholder="e.g. Planning, Human Resources",
        max_length=PRACTICE_AREA_MAX,
    )


def saved_card(
    cop: Cop, warnings: Iterable[str] = (), *, areas: Iterable[PracticeArea] = (), steps: Iterable[Step] = ()
) -> Card:
    body: list[JSON] = [
        heading(f"{safe(cop.name, NAME_MAX)} is set up"),
        facts(
            [
                ("Practice area", safe(area_name(cop, areas), PRACTICE_AREA_MAX) or "—"),
                ("Status", STATUS_NAMES.get(cop.status, cop.status)),
                ("Leads", people(cop.leads)),
                ("Sponsor", people([cop.sponsor]) if cop.sponsor else "not set yet"),
                ("Terms of reference", safe(cop.terms_of_reference_url, TOR_MAX) or "—"),
                ("Answer target", f"{cop.answer_target_hours} hours"),
            ]
        ),
    ]
    if cop.objectives:
        body.append(text(safe(cop.objectives, OBJECTIVES_MAX)))
    body.extend(text(w, color="warning") for w in warnings)
    body.extend(checklist_items(list(steps)) if steps else [])
    return card(body, [execute("Edit again", "setup.open", {"cop_id": cop.cop_id})], summary=f"{cop.name} is set up")


def examples() -> Iterable[tuple[str, Card]]:
    lead = PersonRef("aad-0001", "29:user-1", "Alice Adams")
    cop = Cop(
        cop_id="19:team-1@thread.tacv2",
        name="Data and Insight",
        tenant_id="tenant-1",
        service_url="https://smba.example",
        practice_area="Planning",
        status="launched",
        leads=(lead,),
        objectives="Share good practice in reporting.",
        terms_of_reference_url="https://example.ac.uk/tor",
    )
    yield "first-time", setup_card(SetupView(cop, here_is_home=True, intro="Thanks for adding me."))
    yield "reopened", setup_card(SetupView(cop, here_is_home=False))
    yield "saved", saved_card(cop, ["This CoP has 1 lead; 2 to 4 are recommended."])
    areas = (PracticeArea("a1", "Planning"), PracticeArea("a2", "Human Resources"))
    steps = (Step("A Teams team with the app installed", True, ""), Step("2 to 4 leads", False, "Add a lead."))
    preparing = SetupView(cop, here_is_home=True, areas=areas, proposals=(("0123456789ab", "Technicians"),))
    yield "with-areas-and-proposals", setup_card(preparing)
    yield "checklist", setup_card(SetupView(cop, here_is_home=True, areas=areas, steps=steps))
