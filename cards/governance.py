"""The governance reminder sent privately to a CoP's leads and sponsor."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.core.turn import Card
from cards.elements import card, heading, safe, text

RULES = (
    "The programme asks each CoP for 2 to 4 leads and one sponsor, a lead-sponsor meeting at least every "
    "6 weeks and a core-member meeting at least once a term."
)


def governance_card(cop_name: str, concerns: Sequence[str], *, reminder: bool = True) -> Card:
    body = [heading(f"Governance check: {safe(cop_name, 120)}")]
    if not concerns:
        body.append(text("Everything is in order.", color="good"))
    else:
        body.append(text("A few things need attention:" if len(concerns) > 1 else "One thing needs attention:"))
        body.extend(text(f"• {item}", spacing="small") for item in concerns)
    body.append(text(RULES, subtle=True, spacing="medium"))
    if reminder:
        body.append(text("I check this once a month and remind you only while something is outstanding.", subtle=True))
    summary = f"{cop_name[:60]}: governance reminder" if concerns else f"{cop_name[:60]}: governance in order"
    return card(body, summary=summary)


def examples() -> Iterable[tuple[str, Card]]:
    yield (
        "reminder",
        governance_card(
            "Data and Insight",
            [
                "The CoP has 1 lead; the programme asks for 2 to 4.",
                "No lead-sponsor meeting in the last 6 weeks (the last was on Thursday 1 October).",
            ],
        ),
    )
    yield "all-good", governance_card("Data and Insight", [], reminder=False)
