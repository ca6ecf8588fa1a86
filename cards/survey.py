"""Impact survey cards: the invitation (the 2021 impact survey's statements on a labelled 5-point agreement scale,
an optional comment per statement), the reminder, the results beside the 2021 baseline (only figures that
bot/domain/survey_disclosure.py lets through), and the comments for programme admins."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.turn import Card
from bot.domain.survey import COMMENT_MAX_CHARS, SCALE, STATEMENT_KEYS, STATEMENTS, Survey, Tally
from cards.elements import (
    Color,
    card,
    column,
    columns,
    container,
    execute,
    facts,
    heading,
    input_choice,
    input_text,
    safe,
    text,
)

CHOICES = [(f"{value}: {label}", str(value)) for value, label in SCALE]
SCALE_TEXT = " · ".join(f"**{value}** {label}" for value, label in SCALE)
AGREE_NOTE = (
    "Agree = 4 Agree or 5 Strongly agree. 2021 = the share of respondents who agreed in the 2021 CoP impact survey, "
    "as the programme's impact report gives it (the report does not say how the 2021 answers were scaled)."
)


def invitation_card(survey: Survey, cop_names: Sequence[str], tz: ZoneInfo, *, reminder: bool = False) -> Card:
    """The survey for one person: one answer for the round, counted for each of ``cop_names`` (their CoPs in it)."""
    names = ", ".join(safe(n, 100) for n in cop_names) or safe(survey.cop_name, 200)
    intro = (
        "A reminder: the CoP impact survey closes soon. If you have already answered, thank you, please ignore this."
        if reminder
        else "How have CoPs helped you? The nine statements of the 2021 impact survey, about two minutes."
    )
    counted = (
        f"You answer once; your answer counts for each of your CoPs in this survey: {names}."
        if len(cop_names) > 1
        else ""
    )
    body = [
        heading(f"Impact survey: {names}"),
        text(intro),
        text(
            "Your answers are anonymous: we keep only the totals, never who answered what. Comments are optional, "
            "read only by the programme team, never with your name, and only once at least five people have "
            f"answered. {counted} Open until {survey.closes_at.astimezone(tz):%A %d %B %Y, %H:%M}.",
            subtle=True,
            size="small",
        ),
        text(f"How far do you agree? {SCALE_TEXT}", size="small", weight="bolder"),
    ]
    for number, statement in enumerate(STATEMENTS, start=1):
        body.append(
            input_choice(f"s_{statement.key}", label=f"{number}. {statement.text}", choices=CHOICES, required=True)
        )
        body.append(
            input_text(
                f"c_{statement.key}",
                label="Comment (optional)",
                placeholder="Anything you would like the programme team to know",
                multiline=True,
                max_length=COMMENT_MAX_CHARS,
            )
        )
    actions = [execute("Send my answers", "survey.answer", {"cop_id": survey.cop_id, "id": survey.survey_id})]
    title = "Reminder: impact survey" if reminder else "Impact survey"
    return card(body, actions, summary=f"{title} for {names[:80]}")


@dataclass(frozen=True)
class CopResult:
    cop_id: str
    name: str
    invited: int
    tally: Tally
    open: bool


@dataclass(frozen=True)
class RoundResults:
    """What one viewer may see of a round: ``total`` None when hidden, ``cops`` only the CoPs that may be shown."""

    scope: str
    open: bool
    invited: int  # people invited to the round (each once)
    total: Tally | None
    statements: frozenset[str]  # statement keys whose total agreement is shown
    cops: Sequence[CopResult]
    hidden_cops: int
    minimum: int
    held_back: bool = False  # this CoP has enough responses but is hidden so a smaller CoP stays hidden
    comments: int | None = None  # comments a programme admin can read (None: none to offer this viewer)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value * 100)}%"


def _rate(responses: int, invited: int) -> str:
    return f"{responses} of {invited} ({round(responses / invited * 100)}%)" if invited else f"{responses}"


def overall_share(total: Tally, keys: Iterable[str]) -> float | None:
    """Agreement over the statements whose figure is shown."""
    chosen = [k for k in keys if k in STATEMENT_KEYS]
    answered = sum(total.answered(k) for k in chosen)
    return sum(total.agree(k) for k in chosen) / answered if answered else None


def results_card(r: RoundResults) -> Card:
    body = [heading(f"Impact survey results: {safe(r.scope, 200)}")]
    if r.total is None:
        if r.held_back:
            body.append(
                text(
                    "This CoP's results are held back for this round: with them, a smaller CoP's answers could be "
                    "worked out from the programme's totals. They count in the programme's results."
                )
            )
        else:
            body.append(
                text(
                    f"Fewer than {r.minimum} responses so far. Results show from {r.minimum} responses so that "
                    "nobody's answers can be picked out."
                )
            )
        return card(body, summary="Impact survey: no results to show yet")
    total = r.total
    body.append(text(f"Response rate: {_rate(total.responses, r.invited)}", weight="bolder"))
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
        if statement.key in r.statements:
            share = total.agree_share(statement.key)
            colour: Color = "good" if share is not None and share >= statement.baseline else "warning"
            now_text = text(_share(share), color=colour)
        else:
            now_text = text("held back", subtle=True, size="small")
        rows.append(
            columns(
                [
                    column([text(statement.text, size="small")]),
                    column([now_text], width="60px"),
                    column([text(_share(statement.baseline), subtle=True)], width="60px"),
                ]
            )
        )
    body.append(container(rows))
    body.append(text(AGREE_NOTE, size="small", subtle=True))
    if len(r.statements) < len(STATEMENTS):
        body.append(
            text(
                "Held back: every respondent of the CoPs not shown separately gave the same kind of answer, so "
                "the total would reveal their answers.",
                size="small",
                subtle=True,
            )
        )
    if r.cops or r.hidden_cops:
        body.append(text("By CoP", weight="bolder", spacing="medium"))
    if r.cops:
        body.append(
            facts(
                (
                    safe(c.name, 100) + (" (open)" if c.open else ""),
                    f"{_share(c.tally.overall_agree_share)} agree · {_rate(c.tally.responses, c.invited)}",
                )
                for c in r.cops
            )
        )
    if r.hidden_cops:
        body.append(
            text(
                f"{r.hidden_cops} CoP(s) not shown separately: fewer than {r.minimum} responses, or held back so "
                "that a smaller CoP's figures cannot be worked out from the total. A person in several CoPs counts "
                "once in the total and once in each of their CoPs.",
                size="small",
                subtle=True,
            )
        )
    if r.comments:
        body.append(text(f"{r.comments} comment(s): type **survey comments** to read them.", size="small"))
    return card(body, summary=f"Impact survey: {_share(overall_share(total, r.statements))} agree")


def comments_card(scope: str, comments: Sequence[tuple[str, str]], *, limit_chars: int = 20_000) -> Card:
    """A round's comments by statement, with no name, date or CoP; the longest lists are cut at ``limit_chars``."""
    body = [
        heading(f"Impact survey comments: {safe(scope, 200)}"),
        text("Anonymous: stored without a name, a date or a CoP, in no particular order.", size="small", subtle=True),
    ]
    used = 0
    left_out = 0
    for statement in STATEMENTS:
        mine = [t for k, t in comments if k == statement.key]
        if not mine:
            continue
        body.append(text(statement.text, weight="bolder", spacing="medium"))
        for comment in mine:
            if used + len(comment) > limit_chars:
                left_out += 1
                continue
            used += len(comment)
            body.append(text(f"“{safe(comment, COMMENT_MAX_CHARS)}”", size="small"))
    if left_out:
        body.append(text(f"{left_out} more comment(s) did not fit on this card.", size="small", subtle=True))
    return card(body, summary=f"Impact survey comments: {len(comments)}", full_width=True)


def examples() -> Iterable[tuple[str, Card]]:
    tz = ZoneInfo("Europe/London")
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    survey = Survey("r1-abc", "r1", "19:a@thread.tacv2", "Data <and> Insight", now, now + timedelta(days=14), now)
    yield "invitation", invitation_card(survey, ["Data <and> Insight"], tz)
    yield "invitation-several", invitation_card(survey, ["Data <and> Insight", "Finance"], tz)
    yield "reminder", invitation_card(survey, ["Data <and> Insight"], tz, reminder=True)
    full = Tally(12, {s.key: [0, 1, 2, 5, 4] for s in STATEMENTS})
    everyone = Tally(21, {s.key: [1, 1, 4, 8, 7] for s in STATEMENTS})
    shown = [CopResult("a", "Data", 40, full, False)]
    keys = frozenset(STATEMENT_KEYS[1:])
    yield "results-all", results_card(RoundResults("all CoPs", True, 90, everyone, keys, shown, 2, 5, comments=3))
    yield "results-too-few", results_card(RoundResults("Finance", True, 30, None, frozenset(), [], 0, 5))
    yield "results-held-back", results_card(RoundResults("HR", True, 30, None, frozenset(), [], 0, 5, held_back=True))
    yield (
        "comments",
        comments_card("all CoPs", [("skills", "The Lunch and Learns <helped>."), ("team", "More, please")]),
    )
