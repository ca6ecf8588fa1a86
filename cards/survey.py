"""Impact survey cards: the invitation (the 2021 impact survey's statements, 5-point agreement), the reminder, and the
results beside the 2021 baseline, overall and per CoP (a CoP with fewer than the minimum responses is hidden)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.survey import SCALE, STATEMENTS, Survey, Tally
from bot.turn import Card
from cards.elements import Color, card, column, columns, container, execute, facts, heading, input_choice, safe, text

CHOICES = [(label, str(value)) for value, label in SCALE]


def invitation_card(survey: Survey, tz: ZoneInfo, *, reminder: bool = False) -> Card:
    intro = (
        "A reminder: the CoP impact survey closes soon. If you have already answered, thank you, please ignore this."
        if reminder
        else "How has this CoP helped you? Nine statements, about two minutes."
    )
    body = [
        heading(f"Impact survey: {safe(survey.cop_name, 200)}"),
        text(intro),
        text(
            f"Your answers are anonymous: we keep only the totals, never who answered what. "
            f"Open until {survey.closes_at.astimezone(tz):%A %d %B %Y, %H:%M}.",
            subtle=True,
            size="small",
        ),
    ]
    for number, statement in enumerate(STATEMENTS, start=1):
        body.append(
            input_choice(
                f"s_{statement.key}",
                label=f"{number}. {statement.text}",
                choices=CHOICES,
                required=True,
            )
        )
    actions = [execute("Send my answers", "survey.answer", {"cop_id": survey.cop_id, "id": survey.survey_id})]
    title = "Reminder: impact survey" if reminder else "Impact survey"
    return card(body, actions, summary=f"{title} for {survey.cop_name[:80]}")


@dataclass(frozen=True)
class CopResult:
    cop_id: str
    name: str
    invited: int
    tally: Tally
    open: bool


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 100)}%"


def _rate(responses: int, invited: int) -> str:
    return f"{responses} of {invited} ({round(responses / invited * 100)}%)" if invited else f"{responses}"


def results_card(results: Sequence[CopResult], minimum: int, *, scope: str) -> Card:
    shown = [r for r in results if r.tally.responses >= minimum]
    hidden = [r for r in results if r.tally.responses < minimum]
    total = Tally.empty()
    for r in results:
        total = total.plus(r.tally)
    invited = sum(r.invited for r in results)
    body = [heading(f"Impact survey results: {safe(scope, 200)}")]
    if total.responses < minimum:
        body.append(
            text(
                f"{total.responses} responses so far. Results show from {minimum} responses so that nobody's answers "
                "can be picked out.",
            )
        )
        body.append(text(f"Response rate: {_rate(total.responses, invited)}", subtle=True))
        return card(body, summary="Impact survey: not enough responses yet")
    body.append(text(f"Response rate: {_rate(total.responses, invited)}", weight="bolder"))
    rows = [
        columns(
            [
                column([text("Statement", weight="bolder")]),
                column([text("Agree", weight="bolder")], width="60px"),
                column([text("2021", weight="bolder")], width="60px"),
            ]
        )
    ]
    for statement in STATEMENTS:
        share = total.agree_share(statement.key)
        colour: Color = "good" if share is not None and share >= statement.baseline else "warning"
        rows.append(
            columns(
                [
                    column([text(statement.text, size="small")]),
                    column([text(_share(share), color=colour)], width="60px"),
                    column([text(_share(statement.baseline), subtle=True)], width="60px"),
                ]
            )
        )
    body.append(container(rows))
    body.append(text("Agree = agree + strongly agree. 2021 = UCL's 2021 CoP impact survey.", size="small", subtle=True))
    if len(results) > 1:
        body.append(text("By CoP", weight="bolder", spacing="medium"))
        body.append(
            facts(
                (
                    safe(r.name, 100) + (" (open)" if r.open else ""),
                    f"{_share(r.tally.overall_agree_share)} agree · {_rate(r.tally.responses, r.invited)}",
                )
                for r in shown
            )
        )
        if hidden:
            body.append(
                text(
                    f"{len(hidden)} CoPs have fewer than {minimum} responses and are not shown separately.",
                    size="small",
                    subtle=True,
                )
            )
    return card(body, summary=f"Impact survey: {_share(total.overall_agree_share)} agree")


def examples() -> Iterable[tuple[str, Card]]:
    tz = ZoneInfo("Europe/London")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    survey = Survey("r1-abc", "r1", "19:a@thread.tacv2", "Data <and> Insight", now, now + timedelta(days=14), now)
    yield "invitation", invitation_card(survey, tz)
    yield "reminder", invitation_card(survey, tz, reminder=True)
    full = Tally(12, {s.key: [0, 1, 2, 5, 4] for s in STATEMENTS})
    few = Tally(3, {s.key: [0, 0, 1, 1, 1] for s in STATEMENTS})
    results = [CopResult("a", "Data", 40, full, False), CopResult("b", "Finance", 30, few, True)]
    yield "results-all", results_card(results, 5, scope="all CoPs")
    yield "results-too-few", results_card(results[1:], 5, scope="Finance")
