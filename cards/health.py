"""The health scorecard card: the CoP health framework's seven areas, each rated with its figures, reasons and next
action, and the trend picture (members and median response time) served by the bot through a signed link."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.turn import Card
from bot.health.engine import Area, Scorecard, scorecard
from bot.health.indicators import NO_DATA, Indicator, Rating
from bot.health.snapshot import CopSnapshot, EventFacts, MembershipFacts, QueryFacts, SurveyFacts, TrendPoint
from bot.health.terms import Term
from bot.health.thresholds import DEFAULT_THRESHOLDS
from cards.elements import Color, card, column, columns, container, execute, heading, image, open_url, safe, text

BADGE: dict[Rating, tuple[str, Color]] = {
    "green": ("● Green", "good"),
    "amber": ("● Amber", "warning"),
    "red": ("● Red", "attention"),
    "none": ("○ No data", "default"),
}


def _indicator(ind: Indicator) -> dict[str, object]:
    label, colour = BADGE[ind.rating]
    return columns(
        [
            column([text(label.split(" ", 1)[0], color=colour, weight="bolder")], width="auto"),
            column(
                [
                    text(f"**{ind.label}**: {ind.figure}", spacing="none"),
                    text(ind.reason, subtle=True, size="small", spacing="none"),
                ]
            ),
        ]
    )


def _area(area: Area) -> dict[str, object]:
    label, colour = BADGE[area.rating]
    head = columns(
        [
            column([text(area.title, weight="bolder")]),
            column([text(label if area.rating != "none" else NO_DATA, color=colour, weight="bolder")], width="auto"),
        ]
    )
    items = [head, *(_indicator(i) for i in area.indicators), text(f"Next: {area.action}", size="small")]
    return container(items, separator=True)


def health_card(
    sc: Scorecard, *, chart_url: str | None, chart_alt: str, tz: ZoneInfo, report_url: str | None = None
) -> Card:
    body = [
        heading(f"Health of {safe(sc.name, 200)}"),
        text(
            f"{sc.summary} · {sc.term_name} · measured {sc.computed_at.astimezone(tz):%d %b %Y %H:%M}",
            subtle=True,
        ),
    ]
    if chart_url:
        body.append(image(chart_url, alt=chart_alt, size="stretch"))
    body.append(text(chart_alt, size="small", subtle=True))
    body += [_area(a) for a in sc.areas]
    if sc.gaps:
        body.append(text("Not measured yet: " + "; ".join(sc.gaps) + ".", size="small", subtle=True))
    actions = [execute("Refresh", "health.show", {"cop_id": sc.cop_id})]
    if report_url:
        actions.append(open_url("Open the report", report_url))
    return card(body, actions, summary=f"Health of {sc.name[:80]}: {sc.summary}", full_width=True)


def choose_cop_card(cops: Iterable[tuple[str, str]]) -> Card:
    """Personal chat, several CoPs possible: one button per CoP."""
    buttons = [execute(safe(name, 80) or "(unnamed)", "health.show", {"cop_id": cop_id}) for cop_id, name in cops]
    return card([heading("Which CoP?"), text("Choose the CoP whose health you want to see.")], buttons[:20])


def examples() -> Iterable[tuple[str, Card]]:
    tz = ZoneInfo("Europe/London")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    term = Term(date(2026, 9, 22), date(2026, 12, 12))
    members = MembershipFacts(40, 120, {"central": 70, "faculty": 60, "": 30}, 12, 150, 148, 3)
    rich = CopSnapshot(
        cop_id="19:example@thread.tacv2",
        name="Data and Insight <CoP>",
        status="launched",
        term=term,
        has_terms_of_reference=True,
        has_objectives=False,
        leads=3,
        has_sponsor=True,
        members=members,
        contributors_30d=21,
        queries=QueryFacts(30, 27, 20.0, 4, 1, 48),
        faq_added_this_term=2,
        events=EventFacts(5, 1, datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC), 4.3, 12),
        survey=SurveyFacts("s1", 160, 42, 0.86),
        trend=(TrendPoint("2026-09-01", 150, 38, 30.0), TrendPoint("2026-11-23", 160, 40, 20.0)),
    )
    sc = scorecard(rich, now, DEFAULT_THRESHOLDS, tz)
    yield (
        "rich",
        health_card(
            sc,
            chart_url="https://bot.example/files/abc",
            chart_alt="Members 150 → 160",
            tz=tz,
            report_url="https://bot.example/report/tok",
        ),
    )
    empty = CopSnapshot(
        cop_id="19:new@thread.tacv2",
        name="New CoP",
        status="preparing",
        term=term,
        has_terms_of_reference=False,
        has_objectives=False,
        leads=0,
        has_sponsor=False,
        members=MembershipFacts(0, 0, {}, 0, None, 0, 0),
        gaps=("events and meetings: not recorded yet",),
    )
    yield "no-data", health_card(scorecard(empty, now, DEFAULT_THRESHOLDS, tz), chart_url=None, chart_alt="", tz=tz)
    yield "choose", choose_cop_card([("19:a@thread.tacv2", "Data"), ("19:b@thread.tacv2", "Finance")])
