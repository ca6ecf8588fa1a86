"""Which CoPs a person's report covers, read from storage on every request (a link or token never grants a role).

- a programme admin (``COPBOT_PROGRAMME_ADMINS``): every CoP;
- a sponsor: the CoPs they sponsor (and any they also lead);
- a lead: the CoPs they lead;
- anyone else: no report (403).

A ``cop=`` parameter narrows the page to one CoP of the viewer's own; a CoP outside them is refused (403), so
changing the address never shows another CoP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.cops import Cop, cop_repo

if TYPE_CHECKING:
    from bot.services import Services

ROLES = ("admin", "sponsor", "lead")


@dataclass(frozen=True)
class Viewer:
    aad_id: str
    role: str  # "admin", "sponsor" or "lead"
    cops: tuple[Cop, ...]  # the CoPs this person may see, by name

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def narrowed(self, cop_id: str) -> Viewer | None:
        """The same viewer looking at one of their CoPs; None when it is not theirs."""
        chosen = tuple(c for c in self.cops if c.cop_id == cop_id)
        return Viewer(self.aad_id, self.role, chosen) if chosen else None


async def viewer_of(services: Services, aad_id: str) -> Viewer | None:
    """The person's widest role with its CoPs, or None when they have no report."""
    if not aad_id:
        return None
    cops = sorted(await cop_repo(services).all(), key=lambda c: c.name.lower())
    if aad_id in services.settings.programme_admins:
        return Viewer(aad_id, "admin", tuple(cops))
    sponsored = [c for c in cops if c.is_sponsor(aad_id)]
    mine = tuple(c for c in cops if c.is_sponsor(aad_id) or c.is_lead(aad_id))
    if sponsored:
        return Viewer(aad_id, "sponsor", mine)
    if mine:
        return Viewer(aad_id, "lead", mine)
    return None


def still_holds(viewer: Viewer, role: str) -> bool:
    """Whether a link made for ``role`` still applies: the person holds that role or a wider one now."""
    return ROLES.index(viewer.role) <= ROLES.index(role)
