"""The weekly note to the programme team: what needs them across the CoPs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from bot.core.turn import JSON, Card
from cards.elements import card, heading, safe, text


@dataclass(frozen=True)
class NoteView:
    week_of: date  # the Monday of the week
    governance: tuple[str, ...] = ()  # CoPs with fewer than two leads or no sponsor
    overdue: tuple[str, ...] = ()  # lead-sponsor meetings overdue
    red: tuple[str, ...] = ()  # CoPs red in a health area for a whole term
    proposals: tuple[str, ...] = ()  # proposals waiting for a decision
    preparing: tuple[str, ...] = ()  # approved CoPs not launched yet

    @property
    def empty(self) -> bool:
        return not (self.governance or self.overdue or self.red or self.proposals or self.preparing)


SECTIONS = (
    ("governance", "Fewer than two leads, or no sponsor"),
    ("overdue", "Lead\N{EN DASH}sponsor meetings overdue"),
    ("red", "Red in a health area for a whole term"),
    ("proposals", "Proposals waiting for you (**proposals**)"),
    ("preparing", "Preparations underway"),
)


def programme_note_card(note: NoteView) -> Card:
    body: list[JSON] = [heading(f"The week of {note.week_of.day} {note.week_of:%B %Y}: what needs the programme team")]
    if note.empty:
        body.append(text("Nothing needs you this week.", color="good"))
    for field, title in SECTIONS:
        items: Sequence[str] = getattr(note, field)
        if not items:
            continue
        body.append(text(f"{title} ({len(items)})", weight="bolder", spacing="medium"))
        body.extend(text(f"• {safe(item, 300)}", spacing="small") for item in items[:25])
        if len(items) > 25:
            body.append(text(f"… and {len(items) - 25} more (see **programme**).", subtle=True))
    body.append(text("Every Monday; the figures are in **programme**.", subtle=True, size="small"))
    return card(body, summary="What needs the programme team this week")


def examples() -> Iterable[tuple[str, Card]]:
    yield (
        "note",
        programme_note_card(
            NoteView(
                date(2026, 11, 23),
                governance=("Finance: 1 lead, no sponsor",),
                overdue=("Finance: no lead-sponsor meeting recorded",),
                red=("Data & <Insight>: Leadership",),
                proposals=("Technical support (proposed 3 Nov 2026 by Sam Staff)",),
                preparing=("Widening Participation: 3 of 5 steps done",),
            )
        ),
    )
    yield "quiet", programme_note_card(NoteView(date(2026, 11, 23)))
