"""Membership cards: join (core vs wider side by side), the core-elsewhere choice, confirmations, leave, me."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.turn import JSON, Card
from bot.domain.members import ORG_AREAS, Membership, Profile, Tier
from cards.elements import (
    card,
    column,
    columns,
    container,
    execute,
    facts,
    heading,
    input_choice,
    input_text,
    notice,
    safe,
    text,
)

LONDON = ZoneInfo("Europe/London")

# The programme's core/wider criteria, in our own words: (area, core member, wider member).
CRITERIA: tuple[tuple[str, str, str], ...] = (
    (
        "Identity",
        "The practice area is part of who you are at work: you have expertise in it or real enthusiasm for it.",
        "You are interested in the practice area and work, or would like to work, with parts of it.",
    ),
    (
        "Learning",
        "You learn from other members and share what you know, so the practice gets better.",
        "You want to learn from the community and build a network of colleagues to turn to for advice.",
    ),
    (
        "Engagement",
        "You help develop the practice area and support colleagues to grow or to solve a problem.",
        "You might come to lunch and learns or help a project with research, feedback or opinions.",
    ),
    (
        "Activities",
        "You would like to lead a project, run a lunch and learn or share resources with the community.",
        "You are likely to benefit from what the community's projects produce.",
    ),
    (
        "Leadership",
        "You can see yourself leading the community, now or in the future.",
        "Not expected.",
    ),
)
ONE_CORE_NOTE = (
    "We recommend being a core member of one CoP at a time. You can be a wider member of as many CoPs as you like."
)
TIER_NAMES: dict[str, str] = {"core": "core member", "wider": "wider member"}
ORG_AREA_NAMES = dict(ORG_AREAS)


@dataclass(frozen=True)
class CopChoice:
    cop_id: str
    name: str
    practice_area: str = ""


def when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(LONDON)
    return f"{local.day} {local:%b %Y}"


def criteria_table() -> JSON:
    header = columns(
        [
            column([text(" ")], width="80px"),
            column([text("Core member", weight="bolder", color="accent")]),
            column([text("Wider member", weight="bolder", color="accent")]),
        ]
    )
    rows = [
        columns(
            [
                column([text(area, weight="bolder", size="small")], width="80px"),
                column([text(core, size="small")]),
                column([text(wider, size="small")]),
            ]
        )
        for area, core, wider in CRITERIA
    ]
    return container([header, *rows])


def profile_inputs(profile: Profile | None, *, prefill: bool) -> list[JSON]:
    shown = profile if prefill else None
    return [
        text("About you", weight="bolder", spacing="medium"),
        text(
            "Saved once and reused for every CoP you join."
            + ("" if prefill else " Leave a field empty to keep what you told me before."),
            subtle=True,
            size="small",
        ),
        input_choice(
            "org_area",
            label="Organisational area",
            choices=[(title, key) for key, title in ORG_AREAS],
            value=shown.org_area if shown else "",
        ),
        input_text(
            "org_unit",
            label="Your function, department or office",
            value=shown.org_unit if shown else "",
            placeholder="e.g. Finance, Bartlett School of Planning, Vice-Provost (Education)",
            max_length=120,
        ),
        input_text(
            "job_family",
            label="Job family",
            value=shown.job_family if shown else "",
            placeholder="e.g. Professional services, Technical, Academic",
            max_length=80,
        ),
        input_text(
            "interests",
            label="Capabilities and interests (comma-separated)",
            value=", ".join(shown.interests) if shown else "",
            placeholder="e.g. dashboards, statistics, survey design",
            max_length=600,
        ),
    ]


def join_card(
    cop: CopChoice | None,
    profile: Profile | None,
    *,
    prefill: bool,
    choices: Sequence[CopChoice] = (),
    current: Tier | None = None,
    greeting: str = "",
    shared: bool = False,
) -> Card:
    """The join card for one CoP, or (``cop`` None) with a choice of CoP for personal chat. ``shared``: a card
    everyone in a channel sees, which each of them may refresh (the card menu's Refresh, Universal Actions) into
    their own join card: their membership ("You are already a core member") and their profile."""
    body: list[JSON] = []
    if cop is not None:
        body.append(heading(f"Join {safe(cop.name, 120)}"))
        if cop.practice_area:
            body.append(text(f"Practice area: {safe(cop.practice_area, 120)}", subtle=True))
    else:
        body.append(heading("Join a Community of Practice"))
        body.append(
            input_choice(
                "choose_cop",
                label="Which CoP?",
                choices=[
                    (safe(c.name, 80) + (f" ({safe(c.practice_area, 60)})" if c.practice_area else ""), c.cop_id)
                    for c in choices
                ],
                required=True,
            )
        )
    if greeting:
        body.append(text(greeting))
    if current:
        body.append(text(f"You are already a {TIER_NAMES[current]}. Choose again to change.", color="good"))
    body.append(text("Core or wider?", weight="bolder", spacing="medium"))
    body.append(criteria_table())
    body.append(text(ONE_CORE_NOTE, subtle=True, size="small"))
    body.extend(profile_inputs(profile, prefill=prefill))
    base = {"cop_id": cop.cop_id if cop else "", "mode": "replace" if prefill else "merge"}
    actions = [
        execute("Join as core", "membership.join", {**base, "tier": "core"}, style="positive"),
        execute("Join as wider", "membership.join", {**base, "tier": "wider"}),
    ]
    name = cop.name if cop else "a CoP"
    result = card(body, actions, summary=f"Join {name}")
    if shared and cop is not None:
        start = {"verb": "membership.start", "cop_id": cop.cop_id}
        # nobody listed (no ids on a card everyone receives): no automatic refresh, anyone may ask for theirs
        result.content["refresh"] = {
            "action": {"type": "Action.Execute", "verb": start["verb"], "data": start},
            "userIds": [],
        }
    return result


def core_elsewhere_card(cop: CopChoice, other: CopChoice, carried: dict[str, str]) -> Card:
    """Joining core while core elsewhere: switch the core CoP here, or join as wider."""
    body = [
        heading(f"You are already a core member of {safe(other.name, 120)}"),
        text(ONE_CORE_NOTE),
        text(
            f"Make {safe(cop.name, 120)} your core CoP ({safe(other.name, 120)} becomes a wider membership), "
            f"or join {safe(cop.name, 120)} as a wider member."
        ),
    ]
    data = {"cop_id": cop.cop_id, "mode": "replace", **carried}
    return card(
        body,
        [
            execute(
                "Make this my core CoP (the other becomes wider)",
                "membership.join",
                {**data, "tier": "core", "switch": "yes"},
                style="positive",
            ),
            execute("Join as wider", "membership.join", {**data, "tier": "wider"}),
        ],
        summary="You are core in another CoP",
    )


def joined_card(cop: CopChoice, tier: Tier, *, demoted: CopChoice | None = None, warning: str = "") -> Card:
    body = [
        heading(f"Welcome to {safe(cop.name, 120)}"),
        text(f"You are now a **{TIER_NAMES[tier]}** of {safe(cop.name, 120)}.", color="good"),
    ]
    if demoted is not None:
        body.append(text(f"{safe(demoted.name, 120)} is now one of your wider memberships."))
    if warning:
        body.append(text(warning, color="warning"))
    body.append(text("Type **me** in a chat with me to see your CoPs or edit your profile.", subtle=True))
    return card(body, [execute("My CoPs", "membership.me")], summary=f"You joined {cop.name}")


def leave_card(choices: Sequence[CopChoice]) -> Card:
    """Confirmation before leaving: one CoP, or a choice of the person's CoPs."""
    if len(choices) == 1:
        only = choices[0]
        body = [
            heading(f"Leave {safe(only.name, 120)}?"),
            text("Your profile is kept; you can join again at any time."),
        ]
        return card(
            body,
            [
                execute("Yes, leave", "membership.leave", {"cop_id": only.cop_id}, style="destructive"),
                execute("Stay", "membership.stay", {"cop_id": only.cop_id}),
            ],
            summary=f"Leave {only.name}?",
        )
    body = [
        heading("Leave a CoP?"),
        input_choice(
            "choose_cop", label="Which CoP?", choices=[(safe(c.name, 80), c.cop_id) for c in choices], required=True
        ),
        text("Your profile is kept; you can join again at any time.", subtle=True),
    ]
    return card(
        body,
        [
            execute("Yes, leave", "membership.leave", {"cop_id": ""}, style="destructive"),
            execute("Stay", "membership.stay", {"cop_id": ""}),
        ],
        summary="Leave a CoP?",
    )


def me_card(memberships: Sequence[tuple[Membership, str]], profile: Profile | None) -> Card:
    """My CoPs and tiers (membership, CoP name), and my profile, with an edit button."""
    body: list[JSON] = [heading("Your CoPs")]
    if memberships:
        body.append(
            facts(
                (
                    safe(name, 120),
                    f"{TIER_NAMES[m.tier]} since {when(m.joined_at)}",
                )
                for m, name in memberships
            )
        )
    else:
        body.append(text("You are not a member of any CoP yet. Type **cops** to browse them, or **join**."))
    body.append(text("Your profile", weight="bolder", spacing="medium"))
    if profile is not None:
        area = ORG_AREA_NAMES.get(profile.org_area, "")
        body.append(
            facts(
                [
                    ("Area", safe(area + (f" — {profile.org_unit}" if profile.org_unit else ""), 200) or "—"),
                    ("Job family", safe(profile.job_family, 80) or "—"),
                    ("Interests", safe(", ".join(profile.interests), 600) or "—"),
                ]
            )
        )
    else:
        body.append(text("You have not told me about yourself yet.", subtle=True))
    return card(body, [execute("Edit my profile", "membership.profile")], summary="Your CoPs")


def profile_card(profile: Profile | None) -> Card:
    body: list[JSON] = [heading("Your profile")]
    body.extend(profile_inputs(profile, prefill=True)[1:])
    return card(body, [execute("Save profile", "membership.profile.save", style="positive")], summary="Your profile")


def profile_saved_card(profile: Profile) -> Card:
    return notice("Your profile is saved and used for every CoP you belong to.", title="Profile saved")


def examples() -> Iterable[tuple[str, Card]]:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    cop = CopChoice("19:team-1@thread.tacv2", "Data and Insight", "Planning")
    other = CopChoice("19:team-2@thread.tacv2", "Internal Communications", "Communications and Marketing")
    profile = Profile(
        "aad-0001", "29:user-1", "Alice Adams", "central", "Planning", "Professional services", ("Power BI", "SQL")
    )
    yield "join-channel", join_card(cop, None, prefill=False, shared=True)
    yield "join-personal-choice", join_card(None, profile, prefill=True, choices=[cop, other])
    yield "join-current", join_card(cop, profile, prefill=True, current="wider")
    yield "welcome", join_card(cop, None, prefill=False, greeting="Welcome to the team! Would you like to join?")
    yield "core-elsewhere", core_elsewhere_card(cop, other, {"org_area": "central"})
    yield "joined", joined_card(cop, "core", demoted=other)
    yield "joined-warning", joined_card(cop, "core", warning="You are also core in Internal Communications.")
    yield "leave-one", leave_card([cop])
    yield "leave-choice", leave_card([cop, other])
    membership = Membership(cop.cop_id, "aad-0001", "29:user-1", "Alice Adams", "core", now)
    yield "me", me_card([(membership, cop.name)], profile)
    yield "me-empty", me_card([], None)
    yield "profile", profile_card(profile)
    yield "profile-saved", profile_saved_card(profile)
