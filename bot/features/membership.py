"""``join``, ``leave``, ``me``, the welcome card for people added to a CoP's team, and the profile.

Joining is one card: core and wider side by side with the programme's criteria, and the person's profile.
The one-core rule is held by storage (``MembershipRepo.join``); this module turns its outcome into cards.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.core.turn import Card
from bot.domain.cop_names import cops_named
from bot.domain.cops import Cop, cop_repo
from bot.domain.members import TIERS, CoreElsewhere, MembershipRepo, PersonState, Tier
from bot.domain.validation import BadInput, profile_from_inputs
from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.elements import notice, safe
from cards.membership import (
    CopChoice,
    core_elsewhere_card,
    join_card,
    joined_card,
    leave_card,
    me_card,
    profile_card,
    profile_saved_card,
)

log = logging.getLogger(__name__)

NOT_SET_UP = "I'm not set up in this team yet. Ask a team owner to add me to the team first."
NO_IDENTITY = "I can't tell who you are from this message (no Microsoft Entra ID), so I can't record a membership."
UNKNOWN_COP = "I can't find that CoP. Type **cops** to see the CoPs you can join."
INACTIVE_COP = "{name} is not active at the moment (I was removed from its team), so nobody can join it now."
BAD_TIER = "That isn't a membership type I know. Please choose core or wider on the join card."
CHOOSE_COP = "Please choose a CoP first."
NO_COPS = "There are no active CoPs yet."
NOT_A_MEMBER = "You are not a member of {name}."
NO_MEMBERSHIPS = "You are not a member of any CoP. Type **cops** to browse them."
RELAXED_WARNING = (
    "You are also a core member of {others}. The programme recommends one core CoP at a time; "
    "consider making one of them a wider membership."
)


# -- helpers shared by the membership, setup and directory features ---------------------------------------
async def show(turn: Turn, message: Card | str) -> None:
    """Answer a card action by replacing the clicked card (in place), or a command with a reply."""
    if turn.request.kind == "action":
        if isinstance(message, Card):
            turn.respond.answer_action(message)
        else:
            turn.respond.answer_action(message=message)
    elif turn.request.action is not None and turn.request.reply_to_card_id:
        await turn.respond.update(turn.request.reply_to_card_id, message)
    else:
        await turn.respond.reply(message)


async def load_cop(turn: Turn, cop_id: str) -> Cop | None:
    """The CoP, reusing the record role resolution already read for this turn."""
    return await turn.load_cop(cop_id)


async def person_state(turn: Turn) -> PersonState:
    """The caller's stored state, reusing the snapshot role resolution read for this turn."""
    return await turn.load_person_state()


def chosen_cop_id(data: Any) -> str | None:
    """The CoP a card action is about: the sealed ``cop_id``, else the card's CoP choice input."""
    value = data.get("cop_id") or data.get("choose_cop")
    if not isinstance(value, str) or not value or len(value) > 512:
        return None
    return value


def choice_of(cop: Cop) -> CopChoice:
    return CopChoice(cop.cop_id, cop.name, cop.practice_area)


# -- the feature -------------------------------------------------------------------------------------------
def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command(
        "join",
        help="Join this CoP (or choose one) as a core or wider member",
        usage="[CoP name, part of it or its initials]",
        places=("personal", "channel"),
    )
    async def join(turn: Turn) -> None:
        if turn.request.place.team_id is not None:
            cop = await load_cop(turn, turn.request.place.team_id)
            if cop is None:
                await turn.respond.reply(NOT_SET_UP)
                return
            if not cop.active:
                await turn.respond.reply(INACTIVE_COP.format(name=cop.name))
                return
            # a channel card is seen by everyone: no personal data prefilled on it
            await turn.respond.reply(join_card(choice_of(cop), None, prefill=False, shared=True))
            return
        cops = await turn.load_all_cops()
        if not cops:
            await turn.respond.reply(NO_COPS)
            return
        state = await person_state(turn) if turn.request.person.aad_id else None
        profile = state.profile if state else None
        named = cops_named(turn.args[:200], cops)
        if len(named) == 1:
            current = state.memberships.get(named[0].cop_id) if state else None
            await turn.respond.reply(
                join_card(choice_of(named[0]), profile, prefill=True, current=current[0].tier if current else None)
            )
            return
        # several CoPs fit the words ("join communications"): offer those; none fit: offer all
        choices = sorted((choice_of(c) for c in named or cops), key=lambda c: c.name.lower())
        await turn.respond.reply(join_card(None, profile, prefill=True, choices=choices))

    # portable: the Join button of a message extension's CoP card works wherever the card was inserted
    @router.action("membership.start", portable=True)
    async def start(turn: Turn) -> None:
        """A directory card's Join button: the join card for that CoP, replacing the clicked card for the
        clicker only, so it may carry their own profile."""
        assert turn.request.action is not None
        cop_id = chosen_cop_id(turn.request.action.data)
        cop = await load_cop(turn, cop_id) if cop_id else None
        if cop is None:
            await turn.tell(UNKNOWN_COP)
            return
        if not cop.active:
            await turn.tell(INACTIVE_COP.format(name=cop.name))
            return
        state = await person_state(turn) if turn.request.person.aad_id else None
        current = state.memberships.get(cop.cop_id) if state else None
        await show(
            turn,
            join_card(
                choice_of(cop),
                state.profile if state else None,
                prefill=True,
                current=current[0].tier if current else None,
            ),
        )

    @router.action("membership.join", portable=True)
    async def submit_join(turn: Turn) -> None:
        assert turn.request.action is not None
        data = turn.request.action.data
        person = turn.request.person
        services = turn.services
        if not person.aad_id:
            await turn.tell(NO_IDENTITY)
            return
        cop_id = chosen_cop_id(data)
        if cop_id is None:
            await turn.tell(CHOOSE_COP)
            return
        cop = await load_cop(turn, cop_id)
        if cop is None:
            await turn.tell(UNKNOWN_COP)
            return
        if not cop.active:
            await turn.tell(INACTIVE_COP.format(name=cop.name))
            return
        tier_value = data.get("tier")
        if tier_value not in TIERS:
            log.info("refused join with an unknown tier chars=%d cop_id=%s", len(str(tier_value)), cop_id)
            await turn.tell(BAD_TIER)
            return
        tier: Tier = "core" if tier_value == "core" else "wider"
        state = await person_state(turn)
        try:
            profile = profile_from_inputs(data, person, state.profile, merge=data.get("mode") != "replace")
        except BadInput as error:
            await turn.tell(f"{error} Nothing was saved.")
            return
        now = services.clock.now()
        profile = replace(profile, updated_at=now)
        enforce = services.settings.enforce_one_core
        repo = MembershipRepo(services.store)
        try:
            membership, demoted_id = await repo.join(
                cop.cop_id,
                profile,
                tier,
                now,
                enforce_one_core=enforce,
                switch_core=data.get("switch") == "yes",
                state=state,
            )
        except CoreElsewhere as elsewhere:
            other = await cop_repo(services).get(elsewhere.other_cop_id)
            other_choice = choice_of(other) if other else CopChoice(elsewhere.other_cop_id, "another CoP")
            carried = {
                "org_area": profile.org_area,
                "org_unit": profile.org_unit,
                "job_family": profile.job_family,
                "interests": ", ".join(profile.interests),
            }
            await show(turn, core_elsewhere_card(choice_of(cop), other_choice, carried))
            return
        log.info(
            "joined cop_id=%s tier=%s demoted=%s activity_id=%s",
            cop.cop_id,
            membership.tier,
            demoted_id,
            turn.request.activity_id,
        )
        demoted = await cop_repo(services).get(demoted_id) if demoted_id else None
        warning = ""
        if tier == "core" and not enforce:
            others = [c for c, (m, _) in state.memberships.items() if c != cop.cop_id and m.tier == "core"]
            if others:
                names = [(await load_cop(turn, c) or choice_of(cop)).name for c in others]
                warning = RELAXED_WARNING.format(others=", ".join(safe(n, 120) for n in names))
        await show(
            turn,
            joined_card(
                choice_of(cop),
                membership.tier,
                demoted=choice_of(demoted) if demoted else None,
                warning=warning,
            ),
        )

    @router.on("members_added")
    async def welcome(turn: Turn) -> None:
        team_id = turn.request.place.team_id
        if team_id is None:
            return
        cop = await load_cop(turn, team_id)
        if cop is None or not cop.active:
            return
        services = turn.services
        now = services.clock.now()
        home = cop.home_reference or turn.request.conversation_reference
        names = await _roster_names(turn) if any(not m.name for m in turn.request.members) else {}
        for member in turn.request.members:
            if not member.user_id:
                continue
            shown = replace(member, name=member.name or names.get(member.user_id) or "there")
            greeting = (
                f"Welcome to {safe(cop.name, 120)}! This team is a Community of Practice. "
                "Would you like to join it as a core or a wider member?"
            )
            queued = await services.outbox.enqueue(
                f"welcome|{cop.cop_id}|{member.key}",
                turn.request.conversation_reference,
                join_card(choice_of(cop), None, prefill=False, greeting=greeting),
                now,
                cop_id=cop.cop_id,
                personal_for=shown,
                fallback_reference=home,
                fallback_message=(
                    f"welcome to {cop.name}! I couldn't message you privately: "
                    "mention me with **join** here to become a core or wider member."
                ),
            )
            log.info("welcome queued=%s cop_id=%s activity_id=%s", queued, cop.cop_id, turn.request.activity_id)

    @router.command("leave", help="Leave a CoP (asks first)", places=("personal", "channel"))
    async def leave(turn: Turn) -> None:
        if not turn.request.person.aad_id:
            await turn.respond.reply(NO_IDENTITY)
            return
        state = await person_state(turn)
        team_id = turn.request.place.team_id
        if team_id is not None:
            cop = await load_cop(turn, team_id)
            if cop is None:
                await turn.respond.reply(NOT_SET_UP)
                return
            if team_id not in state.memberships:
                await turn.respond.reply(NOT_A_MEMBER.format(name=cop.name))
                return
            await turn.respond.reply(leave_card([choice_of(cop)]))
            return
        mine = await _named_memberships(turn, state)
        if not mine:
            await turn.respond.reply(NO_MEMBERSHIPS)
            return
        await turn.respond.reply(leave_card([CopChoice(cop_id, name) for cop_id, name, _ in mine]))

    @router.action("membership.leave")
    async def confirm_leave(turn: Turn) -> None:
        assert turn.request.action is not None
        cop_id = chosen_cop_id(turn.request.action.data)
        if cop_id is None:
            await turn.tell(CHOOSE_COP)
            return
        if not turn.request.person.aad_id:
            await turn.tell(NO_IDENTITY)
            return
        cop = await load_cop(turn, cop_id)
        name = cop.name if cop else "that CoP"
        removed = await MembershipRepo(turn.services.store).leave(
            cop_id, turn.request.person.aad_id, turn.services.clock.now()
        )
        if removed is None:
            await turn.tell(NOT_A_MEMBER.format(name=name))
            return
        log.info("left cop_id=%s tier=%s activity_id=%s", cop_id, removed.tier, turn.request.activity_id)
        await show(
            turn,
            notice(f"You have left {safe(name, 120)}. You can join again at any time.", title="You left the CoP"),
        )

    @router.action("membership.stay")
    async def stay(turn: Turn) -> None:
        await show(turn, notice("Nothing changed: you are still a member.", title="You stayed"))

    @router.command("me", help="Your CoPs, your tiers and your profile", places=("personal",))
    async def me(turn: Turn) -> None:
        await show(turn, await _me_card(turn))

    @router.action("membership.me")
    async def me_again(turn: Turn) -> None:
        await show(turn, await _me_card(turn))

    @router.action("membership.profile")
    async def edit_profile(turn: Turn) -> None:
        if not turn.request.person.aad_id:
            await turn.tell(NO_IDENTITY)
            return
        state = await person_state(turn)
        await show(turn, profile_card(state.profile))

    @router.action("membership.profile.save")
    async def save_profile(turn: Turn) -> None:
        assert turn.request.action is not None
        person = turn.request.person
        if not person.aad_id:
            await turn.tell(NO_IDENTITY)
            return
        state = await person_state(turn)
        try:
            profile = profile_from_inputs(turn.request.action.data, person, state.profile, merge=False)
        except BadInput as error:
            await turn.tell(f"{error} Nothing was saved.")
            return
        profile = replace(profile, updated_at=turn.services.clock.now())
        await MembershipRepo(turn.services.store).update_profile(profile)
        await show(turn, profile_saved_card(profile))

    privacy.register("membership", export_membership, erase_membership)


async def _roster_names(turn: Turn) -> dict[str, str]:
    """Display names of the team's members (Teams sends only ids for people added), for the mention fallback."""
    try:
        return {p.user_id: p.name for p in await turn.respond.team_members() if p.name}
    except Exception as error:  # the SDK raises its own HTTP errors; the welcome goes out without a name then
        log.warning("roster unavailable for the welcome (%s) cop_id=%s", type(error).__name__, turn.cop_id)
        return {}


async def _named_memberships(turn: Turn, state: PersonState) -> list[tuple[str, str, Tier]]:
    """(cop id, CoP name, tier) of the caller's memberships, oldest first."""
    cops = await cop_repo(turn.services).all_knowing(state.memberships)
    ordered = sorted((m for m, _ in state.memberships.values()), key=lambda m: m.joined_at)
    return [(m.cop_id, cops[m.cop_id].name if m.cop_id in cops else "(removed CoP)", m.tier) for m in ordered]


async def _me_card(turn: Turn) -> Card:
    if not turn.request.person.aad_id:
        return me_card([], None)
    state = await person_state(turn)
    cops = await cop_repo(turn.services).all_knowing(state.memberships)
    ordered = sorted((m for m, _ in state.memberships.values()), key=lambda m: m.joined_at)
    return me_card([(m, cops[m.cop_id].name if m.cop_id in cops else "(removed CoP)") for m in ordered], state.profile)


async def export_membership(services: Services, aad_id: str) -> Any:
    state = await MembershipRepo(services.store).person(aad_id)
    profile = state.profile
    return {
        "profile": None
        if profile is None
        else {
            "name": profile.name,
            "org_area": profile.org_area,
            "org_unit": profile.org_unit,
            "job_family": profile.job_family,
            "interests": list(profile.interests),
            "updated_at": profile.updated_at.isoformat() if profile.updated_at else None,
        },
        "core_cop": state.core_cop_id,
        "memberships": [
            {
                "cop_id": m.cop_id,
                "tier": m.tier,
                "joined_at": m.joined_at.isoformat() if m.joined_at else None,
                "tier_changed_at": m.tier_changed_at.isoformat() if m.tier_changed_at else None,
                "org_area": m.org_area,
            }
            for m, _ in state.memberships.values()
        ],
    }


async def erase_membership(services: Services, aad_id: str) -> None:
    cops = await MembershipRepo(services.store).erase_person(aad_id)
    log.info("erased membership data for one person across %d CoPs", len(cops))
