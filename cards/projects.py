"""Project cards: a CoP's project list, one project's card (details, updates, outcome and its buttons), the project,
update and outcome forms, and the personal notice a follower gets."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.turn import JSON, Card
from bot.domain.cops import PersonRef
from bot.domain.projects import (
    CASE_STUDY_MAX,
    CHANGED_MAX,
    GOAL_MAX,
    STATUSES,
    TITLE_MAX,
    UPDATE_MAX,
    USERS_MAX,
    Outcome,
    Project,
    Update,
)
from cards.elements import (
    action_set,
    card,
    execute,
    facts,
    heading,
    input_choice,
    input_date,
    input_text,
    open_url,
    safe,
    show_card,
    text,
)

SHOWN_UPDATES = 5
STATUS_COLOURS = {"proposed": "default", "running": "accent", "paused": "warning", "finished": "good"}


@dataclass(frozen=True)
class Listed:
    project: Project
    cop_name: str


def _names(people: Sequence[PersonRef]) -> str:
    return ", ".join(safe(p.name or "a member", 80) for p in people) or "nobody yet"


def _date(value: date | None) -> str:
    return f"{value.day} {value:%b %Y}" if value else "not set"


def _ids(project: Project) -> dict[str, str]:
    return {"cop_id": project.cop_id, "id": project.project_id}


def projects_list_card(items: Sequence[Listed], *, show_cop: bool, new_for: Sequence[tuple[str, str]] = ()) -> Card:
    """The projects, one line each, grouped by CoP, with one "Open" button per CoP under a list to choose from (one
    button rather than one per project: a card with many buttons is slow to seal and heavy to send). ``new_for``:
    (CoP id, name) of the CoPs where the viewer may register a project (a button each)."""
    body: list[JSON] = [heading("Projects")]
    if not items:
        body.append(text("No projects are registered yet.", subtle=True))
    groups: dict[str, list[Listed]] = {}
    for item in items:
        groups.setdefault(item.project.cop_id, []).append(item)
    for n, (cop_id, group) in enumerate(groups.items()):
        if show_cop:
            body.append(text(safe(group[0].cop_name, 120), weight="bolder", spacing="medium"))
        for item in group:
            p = item.project
            outcome = " · outcome recorded" if p.outcome else ""
            line = f"**{safe(p.title, TITLE_MAX)}** · {STATUSES[p.status]} · led by {_names(p.leads)}{outcome}"
            body.append(text(line, spacing="small"))
        field = f"project_{n}"
        choices = [(p.project.title[:TITLE_MAX], p.project.project_id) for p in group]
        body.append(input_choice(field, label="Open a project", choices=choices, value=choices[0][1]))
        body.append(action_set([execute("Open", "project.view", {"cop_id": cop_id, "id": "", "field": field})]))
    actions = [
        execute(
            "Register a project" + (f" in {safe(name, 40)}" if len(new_for) > 1 else ""),
            "project.new",
            {"cop_id": cop_id, "id": ""},
        )
        for cop_id, name in new_for[:5]
    ]
    return card(body, actions, summary=f"{len(items)} projects")


def _update_lines(updates: Sequence[Update], tz: ZoneInfo) -> list[JSON]:
    shown = list(reversed(updates))[:SHOWN_UPDATES]
    out: list[JSON] = []
    for u in shown:
        local = u.at.astimezone(tz)
        who = safe(u.by_name, 80) if u.by_name else "a former member"
        out.append(text(f"{local.day} {local:%b %Y}, {who}", subtle=True, spacing="small", size="small"))
        out.append(text(safe(u.text, 600), spacing="none"))
    if len(updates) > SHOWN_UPDATES:
        out.append(text(f"{len(updates) - SHOWN_UPDATES} earlier updates not shown.", subtle=True, size="small"))
    return out


def _outcome_blocks(outcome: Outcome) -> list[JSON]:
    blocks: list[JSON] = [
        text("Outcome", weight="bolder", spacing="medium"),
        facts(
            [
                ("What changed", safe(outcome.changed, CHANGED_MAX)),
                ("Who uses it", safe(outcome.users, USERS_MAX) or "not said"),
            ]
        ),
    ]
    if outcome.case_study:
        blocks.append(text(safe(outcome.case_study, CASE_STUDY_MAX)))
    return blocks


def project_card(project: Project, cop_name: str, tz: ZoneInfo, *, can_edit: bool, following: bool) -> Card:
    p = project
    body: list[JSON] = [
        heading(safe(p.title, TITLE_MAX)),
        text(f"{safe(cop_name, 120)} · {STATUSES[p.status]}", subtle=True, spacing="none"),
    ]
    if p.goal:
        body.append(text(safe(p.goal, GOAL_MAX)))
    body.append(
        facts(
            [
                ("Status", STATUSES[p.status]),
                ("Led by", _names(p.leads)),
                ("Taking part", _names(p.participants)),
                ("Started", _date(p.start)),
                ("Ends" if p.status != "finished" else "Ended", _date(p.end)),
            ]
        )
    )
    if p.updates:
        body.append(text("Updates", weight="bolder", spacing="medium"))
        body += _update_lines(p.updates, tz)
    if p.outcome is not None:
        body += _outcome_blocks(p.outcome)
    ids = _ids(p)
    actions: list[JSON] = []
    if can_edit:
        actions.append(
            show_card(
                "Add an update",
                [
                    input_text("note", label="Update", multiline=True, max_length=UPDATE_MAX, required=True),
                    action_set([execute("Save update", "project.update", ids, style="positive")]),
                ],
            )
        )
        actions.append(
            show_card(
                "Change status",
                [
                    input_choice(
                        "status",
                        label="Status",
                        choices=[(t, k) for k, t in STATUSES.items()],
                        value=p.status,
                        required=True,
                    ),
                    action_set([execute("Save status", "project.status", ids, style="positive")]),
                ],
            )
        )
        actions.append(execute("Record outcome", "project.outcome_form", ids))
        actions.append(execute("Edit", "project.edit", ids))
    actions.append(
        execute("Unfollow" if following else "Follow", "project.unfollow" if following else "project.follow", ids)
    )
    link_buttons = [open_url(f"Link {n}", link) for n, link in enumerate(p.outcome.links, 1)] if p.outcome else []
    if link_buttons:
        body.append(action_set(link_buttons))
    return card(body, actions, summary=f"Project: {p.title[:60]}")


def project_form(
    cop_id: str,
    cop_name: str,
    project_id: str,
    people: Sequence[PersonRef],
    values: Mapping[str, str],
    *,
    editing: bool = False,
    error: str = "",
) -> Card:
    """The register / edit form. ``people``: whom the lead and participant lists may name (the CoP's members and
    leads). A new project's id is made with the form (and sealed into its button), so a double click registers it
    once."""
    body: list[JSON] = [
        heading("Edit the project" if editing else "Register a project"),
        text(safe(cop_name, 120), subtle=True),
    ]
    if error:
        body.append(text(safe(error, 300), color="attention", weight="bolder"))
    choices = [(p.name or "a member", p.aad_id) for p in people]
    body += [
        input_text("title", label="Title", value=values.get("title", ""), max_length=TITLE_MAX, required=True),
        input_text("goal", label="Goal", value=values.get("goal", ""), multiline=True, max_length=GOAL_MAX),
        input_choice("leads", label="Led by", choices=choices, value=values.get("leads", ""), multi=True),
        input_choice(
            "participants", label="Taking part", choices=choices, value=values.get("participants", ""), multi=True
        ),
        input_choice(
            "status",
            label="Status",
            choices=[(t, k) for k, t in STATUSES.items()],
            value=values.get("status", "") or "proposed",
            required=True,
        ),
        input_date("start", label="Start date", value=values.get("start", "")),
        input_date("end", label="End date", value=values.get("end", "")),
    ]
    verb = "project.save" if editing else "project.create"
    title = "Save changes" if editing else "Register"
    return card(body, [execute(title, verb, {"cop_id": cop_id, "id": project_id}, style="positive")], summary=title)


def outcome_form(project: Project, values: Mapping[str, str], *, error: str = "") -> Card:
    existing = project.outcome

    def value(name: str, fallback: str) -> str:
        return values.get(name, fallback)

    body: list[JSON] = [
        heading(f"Outcome: {safe(project.title, TITLE_MAX)}"),
        text("Recording the outcome marks the project finished; followers are told.", subtle=True),
    ]
    if error:
        body.append(text(safe(error, 300), color="attention", weight="bolder"))
    body += [
        input_text(
            "changed",
            label="What changed",
            value=value("changed", existing.changed if existing else ""),
            multiline=True,
            max_length=CHANGED_MAX,
            required=True,
        ),
        input_text(
            "users", label="Who uses it", value=value("users", existing.users if existing else ""), max_length=USERS_MAX
        ),
        input_text(
            "case_study",
            label="Case study",
            value=value("case_study", existing.case_study if existing else ""),
            multiline=True,
            max_length=CASE_STUDY_MAX,
        ),
        input_text(
            "links",
            label="Links (https://…, one per line, up to 5)",
            value=value("links", "\n".join(existing.links) if existing else ""),
            multiline=True,
            max_length=2600,
        ),
    ]
    return card(
        body,
        [execute("Record outcome", "project.outcome", _ids(project), style="positive")],
        summary="Record the outcome",
    )


def notice_card(project: Project, cop_name: str, what: str) -> Card:
    """What a follower gets when the project's status changes or its outcome is recorded."""
    body: list[JSON] = [
        heading(safe(project.title, TITLE_MAX)),
        text(f"{safe(cop_name, 120)} · project you follow", subtle=True, spacing="none"),
        text(safe(what, 300)),
    ]
    if project.outcome is not None and "outcome" in what.lower():
        body.append(facts([("What changed", safe(project.outcome.changed, 400))]))
    return card(
        body, [execute("Open the project", "project.view", _ids(project))], summary=f"{project.title[:60]}: {what[:60]}"
    )


def export_card(scope: str, url: str, minutes: int) -> Card:
    body = [
        heading(f"Projects of {safe(scope, 120)} (CSV)"),
        text("Each project with its status, people, dates and outcome: what changed, who uses it, the case study."),
        text(f"The link works for {minutes} minutes and only for people who have it; don't forward it.", subtle=True),
    ]
    return card(body, [open_url("Download CSV", url)], summary="Projects CSV")


def examples() -> Iterable[tuple[str, Card]]:
    lead = PersonRef("aad-1", "29:1", "Alice [Lead]")
    when = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    project = Project(
        cop_id="19:team@thread.tacv2",
        project_id="0123456789ab",
        title="Shared **dashboard** templates",
        goal="One template for every team's monthly figures.",
        status="finished",
        leads=(lead,),
        participants=(PersonRef("aad-2", "29:2", "Bo"),),
        start=date(2026, 9, 1),
        end=date(2026, 11, 20),
        updates=(Update(when, "aad-1", "Alice", "First draft shared with # three teams."),),
        outcome=Outcome(
            "Monthly reports take a day, not a week.",
            "Finance and Estates",
            "Case study…",
            ("https://example.org/t",),
            when,
        ),
    )
    tz = ZoneInfo("Europe/London")
    yield "list", projects_list_card([Listed(project, "Data and Insight")], show_cop=True, new_for=[("c", "Data")])
    yield "empty-list", projects_list_card([], show_cop=False)
    yield "card-lead", project_card(project, "Data and Insight", tz, can_edit=True, following=False)
    yield "card-member", project_card(project, "Data and Insight", tz, can_edit=False, following=True)
    yield "form", project_form("c", "Data", "0123456789ab", [lead], {"title": "x"}, error="Title is required.")
    yield "outcome-form", outcome_form(project, {}, error="What changed is required.")
    yield "notice", notice_card(project, "Data and Insight", "Its outcome was recorded.")
    yield "export", export_card("every CoP", "https://bot.example/files/tok", 15)
