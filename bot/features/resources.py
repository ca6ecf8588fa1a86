"""``resources [words]`` and ``share resource``: the CoP's shared repertoire (guides, templates, recordings,
slides, tools), a Lunch and Learn's recording and slides, and the few resources offered beside an ``ask`` answer.

Members share; whoever shared a resource, and the CoP's leads, may remove it. Words are matched with the FAQ's
text analysis (bot/domain/resources.py), so "templates for reports" finds "Report template".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot.core.expiring import ExpiringCopies
from bot.core.turn import Card, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.events import EventRepo, is_event_id
from bot.domain.members import MembershipRepo
from bot.domain.queries import MAX_TEXT_CHARS
from bot.domain.resources import (
    KINDS,
    MAX_PER_COP,
    Kind,
    Resource,
    ResourceRepo,
    Taken,
    TooMany,
    draft_from,
    event_resource_id,
    is_resource_id,
    new_resource_id,
    newest_first,
    rank,
)
from bot.domain.validation import BadInput
from bot.domain.web_links import clean_link
from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.elements import action_set, notice, open_url
from cards.resources import Shown, attach_form, lunch_and_learns_card, offered_card, resources_card, share_form

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

LISTED = 10
ATTACH_DAYS = 90  # Lunch and Learns offered by resources attach: the last 90 days and any to come
OFFERED = 3
NO_COP = "Which CoP? Use this in the CoP's channel (or in our chat when you belong to one CoP)."
NOT_YOURS = "Only whoever shared a resource, or the CoP's leads, can remove it."
GONE = "That resource has already been removed."
USED_FORM = (
    "Someone already shared a resource with that form, so nothing was changed. Type **share resource** for yours."
)
NOT_LUNCH = "Recordings and slides can be attached to this CoP's Lunch and Learns only."
TOO_MANY = f"This CoP already shares the most resources I keep ({MAX_PER_COP}); remove some first. Nothing was added."


async def _show(turn: Turn, shown: Card) -> None:
    if turn.request.kind == "action":
        turn.respond.answer_action(shown)
    else:
        await turn.respond.reply(shown)


async def _cop(turn: Turn) -> Cop:
    return await turn.require_cop(NO_COP, active=True)


async def cops_in_view(turn: Turn) -> list[Cop]:
    """In a team, its CoP. In a personal chat, every CoP the person belongs to or leads (not only the one the role
    check settled on)."""
    if not turn.request.place.is_personal:
        cop = await turn.load_cop()
        return [cop] if cop is not None and cop.active else []
    aad = turn.request.person.aad_id
    memberships = turn.memberships
    if memberships is None:  # the role check found the one CoP they lead without reading them
        memberships = await MembershipRepo(turn.services.store).memberships_of(aad) if aad else []
    mine = {m.cop_id for m in memberships}
    return [c for c in await turn.load_all_cops() if c.cop_id in mine or (aad and c.is_lead(aad))]


def copies(services: Services) -> ExpiringCopies[list[Resource]]:
    """This process's copies of each CoP's resources, kept COPBOT_COP_CACHE_SECONDS (0 in tests: none kept), so
    that ``ask``'s offers and repeated searches cost no storage round trip. A change made on this instance drops
    the copy at once; one made on another instance is seen here when the copy expires."""
    if services.resource_copies is None:
        services.resource_copies = ExpiringCopies[list[Resource]](services.settings.cop_cache_seconds)
    return services.resource_copies


async def resources_of(services: Services, cop_id: str) -> list[Resource]:
    cache = copies(services)
    found = cache.get(cop_id)
    if found is None:
        generation = cache.generation
        found = await ResourceRepo(services.store).of_cop(cop_id)
        cache.put(cop_id, found, generation)
    return found


def _removable(turn: Turn, cop: Cop, r: Resource) -> bool:
    aad = turn.request.person.aad_id
    return bool(aad) and (cop.is_lead(aad) or r.shared_by == aad)


async def _gather(services: Services, cops: list[Cop]) -> list[tuple[Cop, Resource]]:
    found = await asyncio.gather(*(resources_of(services, c.cop_id) for c in cops))
    return [(cop, r) for cop, rs in zip(cops, found, strict=True) for r in rs]


async def offer_for_question(turn: Turn, question: str) -> None:
    """Up to three shared resources that fit ``question``, sent beside the FAQ's reply (nothing when none fit)."""
    question = question.strip()
    if not question or len(question) > MAX_TEXT_CHARS or turn.request.kind != "message":
        return
    if turn.cop_id:  # the CoP the FAQ answered from, as the role check read it
        cop = turn.cop
        cops = [cop] if cop is not None and cop.cop_id == turn.cop_id and cop.active else []
    else:  # the CoPs the person belongs to, from the copies role resolution keeps: no read of every CoP per question
        named = [m.cop_id for m in turn.memberships or []]
        found = await asyncio.gather(*(cop_repo(turn.services).get_cached(c) for c in named))
        cops = [c for c in found if c is not None and c.active]
    if not cops:
        return
    pairs = await _gather(turn.services, cops)
    by_id = {(r.cop_id, r.resource_id): cop for cop, r in pairs}
    ranked = rank([r for _, r in pairs], question, limit=OFFERED, strong_only=True)
    if not ranked:
        return
    shown = [Shown(r, by_id[(r.cop_id, r.resource_id)].name, False) for r, _ in ranked]
    log.info("resources offered with an answer count=%d cop_id=%s", len(shown), turn.cop_id)
    await turn.respond.reply(offered_card(shown))


async def with_recordings(services: Services, shown: Card, cop_id: str, event_id: str) -> Card:
    """``shown`` (a Lunch and Learn's card) with buttons to its recording and slides, when they were attached."""
    attached = sorted((r for r in await resources_of(services, cop_id) if r.event_id == event_id), key=lambda r: r.kind)
    if not attached:
        return shown
    buttons = [open_url(KINDS[r.kind], r.url) for r in attached]
    body = [*shown.content.get("body", []), action_set(buttons)]
    return Card({**shown.content, "body": body}, shown.summary)


async def _attach(turn: Turn, cop: Cop, event_id: str, data: Any, now: datetime) -> Card:
    repo = EventRepo(turn.services.store)
    event = await repo.get(cop.cop_id, event_id)
    if event is None or event.kind != "lunch_and_learn" or event.cancelled:
        return notice(NOT_LUNCH)
    values = {k: v for k, v in data.items() if k in ("recording", "slides") and isinstance(v, str)}
    try:
        links: dict[Kind, str] = {
            "recording": clean_link(data.get("recording"), "Recording link"),
            "slides": clean_link(data.get("slides"), "Slides link"),
        }
        if not any(links.values()):
            raise BadInput("Give the recording link, the slides link or both.")
    except BadInput as problem:
        return attach_form(cop.cop_id, event.event_id, event.title, values, error=str(problem))
    resources = ResourceRepo(turn.services.store)
    existing = len(await resources.of_cop(cop.cop_id))
    person = turn.request.person
    local = event.local_start
    done: list[str] = []
    for kind, url in links.items():
        if not url:
            continue
        title = f"{event.title[:100]}: {'recording' if kind == 'recording' else 'slides'}"
        resource = Resource(
            cop.cop_id,
            event_resource_id(event.event_id, kind),
            title,
            url,
            kind,
            ("lunch and learn",),
            f"From the Lunch and Learn on {local.day} {local:%B %Y}.",
            person.aad_id,
            person.name,
            now,
            event.event_id,
        )
        try:
            await resources.add(resource, existing=existing, replace=True)
        except TooMany:
            return notice(TOO_MANY)
        finally:
            copies(turn.services).forget(cop.cop_id)
        done.append(kind)
    log.info(
        "lunch and learn resources attached cop_id=%s event_id=%s kinds=%s", cop.cop_id, event.event_id, ",".join(done)
    )
    return notice(
        f"Attached the {' and '.join(done)} to {event.title[:100]}; they are in **resources** now.", title="Attached"
    )


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("resources", help="The CoP's shared guides, templates, recordings and tools", usage="[words]")
    async def find(turn: Turn) -> None:
        words = turn.args.strip()[:200]
        cops = await cops_in_view(turn)
        if not cops:
            await turn.tell(NO_COP if turn.cop_id else "You aren't in any CoP yet. Type **cops** to find one.")
            return
        pairs = await _gather(turn.services, cops)
        of = {(r.cop_id, r.resource_id): cop for cop, r in pairs}
        chosen = (
            [r for r, _ in rank([r for _, r in pairs], words, limit=LISTED)]
            if words
            else newest_first([r for _, r in pairs])[:LISTED]
        )
        shown = [
            Shown(r, of[(r.cop_id, r.resource_id)].name, _removable(turn, of[(r.cop_id, r.resource_id)], r))
            for r in chosen
        ]
        aad = turn.request.person.aad_id
        mine = set((await turn.load_person_state()).memberships) if aad else set()
        share_in = [(c.cop_id, c.name) for c in cops if c.cop_id in mine or c.is_lead(aad)]
        await turn.respond.reply(
            resources_card(shown, safe_words(words), show_cop=len(cops) > 1, share_in=share_in, total=len(pairs))
        )

    async def form(turn: Turn) -> None:
        cop = await _cop(turn)
        await _show(turn, share_form(cop.cop_id, cop.name, new_resource_id(), {}))

    router.command("share resource", help="Share a guide, template, recording, slides or a tool", role=Role.MEMBER)(
        form
    )
    router.action("resource.share_form", role=Role.MEMBER)(form)

    @router.action("resource.share", role=Role.MEMBER)
    async def share(turn: Turn) -> None:
        action = turn.request.action
        assert action is not None
        cop = await _cop(turn)
        resource_id = action.data.get("id")
        if not is_resource_id(resource_id):
            await turn.tell("That form has been altered, so I ignored it. Type **share resource** to start again.")
            return
        try:
            draft = draft_from(action.data)
        except BadInput as problem:
            values = {k: v for k, v in action.data.items() if isinstance(v, str) and not k.startswith("_")}
            turn.respond.answer_action(share_form(cop.cop_id, cop.name, str(resource_id), values, error=str(problem)))
            return
        person = turn.request.person
        now = turn.services.clock.now()
        resource = Resource(
            cop.cop_id,
            str(resource_id),
            draft.title,
            draft.url,
            draft.kind,
            draft.tags,
            draft.why,
            person.aad_id,
            person.name,
            now,
        )
        try:
            stored = await ResourceRepo(turn.services.store).add(resource)
        except TooMany:
            await turn.tell(TOO_MANY)
            return
        except Taken:
            await turn.tell(USED_FORM)
            return
        finally:
            copies(turn.services).forget(cop.cop_id)
        log.info("resource shared cop_id=%s resource_id=%s", cop.cop_id, stored.resource_id)
        await _show(
            turn, resources_card([Shown(stored, cop.name, True)], "", show_cop=False, share_in=[(cop.cop_id, cop.name)])
        )

    @router.action("resource.remove", role=Role.MEMBER)
    async def remove(turn: Turn) -> None:
        action = turn.request.action
        assert action is not None
        cop = await _cop(turn)
        resource_id = action.data.get("id")
        repo = ResourceRepo(turn.services.store)
        resource = await repo.get(cop.cop_id, str(resource_id)) if is_resource_id(resource_id) else None
        if resource is None:
            await turn.tell(GONE)
            return
        if not _removable(turn, cop, resource):
            await turn.tell(NOT_YOURS)
            return
        await repo.remove(cop.cop_id, resource.resource_id)
        copies(turn.services).forget(cop.cop_id)
        log.info("resource removed cop_id=%s resource_id=%s", cop.cop_id, resource.resource_id)
        await _show(turn, notice(f"Removed the resource: {resource.title[:100]}", title="Removed"))

    @router.command("resources attach", help="Attach a Lunch and Learn's recording and slides", role=Role.LEAD)
    async def attach_list(turn: Turn) -> None:
        cop = await _cop(turn)
        now = turn.services.clock.now()
        events = await EventRepo(turn.services.store).of_cop(cop.cop_id)
        recent = [
            e
            for e in events
            if e.kind == "lunch_and_learn" and not e.cancelled and now - timedelta(days=ATTACH_DAYS) <= e.start
        ]
        recent.sort(key=lambda e: e.start, reverse=True)
        await turn.respond.reply(
            lunch_and_learns_card(cop.cop_id, [(e.event_id, e.title, e.local_start) for e in recent[:10]])
        )

    @router.action("resource.attach_form", role=Role.LEAD)
    async def attach_form_action(turn: Turn) -> None:
        action = turn.request.action
        assert action is not None
        cop = await _cop(turn)
        event_id = action.data.get("id")
        event = await EventRepo(turn.services.store).get(cop.cop_id, str(event_id)) if is_event_id(event_id) else None
        if event is None or event.kind != "lunch_and_learn" or event.cancelled:
            await turn.tell(NOT_LUNCH)
            return
        attached: dict[str, str] = {
            r.kind: r.url for r in await ResourceRepo(turn.services.store).of_event(cop.cop_id, event.event_id)
        }
        await _show(turn, attach_form(cop.cop_id, event.event_id, event.title, attached))

    @router.action("resource.attach", role=Role.LEAD)
    async def attach(turn: Turn) -> None:
        action = turn.request.action
        assert action is not None
        cop = await _cop(turn)
        event_id = action.data.get("id")
        if not is_event_id(event_id):
            await turn.tell(NOT_LUNCH)
            return
        await _show(turn, await _attach(turn, cop, str(event_id), action.data, turn.services.clock.now()))

    async def export(services: Services, aad_id: str) -> Any:
        shared = await ResourceRepo(services.store).shared_by(aad_id)
        if not shared:
            return None
        return [
            {
                "cop_id": r.cop_id,
                "title": r.title,
                "url": r.url,
                "kind": r.kind,
                "tags": list(r.tags),
                "why": r.why,
                "shared_at": r.shared_at.isoformat() if r.shared_at else "",
            }
            for r in shared
        ]

    async def erase(services: Services, aad_id: str) -> None:
        touched = await ResourceRepo(services.store).forget_sharer(aad_id)
        copies(services).clear()
        log.info("resources: erased personal data rows=%d", touched)

    privacy.register("resources", export, erase)


def safe_words(words: str) -> str:
    return " ".join(words.split())[:80]
