"""The programme's practice areas card (programme admins): the areas with their CoPs, add, rename, remove an
unused one, and put a CoP in an area."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.turn import JSON, Card
from bot.domain.practice_areas import NAME_MAX, UNSET, PracticeArea
from cards.elements import action_set, card, execute, facts, heading, input_choice, input_text, safe, text


def practice_areas_card(
    areas: Sequence[PracticeArea],
    cops: Sequence[tuple[str, str, str]],  # (cop id, name, area id or "")
    message: str = "",
    *,
    good: bool = True,
) -> Card:
    body: list[JSON] = [heading("Practice areas")]
    if message:
        body.append(text(safe(message, 300), color="good" if good else "attention"))
    counts: dict[str, list[str]] = {}
    for _, name, area_id in cops:
        counts.setdefault(area_id, []).append(name)
    if areas:
        body.append(facts([(safe(a.name, NAME_MAX), f"{len(counts.get(a.area_id, []))} CoPs") for a in areas]))
    else:
        body.append(text("The programme has no practice areas yet. Add the first below."))
    known = {a.area_id for a in areas}
    unset = sorted(name for _, name, area_id in cops if area_id not in known)
    if unset:
        body.append(text(f"{UNSET}: " + ", ".join(safe(n, 80) for n in unset[:40]), subtle=True, size="small"))
    body.append(text("Add an area", weight="bolder", spacing="medium"))
    body.append(input_text("add_name", label="Name", max_length=NAME_MAX, placeholder="e.g. Student Experience"))
    body.append(action_set([execute("Add", "areas.add")]))
    choices = [(safe(a.name, NAME_MAX), a.area_id) for a in areas]
    if areas:
        body.append(text("Rename or remove", weight="bolder", spacing="medium"))
        body.append(input_choice("area", label="Area", choices=choices))
        body.append(input_text("new_name", label="New name", max_length=NAME_MAX))
        body.append(action_set([execute("Rename", "areas.rename"), execute("Remove", "areas.remove")]))
    if areas and cops:
        body.append(text("Put a CoP in an area", weight="bolder", spacing="medium"))
        body.append(
            input_choice(
                "cop",
                label="CoP",
                choices=[(safe(name, 80), cop_id) for cop_id, name, _ in sorted(cops, key=lambda c: c[1].lower())],
            )
        )
        body.append(input_choice("cop_area", label="Practice area", choices=choices))
        body.append(action_set([execute("Put it there", "areas.assign")]))
    return card(body, summary="Practice areas")


def examples() -> Iterable[tuple[str, Card]]:
    areas = [PracticeArea("a1", "Data & Insight"), PracticeArea("a2", "People <and> Culture")]
    cops = [("19:c1@thread.tacv2", "Reporting", "a1"), ("19:c2@thread.tacv2", "Finance", "")]
    yield "areas", practice_areas_card(areas, cops, "Added People and Culture.")
    yield "empty", practice_areas_card([], [])
