"""Install and removal of the bot in a team (the CoP registry), ``setup``, and the governance roles:
``leads add @x``, ``leads remove @x``, ``sponsor set @x``."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.core.turn import Person, Role
from bot.domain.cops import Cop, PersonRef, cop_repo
from bot.domain.validation import BadInput, clean_text
from bot.features.membership import load_cop, show
from bot.features.proposals import link, setup_choices, setup_view_extras
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.setup import (
    HOURS_MAX,
    HOURS_MIN,
    NAME_MAX,
    OBJECTIVES_MAX,
    PRACTICE_AREA_MAX,
    STATUS_NAMES,
    TOR_MAX,
    SetupView,
    saved_card,
    setup_card,
)
from storage.base import AlreadyExists

log = logging.getLogger(__name__)

PERSONAL_WELCOME = (
    "Hello! I'm CoP Bot. I help you find and join the university's Communities of Practice. "
    "Type **cops** to browse them, **join** to become a member, or **help** for everything else."
)
GROUP_WELCOME = "Hello! I work in CoP teams and in a personal chat with me. Type **help** to see what I can do."
FIRST_INSTALL = (
    "Thanks for adding me. I've registered this team as a Community of Practice and made you its first lead. "
    "Tell me a little about it; you can change this at any time with **setup**."
)
REINSTALL = "Welcome back! This CoP is active again, with its members, leads and settings as they were."
WHICH_COP = "Which CoP? Type **setup** in a channel of the CoP's team."
NOT_THIS_COP = "That card belongs to another CoP, so I ignored it. Type **setup** here for this CoP's card."
MIN_LEADS, MAX_LEADS = 2, 4


class Refused(Exception):
    """A governance change that would break a rule; the message says why."""


def governance_warnings(cop: Cop) -> list[str]:
    count = len(cop.leads)
    if count < MIN_LEADS:
        return [
            f"{cop.name} has {count} lead{'s' if count != 1 else ''}; the programme recommends "
            f"{MIN_LEADS} to {MAX_LEADS}. Add one with **leads add @name**."
        ]
    if count > MAX_LEADS:
        return [f"{cop.name} now has {count} leads; the programme recommends {MIN_LEADS} to {MAX_LEADS}."]
    return []


def _channel_reference(reference: dict[str, Any]) -> dict[str, Any]:
    """The reference of the channel itself, not of a thread inside it."""
    conversation = dict(reference.get("conversation") or {})
    if isinstance(conversation.get("id"), str):
        conversation["id"] = conversation["id"].split(";messageid=")[0]
    return {**reference, "conversation": conversation}


async def _with_roster_name(turn: Turn, person: Person) -> Person:
    """Install activities carry the installer's ids but no name: take it from the team roster."""
    if person.name:
        return person
    try:
        roster = await turn.respond.team_members()
    except Exception as error:  # the SDK raises its own HTTP errors; an unnamed lead is better than no CoP
        log.warning("roster unavailable for the installer's name (%s) cop_id=%s", type(error).__name__, turn.cop_id)
        return person
    for member in roster:
        if member.user_id == person.user_id or (person.aad_id and member.aad_id == person.aad_id):
            return Person(person.user_id, person.aad_id or member.aad_id, member.name)
    return person


async def _log(
    turn: Turn, cop_id: str, action: str, detail: str = "", actor: Person | None = None, subject: str = ""
) -> None:
    person = actor or turn.request.person
    now = turn.services.clock.now()
    await audit.record(
        turn.services.store, cop_id, now, person.aad_id, person.name, action, detail, subject_aad_id=subject
    )


async def resolve_mentioned(turn: Turn) -> list[PersonRef] | str:
    """The people @mentioned, resolved to AAD object ids through the team roster, or why not."""
    mentions = turn.request.mentions
    if not mentions:
        return "Mention the person, for example **leads add @Alex Smith**."
    roster = await turn.respond.team_members()
    by_user = {p.user_id: p for p in roster if p.user_id}
    by_aad = {p.aad_id: p for p in roster if p.aad_id}
    found: list[PersonRef] = []
    for mentioned in mentions:
        person = by_user.get(mentioned.user_id) or (by_aad.get(mentioned.aad_id) if mentioned.aad_id else None)
        if person is None or not person.aad_id:
            return (
                f"{mentioned.name or 'That person'} is not a member of this team, so I can't give them a role "
                "here. Add them to the team first."
            )
        found.append(PersonRef(person.aad_id, person.user_id, person.name or mentioned.name))
    return found


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.on("installed")
    async def installed(turn: Turn) -> None:
        place = turn.request.place
        if place.team_id is None:
            await turn.respond.reply(PERSONAL_WELCOME if place.is_personal else GROUP_WELCOME)
            return
        services = turn.services
        repo = cop_repo(services)
        now = services.clock.now()
        person = await _with_roster_name(turn, turn.request.person)
        try:
            details = await turn.respond.team_details()
        except Exception as error:  # the SDK raises its own HTTP errors; the activity's channel data will do
            log.warning(
                "team details unavailable (%s); using the activity's cop_id=%s", type(error).__name__, place.team_id
            )
            details = None
        group_id, name = details or (place.team_aad_group_id or "", place.team_name or "")
        name = name or place.team_name or "Unnamed CoP"
        installer = (PersonRef(person.aad_id, person.user_id, person.name),) if person.aad_id else ()
        home = _channel_reference(turn.request.conversation_reference)
        cop: Cop | None = None
        intro = FIRST_INSTALL
        if await repo.get(place.team_id) is None:
            try:
                cop = await repo.create(
                    Cop(
                        cop_id=place.team_id,
                        name=name,
                        tenant_id=place.tenant_id,
                        service_url=place.service_url,
                        aad_group_id=group_id,
                        leads=installer,
                        home_channel_id=place.channel_id or place.team_id,
                        home_reference=home,
                        created_at=now,
                        updated_at=now,
                    )
                )
            except AlreadyExists:
                cop = None  # another instance registered it a moment ago: treat as a re-install
        if cop is None:
            intro = REINSTALL

            def reactivate(old: Cop) -> Cop:
                return replace(
                    old,
                    active=True,
                    tenant_id=place.tenant_id or old.tenant_id,
                    service_url=place.service_url or old.service_url,
                    aad_group_id=group_id or old.aad_group_id,
                    leads=old.leads or installer,
                    home_channel_id=old.home_channel_id or place.channel_id or place.team_id or "",
                    home_reference=old.home_reference or home,
                    # a "no leads" flag is resolved by the installer becoming lead; delivery flags by the digest
                    flagged="" if not old.leads and installer else old.flagged,
                )

            cop = await repo.change(place.team_id, now, reactivate)
            if cop is None:
                return
        log.info("installed cop_id=%s intro=%s activity_id=%s", cop.cop_id, intro[:10], turn.request.activity_id)
        await _log(turn, cop.cop_id, "installed" if intro == FIRST_INSTALL else "reinstalled", cop.name, person)
        cop, extras = await setup_view_extras(services, cop)
        await turn.respond.reply(setup_card(SetupView(cop, here_is_home=True, intro=intro, **extras)))

    @router.on("uninstalled")
    async def uninstalled(turn: Turn) -> None:
        team_id = turn.request.place.team_id
        if team_id is None:
            return
        cop = await cop_repo(turn.services).change(
            team_id, turn.services.clock.now(), lambda c: replace(c, active=False)
        )
        if cop is not None:
            log.info("uninstalled cop_id=%s activity_id=%s", team_id, turn.request.activity_id)
            await _log(turn, team_id, "uninstalled", "data kept; the CoP is inactive")

    @router.command(
        "setup", help="Edit this CoP's profile and settings", role=Role.LEAD, places=("channel", "personal")
    )
    async def setup(turn: Turn) -> None:
        cop = await load_cop(turn, turn.cop_id) if turn.cop_id else None
        if cop is None:
            await turn.respond.reply(WHICH_COP)
            return
        here = turn.request.place.channel_id == cop.home_channel_id
        cop, extras = await setup_view_extras(turn.services, cop)
        await turn.respond.reply(setup_card(SetupView(cop, here_is_home=here, **extras)))

    @router.action("setup.open", role=Role.LEAD)
    async def reopen(turn: Turn) -> None:
        cop = await _card_cop(turn)
        if cop is not None:
            here = turn.request.place.channel_id == cop.home_channel_id
            cop, extras = await setup_view_extras(turn.services, cop)
            await show(turn, setup_card(SetupView(cop, here_is_home=here, **extras)))

    @router.action("setup.save", role=Role.LEAD)
    async def save(turn: Turn) -> None:
        cop = await _card_cop(turn)
        if cop is None:
            return
        assert turn.request.action is not None
        data = turn.request.action.data
        try:
            edit = _setup_edit(turn, data, cop)
            area_id, proposal_id = await setup_choices(turn.services, cop, data)
        except BadInput as error:
            await turn.tell(f"{error} Nothing was changed.")
            return
        now = turn.services.clock.now()
        saved = await cop_repo(turn.services).change(
            cop.cop_id, now, lambda c: edit(c) if area_id is None else replace(edit(c), practice_area_id=area_id)
        )
        if saved is None:
            await turn.tell("I can't find this CoP any more.")
            return
        await _log(turn, cop.cop_id, "setup saved", f"status={saved.status} home={saved.home_channel_id[:60]}")
        if proposal_id is not None:
            try:
                saved = await link(turn.services, saved, proposal_id, now)
            except BadInput as error:
                await turn.tell(f"The rest was saved, but not the proposal: {error}")
                return
            await _log(turn, cop.cop_id, "linked to a proposal", saved.proposal_id)
        saved, extras = await setup_view_extras(turn.services, saved)
        await show(turn, saved_card(saved, governance_warnings(saved), areas=extras["areas"], steps=extras["steps"]))

    @router.command("leads add", help="Make someone a lead of this CoP", role=Role.LEAD, places=("channel",))
    async def leads_add(turn: Turn) -> None:
        people = await resolve_mentioned(turn)
        if isinstance(people, str):
            await turn.respond.reply(people)
            return
        assert turn.cop_id is not None

        def add(cop: Cop) -> Cop:
            known = {lead.aad_id for lead in cop.leads}
            return replace(cop, leads=cop.leads + tuple(p for p in people if p.aad_id not in known))

        before = await load_cop(turn, turn.cop_id)
        cop = await cop_repo(turn.services).change(turn.cop_id, turn.services.clock.now(), add)
        if cop is None or before is None:
            await turn.respond.reply(WHICH_COP)
            return
        lines = []
        for person in people:
            if before.is_lead(person.aad_id):
                lines.append(f"{person.name} is already a lead of {cop.name}.")
            else:
                lines.append(f"{person.name} is now a lead of {cop.name}.")
                await _log(turn, cop.cop_id, "lead added", f"{person.name} ({person.aad_id})", subject=person.aad_id)
        await turn.respond.reply(" ".join(lines + governance_warnings(cop)))

    @router.command("leads remove", help="Remove a lead of this CoP", role=Role.LEAD, places=("channel",))
    async def leads_remove(turn: Turn) -> None:
        people = await resolve_mentioned(turn)
        if isinstance(people, str):
            await turn.respond.reply(people)
            return
        assert turn.cop_id is not None
        gone = {p.aad_id for p in people}

        def remove(cop: Cop) -> Cop:
            not_leads = [p.name for p in people if not cop.is_lead(p.aad_id)]
            if not_leads:
                raise Refused(
                    f"{', '.join(not_leads)} {'is' if len(not_leads) == 1 else 'are'} not a lead of {cop.name}."
                )
            kept = tuple(lead for lead in cop.leads if lead.aad_id not in gone)
            if not kept:
                raise Refused(
                    f"{cop.name} must always have at least one lead, so I can't remove its last lead. "
                    "Add another lead first with **leads add @name**."
                )
            return replace(cop, leads=kept)

        try:
            cop = await cop_repo(turn.services).change(turn.cop_id, turn.services.clock.now(), remove)
        except Refused as refused:
            await turn.respond.reply(f"{refused} Nothing was changed.")
            return
        if cop is None:
            await turn.respond.reply(WHICH_COP)
            return
        for person in people:
            await _log(turn, cop.cop_id, "lead removed", f"{person.name} ({person.aad_id})", subject=person.aad_id)
        names = ", ".join(p.name for p in people)
        await turn.respond.reply(" ".join([f"{names} no longer lead {cop.name}.", *governance_warnings(cop)]))

    @router.command("sponsor set", help="Set this CoP's senior sponsor", role=Role.LEAD, places=("channel",))
    async def sponsor_set(turn: Turn) -> None:
        people = await resolve_mentioned(turn)
        if isinstance(people, str):
            await turn.respond.reply(people)
            return
        if len(people) != 1:
            await turn.respond.reply("A CoP has one sponsor: mention just one person. Nothing was changed.")
            return
        assert turn.cop_id is not None
        sponsor = people[0]
        cop = await cop_repo(turn.services).change(
            turn.cop_id, turn.services.clock.now(), lambda c: replace(c, sponsor=sponsor)
        )
        if cop is None:
            await turn.respond.reply(WHICH_COP)
            return
        await _log(turn, cop.cop_id, "sponsor set", f"{sponsor.name} ({sponsor.aad_id})", subject=sponsor.aad_id)
        await turn.respond.reply(f"{sponsor.name} is now the sponsor of {cop.name}.")

    privacy.register("cop_roles", export_roles, erase_roles)


async def _card_cop(turn: Turn) -> Cop | None:
    """The CoP a setup card acts on; it must be the one the caller's role was resolved for."""
    assert turn.request.action is not None
    cop_id = turn.request.action.data.get("cop_id")
    if not isinstance(cop_id, str) or cop_id != turn.cop_id:
        await turn.tell(NOT_THIS_COP)
        return None
    cop = await load_cop(turn, cop_id)
    if cop is None:
        await turn.tell("I can't find this CoP any more.")
    return cop


def _setup_edit(turn: Turn, data: Any, cop: Cop) -> Any:
    """Validate the setup card's inputs; returns the edit to apply (raises BadInput)."""
    name = clean_text(data.get("name"), "CoP name", NAME_MAX, required=True)
    practice_area = clean_text(data.get("practice_area"), "Practice area", PRACTICE_AREA_MAX)
    status = clean_text(data.get("status"), "Status", 20) or cop.status
    if status not in STATUS_NAMES:
        raise BadInput("Please choose the status from the list.")
    tor = clean_text(data.get("terms_of_reference_url"), "Terms of reference link", TOR_MAX)
    if tor and (not tor.lower().startswith(("https://", "http://")) or any(c.isspace() for c in tor)):
        raise BadInput("The terms of reference link must be a web address starting with https://.")
    objectives = clean_text(data.get("objectives"), "Objectives", OBJECTIVES_MAX, multiline=True)
    home = data.get("home") or "keep"
    if home not in ("keep", "here"):
        raise BadInput("Please choose the home channel from the list.")
    place = turn.request.place
    if home == "here" and (place.kind != "channel" or place.team_id != cop.cop_id):
        raise BadInput("To make a channel the home channel, open **setup** in that channel.")
    raw_hours = data.get("answer_target_hours", cop.answer_target_hours)
    try:
        hours = int(str(raw_hours).strip() or cop.answer_target_hours)
    except ValueError:
        raise BadInput("The answer target must be a whole number of hours.") from None
    if not HOURS_MIN <= hours <= HOURS_MAX:
        raise BadInput(f"The answer target must be between {HOURS_MIN} and {HOURS_MAX} hours.")
    reference = _channel_reference(turn.request.conversation_reference)
    channel_id = place.channel_id or place.team_id or ""

    def edit(current: Cop) -> Cop:
        updated = replace(
            current,
            name=name,
            # the typed area is on the card only while the programme keeps no list of areas: keep it otherwise
            practice_area=practice_area if "practice_area" in data else current.practice_area,
            status=status,  # type: ignore[arg-type]
            terms_of_reference_url=tor,
            objectives=objectives,
            answer_target_hours=hours,
        )
        if home == "here":
            updated = replace(updated, home_channel_id=channel_id, home_reference=reference)
        return updated

    return edit


async def export_roles(services: Services, aad_id: str) -> Any:
    cops = await cop_repo(services).all(active_only=False)
    return {
        "lead_of": [c.cop_id for c in cops if c.is_lead(aad_id)],
        "sponsor_of": [c.cop_id for c in cops if c.is_sponsor(aad_id)],
    }


async def erase_roles(services: Services, aad_id: str) -> None:
    repo = cop_repo(services)
    now = services.clock.now()
    for cop in await repo.all(active_only=False):
        if not (cop.is_lead(aad_id) or cop.is_sponsor(aad_id)):
            continue

        def forget(c: Cop) -> Cop:
            leads = tuple(lead for lead in c.leads if lead.aad_id != aad_id)
            sponsor = None if c.is_sponsor(aad_id) else c.sponsor
            flagged = c.flagged if leads else "no leads after an erasure request: a programme admin must add one"
            return replace(c, leads=leads, sponsor=sponsor, flagged=flagged)

        await repo.change(cop.cop_id, now, forget)
    # a CoP they no longer lead may still hold them in a home channel reference stored before references were cut
    # down (its installer's): rewritten cut, like every such row
    await repo.cut_old_references()
