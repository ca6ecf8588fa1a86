"""``practice areas`` (programme admins): the programme's practice areas, add, rename, remove an unused one, and put
a CoP in an area. Leads choose their CoP's area on its setup card."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from bot.core.turn import Card, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.practice_areas import PracticeAreaRepo
from bot.domain.proposals import ProposalRepo
from bot.domain.validation import BadInput
from bot.features.membership import show
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.practice_areas import practice_areas_card

log = logging.getLogger(__name__)


async def areas_card(turn: Turn, message: str = "", *, good: bool = True) -> Card:
    services = turn.services
    areas = await PracticeAreaRepo(services.store).all()
    cops = await cop_repo(services).all()
    return practice_areas_card(areas, [(c.cop_id, c.name, c.practice_area_id) for c in cops], message, good=good)


def _field(turn: Turn, name: str) -> Any:
    assert turn.request.action is not None
    return turn.request.action.data.get(name)


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 512:
        raise BadInput("Choose one from the list first.")
    return value


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command(
        "practice areas", help="The programme's practice areas: add, rename, remove, assign", role=Role.ADMIN
    )
    async def show_areas(turn: Turn) -> None:
        await turn.respond.reply(await areas_card(turn))

    async def run(turn: Turn, change: Any) -> None:
        try:
            message = await change()
        except BadInput as error:
            await show(turn, await areas_card(turn, f"{error} Nothing was changed.", good=False))
            return
        log.info("practice areas changed activity_id=%s", turn.request.activity_id)
        await show(turn, await areas_card(turn, message))

    @router.action("areas.add", role=Role.ADMIN)
    async def add(turn: Turn) -> None:
        async def change() -> str:
            area = await PracticeAreaRepo(turn.services.store).add(_field(turn, "add_name"))
            return f"Added {area.name}."

        await run(turn, change)

    @router.action("areas.rename", role=Role.ADMIN)
    async def rename(turn: Turn) -> None:
        async def change() -> str:
            area = await PracticeAreaRepo(turn.services.store).rename(
                _id(_field(turn, "area")), _field(turn, "new_name")
            )
            return f"Renamed to {area.name}."

        await run(turn, change)

    @router.action("areas.remove", role=Role.ADMIN)
    async def remove(turn: Turn) -> None:
        async def change() -> str:
            services = turn.services
            area_id = _id(_field(turn, "area"))
            used = {c.practice_area_id for c in await cop_repo(services).all(active_only=False)}
            used |= await ProposalRepo(services.store).areas_in_use()
            area = await PracticeAreaRepo(services.store).remove(area_id, lambda a: a in used)
            return f"Removed {area.name}."

        await run(turn, change)

    @router.action("areas.assign", role=Role.ADMIN)
    async def assign(turn: Turn) -> None:
        async def change() -> str:
            services = turn.services
            cop_id, area_id = _id(_field(turn, "cop")), _id(_field(turn, "cop_area"))
            areas = await PracticeAreaRepo(services.store).all()
            area = next((a for a in areas if a.area_id == area_id), None)
            if area is None:
                raise BadInput("That practice area no longer exists.")
            now = services.clock.now()
            cop: Cop | None = await cop_repo(services).change(
                cop_id, now, lambda c: replace(c, practice_area_id=area_id)
            )
            if cop is None:
                raise BadInput("I can't find that CoP any more.")
            person = turn.request.person
            await audit.record(services.store, cop_id, now, person.aad_id, person.name, "practice area set", area.name)
            return f"{cop.name} is now in {area.name}."

        await run(turn, change)
