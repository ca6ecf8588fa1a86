"""The programme view: every CoP side by side for the programme team, with totals and a CSV download."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from bot.core.turn import JSON, Card
from bot.domain.practice_areas import UNSET, AreaRollup, roll_up
from bot.domain.proposals import Preparing, Step
from bot.health.summary import ProgrammeRow, totals
from cards.elements import card, container, facts, heading, open_url, safe, text


def _or(value: object, fallback: str = "n/a") -> str:
    return fallback if value is None else str(value)


def _growth(value: int | None) -> str:
    return "n/a" if value is None else f"{value:+d}"


def describe_row(row: ProgrammeRow) -> list[tuple[str, str]]:
    median = "n/a" if row.median_response_hours is None else f"{row.median_response_hours:.0f} h"
    survey = (
        "n/a"
        if row.survey_agree is None
        else f"{round(row.survey_agree * 100)}% agree ({row.survey_responses} responses)"
    )
    return [
        ("Members", f"{row.core} core / {row.wider} wider ({_growth(row.net_growth_90d)} in 90 days)"),
        ("Health", row.health),
        ("This term", f"{_or(row.events_term)} events, {_or(row.lunch_and_learns_term)} Lunch and Learns"),
        ("Questions", f"{_or(row.open_queries)} open, median first response {median}"),
        ("Survey", survey),
        ("Projects", f"{_or(row.projects_with_outcomes)} finished with outcomes"),
    ]


def _by_area(rollups: Sequence[AreaRollup]) -> list[JSON]:
    pairs = [
        (
            safe(a.name, 80),
            f"{a.cops} CoPs ({a.launched} launched), {a.core + a.wider} members, {a.events_term} events this term, "
            f"{a.red} red",
        )
        for a in rollups
    ]
    return [text("By practice area", weight="bolder", spacing="medium"), facts(pairs)]


def programme_card(
    rows: Sequence[ProgrammeRow],
    term_name: str,
    csv_url: str | None,
    *,
    area_of: Mapping[str, str] | None = None,
    preparing: Sequence[Preparing] = (),
    areas_csv_url: str | None = None,
    report_url: str | None = None,
) -> Card:
    t = totals(rows)
    body = [
        heading(f"Programme: {t.cops} CoPs"),
        text("Figures include everything recorded up to now.", size="small", subtle=True),
        text(
            f"{t.core + t.wider} memberships ({t.core} core, {t.wider} wider), {t.net_growth_90d:+d} in 90 days · "
            f"{t.events_term} events and {t.lunch_and_learns_term} Lunch and Learns in {term_name} · "
            f"{t.open_queries} open questions · areas: {t.ratings['green']} green, {t.ratings['amber']} amber, "
            f"{t.ratings['red']} red",
            subtle=True,
        ),
    ]
    if not rows:
        body.append(text("No CoPs yet: install the app in a CoP's team to add it."))
    if area_of is not None and rows:
        body.extend(_by_area(roll_up(rows, area_of)))
    for row in sorted(rows, key=lambda r: r.name.lower()):
        area = f" · {safe(area_of.get(row.cop_id) or UNSET, 80)}" if area_of is not None else ""
        body.append(
            container(
                [text(f"**{safe(row.name, 120)}** · {safe(row.status, 20)}{area}"), facts(describe_row(row))],
                separator=True,
            )
        )
    if preparing:
        body.append(text("Preparations underway", weight="bolder", spacing="large"))
    for cop in preparing:  # compact: the setup card and ``proposals`` say how to do each step
        done = sum(s.done for s in cop.steps)
        missing = ", ".join(s.label for s in cop.steps if not s.done)
        line = f"**{safe(cop.name, 120)}** · {safe(cop.area or UNSET, 80)} · {done} of {len(cop.steps)} done"
        body.append(text(line + (f"; to do: {missing}" if missing else ""), size="small"))
    actions = [open_url("Download CSV", csv_url)] if csv_url else []
    if areas_csv_url:
        actions.append(open_url("Download by practice area", areas_csv_url))
    if report_url:
        actions.append(open_url("Open the report", report_url))
    return card(body, actions, summary=f"Programme: {t.cops} CoPs", full_width=True)


def examples() -> Iterable[tuple[str, Card]]:
    rows = [
        ProgrammeRow(
            "a",
            "Data & <Insight>",
            "launched",
            40,
            160,
            12,
            "4 green, 2 amber, 1 red",
            (("Purpose", "green"), ("Leadership", "amber")),
            5,
            1,
            3,
            20.0,
            0.86,
            42,
        ),
        ProgrammeRow(
            "b", "Finance", "preparing", 2, 3, None, "1 red, 6 not enough data", (), None, None, None, None, None, 0
        ),
    ]
    yield "two-cops", programme_card(rows, "Autumn 2026", "https://bot.example/files/tok")
    yield "empty", programme_card([], "Autumn 2026", None)
    steps = (Step("A Teams team with the app installed", True, ""), Step("2 to 4 leads", False, "Add a lead."))
    yield (
        "by-area",
        programme_card(
            rows,
            "Autumn 2026",
            "https://bot.example/files/tok",
            area_of={"a": "Planning"},
            preparing=(Preparing("Technicians", "Estates", steps),),
            areas_csv_url="https://bot.example/files/tok2",
            report_url="https://bot.example/report/tok3",
        ),
    )
