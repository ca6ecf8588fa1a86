"""Who the caller is, resolved from storage on every turn (card data never grants a role). The CoP row may come
from this process's short-lived copy (``CopCache``, COPBOT_COP_CACHE_SECONDS; see bot/domain/cops.py for the
staleness trade-off); the caller's memberships are read when they decide the role (not for an admin, or for the
CoP's lead or sponsor: a handler that needs them then reads them with ``turn.load_person_state()``).

In a team, the CoP is the team, except for a portable button (``Router.action(portable=True)``, e.g. on a message
extension's card), whose CoP is the one its sealed data names; a CoP named by a card must be of the presser's tenant.
In personal chat, the CoP is the one named by the card action's ``cop_id``
(the role is still computed from storage for that CoP), else the only CoP the person leads, else the only CoP
they belong to; otherwise None and CoP-specific commands ask which CoP.
"""

from __future__ import annotations

from bot.core import messages
from bot.core.turn import Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.members import MembershipRepo, PersonState
from bot.routing.router import Turn


def role_in(cop: Cop | None, aad_id: str, is_member: bool, admins: frozenset[str]) -> Role:
    if aad_id and aad_id in admins:
        return Role.ADMIN
    if cop is not None and cop.is_lead(aad_id):
        return Role.LEAD
    if cop is not None and cop.is_sponsor(aad_id):
        return Role.SPONSOR
    return Role.MEMBER if is_member else Role.ANYONE


async def resolve_role(turn: Turn) -> tuple[Role, str | None]:
    services = turn.services
    request = turn.request
    aad_id = request.person.aad_id
    cops = cop_repo(services)
    admins = services.settings.programme_admins
    cop_id: str | None = turn.action_cop or request.place.team_id
    named_by_card = cop_id is not None and cop_id != request.place.team_id
    if cop_id is None and request.action is not None:
        named = request.action.data.get("cop_id")
        cop_id = named if isinstance(named, str) and 0 < len(named) <= 512 else None
        named_by_card = cop_id is not None
    if cop_id is not None:
        # the one hot read of every CoP turn: a copy up to COPBOT_COP_CACHE_SECONDS old (see bot/domain/cops.py)
        cop = await cops.get_cached(cop_id)
        if cop is not None and named_by_card and cop.tenant_id and cop.tenant_id != request.place.tenant_id:
            # a card shared (or forwarded) outside the CoP's organisation: nobody there acts on the CoP
            turn.refused = messages.OTHER_TENANT
            return Role.ANYONE, None
        turn.cop = cop
        if cop is None:
            return role_in(None, aad_id, False, admins), cop_id
        role = role_in(cop, aad_id, False, admins)
        if aad_id and role is Role.ANYONE:  # not an admin, lead or sponsor: membership decides
            # one partition query instead of a point read: the same round trip, and a join reuses the snapshot
            state = turn.person_state = await MembershipRepo(services.store).person(aad_id)
            role = role_in(cop, aad_id, cop_id in state.memberships, admins)
        return role, cop_id
    if not aad_id:
        return Role.ANYONE, None
    # personal chat with no CoP named: pick the CoP this person leads (or belongs to) when there is one
    listed = await cops.all_cached(active_only=False)  # a copy up to COPBOT_COP_CACHE_SECONDS old
    known: PersonState | None = None
    if sum(1 for c in listed if c.active and c.is_lead(aad_id)) != 1:
        known = turn.person_state = await MembershipRepo(services.store).person(aad_id)
        # afresh if the copy predates a CoP this person has joined (set up on another instance)
        listed = list((await cops.all_knowing(known.memberships)).values())
    all_cops = turn.all_cops = [c for c in listed if c.active]
    led = [c for c in all_cops if c.is_lead(aad_id)]
    sponsored = [c for c in all_cops if c.is_sponsor(aad_id)]
    if len(led) == 1:
        turn.cop = led[0]
        return role_in(led[0], aad_id, True, admins), led[0].cop_id
    assert known is not None  # read above unless the list, unchanged, shows the one CoP this person leads
    mine = known.sorted_memberships()
    active = {c.cop_id: c for c in all_cops}
    mine = [m for m in mine if m.cop_id in active]
    if not led and len(sponsored) == 1:
        turn.cop = sponsored[0]
        return role_in(sponsored[0], aad_id, False, admins), sponsored[0].cop_id
    if not led and len(mine) == 1:
        cop = active[mine[0].cop_id]
        turn.cop = cop
        return role_in(cop, aad_id, True, admins), cop.cop_id
    role = Role.ADMIN if aad_id in admins else Role.LEAD if led else Role.MEMBER if mine else Role.ANYONE
    return role, None
