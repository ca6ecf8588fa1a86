"""``projects`` and ``project new``: a CoP's projects, their updates and outcomes, and the members following them.

Leads and core members register a project; its own leads and the CoP's leads (no one else) edit it: details,
dated updates, status, and the outcome (what changed, who uses it, a case study, links), which marks it finished.
Members follow a project and get a personal notice through the outbox when its status changes or its outcome is
recorded. Finished projects with an outcome count in the health scorecard's Impact area (bot/health/providers.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from bot.core.expiring import ExpiringCopies
from bot.core.turn import Card, Person, Role
from bot.domain.cops import Cop, PersonRef
from bot.domain.members import MembershipRepo
from bot.domain.projects import (
    STATUSES,
    Busy,
    Project,
    ProjectRepo,
    TooMany,
    Update,
    details_from,
    is_project_id,
    new_project_id,
    outcome_from,
    people_from,
    status_from,
    update_text_from,
    with_update,
)
from bot.domain.validation import BadInput
from bot.features.project_reports import register_reports
from bot.features.resources import cops_in_view
from bot.jobs.scheduler import zone
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.projects import Listed, notice_card, outcome_form, project_card, project_form, projects_list_card

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

PEOPLE_CHOICES_MAX = 200
NO_COP = "Which CoP? Use this in the CoP's channel (or in our chat when you belong to one CoP)."
NOT_CREATOR = "Only the CoP's leads and core members can register a project."
NOT_EDITOR = "Only the project's leads and the CoP's leads can change this project."
UNKNOWN = "I can't find that project any more; type **projects** for the current list."
NOT_MEMBER = "Following a project is for members of its CoP."
BUSY = "Someone else was changing the project at the same moment; nothing was changed. Please try again."
TOO_MANY = "This CoP already has the most projects I keep ({n}); nothing was added."
FOLLOWING = "You'll get a personal note when this project changes status or records its outcome."
UNFOLLOWED = "You no longer follow this project."


def projects_repo(services: Services) -> ProjectRepo:
    return ProjectRepo(services.store)


def copies(services: Services) -> ExpiringCopies[list[Project]]:
    """This process's copies of each CoP's project list for ``projects``, kept COPBOT_COP_CACHE_SECONDS (0 in tests:
    none kept). A change made on this instance drops the copy at once; one made on another instance shows in the
    list when the copy expires (a project's own card is always read afresh)."""
    if services.project_copies is None:
        services.project_copies = ExpiringCopies[list[Project]](services.settings.cop_cache_seconds)
    return services.project_copies


async def projects_of(services: Services, cop_id: str) -> list[Project]:
    cache = copies(services)
    found = cache.get(cop_id)
    if found is None:
        generation = cache.generation
        found = await projects_repo(services).of_cop(cop_id)
        cache.put(cop_id, found, generation)
    return found


async def _show(turn: Turn, shown: Card) -> None:
    if turn.request.kind == "action":
        turn.respond.answer_action(shown)
    else:
        await turn.respond.reply(shown)


async def _cop(turn: Turn) -> Cop:
    """The CoP of this turn (a team's, or the one a button names); a :class:`Refusal` saying why otherwise."""
    return await turn.require_cop(NO_COP, active=True)


async def _is_core_or_lead(turn: Turn, cop: Cop) -> bool:
    aad = turn.request.person.aad_id
    if cop.is_lead(aad):
        return True
    state = turn.person_state
    if state is not None:
        found = state.memberships.get(cop.cop_id)
        membership = found[0] if found else None
    else:
        membership = await MembershipRepo(turn.services.store).membership(cop.cop_id, aad) if aad else None
    return membership is not None and membership.tier == "core"


async def _people(services: Services, cop: Cop) -> list[PersonRef]:
    """Whom a project may name: the CoP's leads and members (by name; the first :data:`PEOPLE_CHOICES_MAX`)."""
    members = await MembershipRepo(services.store).members_of(cop.cop_id)
    found: dict[str, PersonRef] = {p.aad_id: p for p in cop.leads}
    for m in members:
        found.setdefault(m.aad_id, PersonRef(m.aad_id, m.user_id, m.name))
    return sorted(found.values(), key=lambda p: (p.name.lower(), p.aad_id))[:PEOPLE_CHOICES_MAX]


async def _target(turn: Turn) -> tuple[Cop, Project] | None:
    """The CoP and project a (sealed) button names, or None after saying why."""
    action = turn.request.action
    assert action is not None  # only called from actions
    cop = await _cop(turn)
    project_id = action.data.get("id")
    if project_id == "" and isinstance(action.data.get("field"), str):  # chosen from the list's "Open a project"
        project_id = action.data.get(str(action.data["field"]))
    project = await projects_repo(turn.services).get(cop.cop_id, str(project_id)) if is_project_id(project_id) else None
    if project is None:
        await turn.tell(UNKNOWN)
        return None
    return cop, project


def _may_edit(turn: Turn, cop: Cop, project: Project) -> bool:
    aad = turn.request.person.aad_id
    return cop.is_lead(aad) or project.is_lead(aad)


async def _card(turn: Turn, cop: Cop, project: Project) -> Card:
    aad = turn.request.person.aad_id
    following = await projects_repo(turn.services).is_following(cop.cop_id, project.project_id, aad) if aad else False
    tz = zone(cop.timezone, turn.services.settings.tz)
    return project_card(project, cop.name, tz, can_edit=_may_edit(turn, cop, project), following=following)


def _values(data: Any) -> dict[str, str]:
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str) and not k.startswith("_")}


def _form_values(project: Project) -> dict[str, str]:
    return {
        "title": project.title,
        "goal": project.goal,
        "status": project.status,
        "leads": ",".join(p.aad_id for p in project.leads),
        "participants": ",".join(p.aad_id for p in project.participants),
        "start": project.start.isoformat() if project.start else "",
        "end": project.end.isoformat() if project.end else "",
    }


async def _notify(services: Services, cop: Cop, project: Project, what: str, stamp: str, actor: str) -> int:
    """A personal notice to each follower but the one who made the change (idempotent by key)."""
    if not cop.home_reference:
        log.info("project notice skipped: no home channel cop_id=%s project_id=%s", cop.cop_id, project.project_id)
        return 0
    now = services.clock.now()
    message = notice_card(project, cop.name, what)
    queued = 0
    followers, members = await asyncio.gather(
        projects_repo(services).followers(cop.cop_id, project.project_id),
        MembershipRepo(services.store).members_of(cop.cop_id),
    )
    still_in = {m.aad_id for m in members} | {lead.aad_id for lead in cop.leads}
    for f in followers:
        if f.aad_id == actor or not f.user_id or f.aad_id not in still_in:  # not those who left the CoP since
            continue
        key = f"project|{cop.cop_id}|{project.project_id}|{stamp}|{f.aad_id}"
        person = Person(f.user_id, f.aad_id, f.name)
        queued += await services.outbox.enqueue(
            key, cop.home_reference, message, now, cop_id=cop.cop_id, personal_for=person
        )
    return queued


async def _change(
    turn: Turn, cop: Cop, project: Project, edit: Callable[[Project], Project], action: str
) -> tuple[Project, Project] | None:
    services = turn.services
    now = services.clock.now()
    try:
        changed = await projects_repo(services).change(cop.cop_id, project.project_id, now, edit)
    except Busy:
        copies(services).forget(cop.cop_id)
        await turn.tell(BUSY)
        return None
    copies(services).forget(cop.cop_id)
    if changed is None:
        await turn.tell(UNKNOWN)
        return None
    person = turn.request.person
    await audit.record(services.store, cop.cop_id, now, person.aad_id, person.name, action, project.project_id)
    log.info("%s cop_id=%s project_id=%s", action, cop.cop_id, project.project_id)
    return changed


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("projects", help="The CoP's projects and their outcomes; follow one for news")
    async def list_projects(turn: Turn) -> None:
        services = turn.services
        cops: list[Cop]
        if not turn.request.place.is_personal:
            cop = await _cop(turn)
            cops = [cop]
        else:
            cops = await cops_in_view(turn)
            if not cops:
                await turn.tell(
                    "You aren't in any CoP yet, so there are no projects to show. Type **cops** to find one."
                )
                return
        items: list[Listed] = []
        creators: list[tuple[str, str]] = []
        for cop in cops:
            items += [Listed(p, cop.name) for p in await projects_of(services, cop.cop_id)]
            if await _is_core_or_lead(turn, cop):
                creators.append((cop.cop_id, cop.name))
        order = {"running": 0, "proposed": 1, "paused": 2, "finished": 3}
        items.sort(key=lambda i: (order[i.project.status], i.project.title.lower()))
        await turn.respond.reply(projects_list_card(items, show_cop=len(cops) > 1, new_for=creators))

    async def new_form(turn: Turn) -> None:
        cop = await _cop(turn)
        if not await _is_core_or_lead(turn, cop):
            await turn.tell(NOT_CREATOR)
            return
        me = turn.request.person.aad_id
        await _show(
            turn, project_form(cop.cop_id, cop.name, new_project_id(), await _people(turn.services, cop), {"leads": me})
        )

    router.command("project new", help="Register a CoP project (leads and core members)", role=Role.MEMBER)(new_form)
    router.action("project.new", role=Role.MEMBER)(new_form)

    @router.action("project.create", role=Role.MEMBER)
    async def create(turn: Turn) -> None:
        action = turn.request.action
        assert action is not None
        cop = await _cop(turn)
        if not await _is_core_or_lead(turn, cop):
            await turn.tell(NOT_CREATOR)
            return
        project_id = action.data.get("id")
        if not is_project_id(project_id):
            await turn.tell(UNKNOWN)
            return
        services = turn.services
        people = await _people(services, cop)
        known = {p.aad_id: p for p in people}
        try:
            details = details_from(action.data)
            leads = people_from(action.data.get("leads"), known, "Led by")
            participants = people_from(action.data.get("participants"), known, "Taking part")
        except BadInput as problem:
            values = _values(action.data)
            turn.respond.answer_action(
                project_form(cop.cop_id, cop.name, str(project_id), people, values, error=str(problem))
            )
            return
        person = turn.request.person
        if not leads:
            leads = (PersonRef(person.aad_id, person.user_id, person.name),)
        now = services.clock.now()
        draft = Project(
            cop.cop_id,
            str(project_id),
            details.title,
            details.goal,
            details.status,
            leads,
            participants,
            details.start,
            details.end,
            created_at=now,
            updated_at=now,
        )
        try:
            project = await projects_repo(services).create(draft)
            copies(services).forget(cop.cop_id)
        except TooMany:
            await turn.tell(TOO_MANY.format(n=len(await projects_repo(services).of_cop(cop.cop_id))))
            return
        await audit.record(
            services.store, cop.cop_id, now, person.aad_id, person.name, "project.create", project.project_id
        )
        log.info("project created cop_id=%s project_id=%s", cop.cop_id, project.project_id)
        await _show(turn, await _card(turn, cop, project))

    @router.action("project.view")
    async def view(turn: Turn) -> None:
        found = await _target(turn)
        if found is not None:
            await _show(turn, await _card(turn, *found))

    def editor_action(verb: str) -> Callable[[Callable[[Turn, Cop, Project], Awaitable[None]]], None]:
        """Register ``verb`` for the project's editors only: the seal proves the button, this proves the person."""

        def wrap(handler: Callable[[Turn, Cop, Project], Awaitable[None]]) -> None:
            async def run(turn: Turn) -> None:
                found = await _target(turn)
                if found is None:
                    return
                cop, project = found
                if not _may_edit(turn, cop, project):
                    await turn.tell(NOT_EDITOR)
                    return
                await handler(turn, cop, project)

            router.action(verb, role=Role.MEMBER)(run)

        return wrap

    @editor_action("project.edit")
    async def edit(turn: Turn, cop: Cop, project: Project) -> None:
        people = await _people(turn.services, cop)
        extra = [p for p in (*project.leads, *project.participants) if p.aad_id not in {q.aad_id for q in people}]
        form = project_form(
            cop.cop_id, cop.name, project.project_id, [*people, *extra], _form_values(project), editing=True
        )
        await _show(turn, form)

    @editor_action("project.save")
    async def save(turn: Turn, cop: Cop, project: Project) -> None:
        action = turn.request.action
        assert action is not None
        people = await _people(turn.services, cop)
        known = {p.aad_id: p for p in (*people, *project.leads, *project.participants)}
        try:
            details = details_from(action.data)
            leads = people_from(action.data.get("leads"), known, "Led by")
            participants = people_from(action.data.get("participants"), known, "Taking part")
        except BadInput as problem:
            values = _values(action.data)
            turn.respond.answer_action(
                project_form(
                    cop.cop_id,
                    cop.name,
                    project.project_id,
                    list(known.values()),
                    values,
                    editing=True,
                    error=str(problem),
                )
            )
            return

        def apply(p: Project) -> Project:
            return replace(
                p,
                title=details.title,
                goal=details.goal,
                status=details.status,
                leads=leads or p.leads,
                participants=participants,
                start=details.start,
                end=details.end,
            )

        changed = await _change(turn, cop, project, apply, "project.edit")
        if changed is not None:
            await _after_status(turn, cop, *changed)
            await _show(turn, await _card(turn, cop, changed[1]))

    @editor_action("project.update")
    async def add_update(turn: Turn, cop: Cop, project: Project) -> None:
        action = turn.request.action
        assert action is not None
        try:
            note = update_text_from(action.data)
        except BadInput as problem:
            await turn.tell(f"{problem} Nothing was changed.")
            return
        person = turn.request.person
        entry = Update(turn.services.clock.now(), person.aad_id, person.name, note)
        changed = await _change(turn, cop, project, lambda p: with_update(p, entry), "project.update")
        if changed is not None:
            await _show(turn, await _card(turn, cop, changed[1]))

    @editor_action("project.status")
    async def change_status(turn: Turn, cop: Cop, project: Project) -> None:
        action = turn.request.action
        assert action is not None
        try:
            status = status_from(action.data.get("status"))
        except BadInput as problem:
            await turn.tell(f"{problem} Nothing was changed.")
            return
        today = turn.services.clock.now().astimezone(zone(cop.timezone, turn.services.settings.tz)).date()

        def apply(p: Project) -> Project:
            end = p.end or (today if status == "finished" else None)
            start = p.start or (today if status == "running" else None)
            return replace(p, status=status, start=start, end=end)

        changed = await _change(turn, cop, project, apply, "project.status")
        if changed is not None:
            await _after_status(turn, cop, *changed)
            await _show(turn, await _card(turn, cop, changed[1]))

    @editor_action("project.outcome_form")
    async def outcome_form_action(turn: Turn, cop: Cop, project: Project) -> None:
        await _show(turn, outcome_form(project, {}))

    @editor_action("project.outcome")
    async def record_outcome(turn: Turn, cop: Cop, project: Project) -> None:
        action = turn.request.action
        assert action is not None
        now = turn.services.clock.now()
        try:
            outcome = outcome_from(action.data, now)
        except BadInput as problem:
            turn.respond.answer_action(outcome_form(project, _values(action.data), error=str(problem)))
            return
        today = now.astimezone(zone(cop.timezone, turn.services.settings.tz)).date()
        changed = await _change(
            turn,
            cop,
            project,
            lambda p: replace(p, outcome=outcome, status="finished", end=p.end or today),
            "project.outcome",
        )
        if changed is None:
            return
        after = changed[1]
        stamp = f"outcome-{int(now.timestamp())}"
        await _notify(turn.services, cop, after, "Its outcome was recorded.", stamp, turn.request.person.aad_id)
        await _show(turn, await _card(turn, cop, after))

    async def _after_status(turn: Turn, cop: Cop, before: Project, after: Project) -> None:
        if before.status == after.status:
            return
        stamp = f"status-{after.status}-{int(turn.services.clock.now().timestamp())}"
        what = f"Its status changed from {STATUSES[before.status]} to {STATUSES[after.status]}."
        await _notify(turn.services, cop, after, what, stamp, turn.request.person.aad_id)

    @router.action("project.follow", role=Role.MEMBER)
    async def follow(turn: Turn) -> None:
        found = await _target(turn)
        if found is None:
            return
        cop, project = found
        person = turn.request.person
        await projects_repo(turn.services).follow(
            cop.cop_id, project.project_id, person.aad_id, person.user_id, person.name
        )
        log.info("project followed cop_id=%s project_id=%s", cop.cop_id, project.project_id)
        if turn.request.kind == "action":
            turn.respond.answer_action(await _card(turn, cop, project))
        else:
            await turn.respond.reply(FOLLOWING)

    @router.action("project.unfollow", role=Role.MEMBER)
    async def unfollow(turn: Turn) -> None:
        found = await _target(turn)
        if found is None:
            return
        cop, project = found
        await projects_repo(turn.services).unfollow(cop.cop_id, project.project_id, turn.request.person.aad_id)
        if turn.request.kind == "action":
            turn.respond.answer_action(await _card(turn, cop, project))
        else:
            await turn.respond.reply(UNFOLLOWED)

    async def export(services: Services, aad_id: str) -> Any:
        return await projects_repo(services).export_person(aad_id)

    async def erase(services: Services, aad_id: str) -> None:
        touched = await projects_repo(services).erase_person(aad_id, services.clock.now())
        copies(services).clear()
        log.info("projects: erased personal data rows=%d", touched)

    privacy.register("projects", export, erase)
    register_reports(router, links)
