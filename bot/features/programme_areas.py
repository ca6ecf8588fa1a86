"""What the programme view adds about practice areas and new CoPs: each CoP's practice area, the roll-up by area
(on the card and as its own CSV), and the CoPs whose preparations are underway with their launch checklist."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.domain.cops import cop_repo
from bot.domain.practice_areas import AreaRollup, PracticeAreaRepo, area_name
from bot.domain.proposals import Preparing, ProposalRepo
from bot.features.proposals import launch_steps

if TYPE_CHECKING:
    from bot.services import Services


@dataclass(frozen=True)
class AreaContext:
    area_of: dict[str, str]  # CoP id -> practice area name ("" when none)
    preparing: tuple[Preparing, ...]  # approved proposals not launched yet


async def area_context(services: Services) -> AreaContext:
    now = services.clock.now()
    cops, areas, proposals = await asyncio.gather(
        cop_repo(services).all(active_only=False),
        PracticeAreaRepo(services.store).all(),
        ProposalRepo(services.store).all(),
    )
    by_id = {c.cop_id: c for c in cops}
    names = {a.area_id: a.name for a in areas}
    preparing: list[Preparing] = []
    for p in proposals:
        cop = by_id.get(p.cop_id) if p.cop_id else None
        if p.status != "approved" or (cop is not None and cop.status == "launched"):
            continue
        steps = await launch_steps(services, cop, p, now)
        preparing.append(Preparing(cop.name if cop else p.name, names.get(p.area_id, ""), tuple(steps)))
    return AreaContext({c.cop_id: area_name(c, areas) for c in cops}, tuple(preparing))


def rollup_csv(rollups: Sequence[AreaRollup]) -> bytes:
    from bot.features.programme import safe_cell

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "Practice area",
            "CoPs",
            "Launched",
            "Core members",
            "Wider members",
            "Events this term",
            "Lunch and Learns this term",
            "Open questions",
            "Health areas rated red",
        ]
    )
    for a in rollups:
        writer.writerow(
            [
                safe_cell(a.name), a.cops, a.launched, a.core, a.wider, a.events_term, a.lunch_and_learns_term,
                a.open_queries, a.red,
            ]
        )  # fmt: skip
    return out.getvalue().encode("utf-8-sig")
