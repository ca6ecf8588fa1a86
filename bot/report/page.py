"""The report as HTML: built from strings with every value escaped (``html.escape``), charts inline (bot/report/svg.py).

:func:`report_body` is the report itself (the signed-link page wraps it in :func:`document`; the Teams tab fetches
it with its sign-in token and puts it in its own page). Styles and the print button's script are static files
(bot/report/static/), so the pages run under a Content-Security-Policy with no inline script or style.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bot.domain.cops import Cop
from bot.health.engine import AREAS
from bot.health.providers import TREND_DAYS
from bot.report import svg
from bot.report.data import Cell, Report, Table

STATIC = "/report/static"
ROLE_NAMES = {"admin": "programme team", "sponsor": "sponsor", "lead": "lead"}
SECTIONS = (
    ("people", "People"),
    ("activity", "Lunch and Learns"),
    ("health", "Health"),
    ("outputs", "Projects"),
    ("survey", "Survey"),
    ("service", "Questions and digests"),
)


def document(title: str, body: str, *, scripts: Sequence[str] = (f"{STATIC}/report.js",)) -> str:
    tags = "".join(f'<script src="{escape(src)}" defer></script>' for src in scripts)
    return (
        '<!DOCTYPE html><html lang="en-GB"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="{STATIC}/report.css">{tags}</head>'
        f"<body>{body}</body></html>"
    )


def message_page(title: str, text: str) -> str:
    """A short page for 401/403/404/503: what happened and what to do."""
    return document(title, f'<main id="main"><h1>{escape(title)}</h1><p>{escape(text)}</p></main>', scripts=())


def _cell(value: Cell) -> str:
    return escape(str(value))


def table_html(table: Table, csv_url: str) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in table.columns)
    rows = "".join(
        "<tr>" + f'<th scope="row">{_cell(r[0])}</th>' + "".join(f"<td>{_cell(v)}</td>" for v in r[1:]) + "</tr>"
        for r in table.rows
    )
    if not table.rows:
        rows = f'<tr><td colspan="{len(table.columns)}">Nothing to show yet.</td></tr>'
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (
        f'<div class="table" id="table-{escape(table.key)}"><table><caption>{escape(table.title)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{note}"
        f'<p class="download"><a href="{escape(csv_url)}" download>'
        f"Download “{escape(table.title)}” as CSV</a></p></div>"
    )


def _numbers(table: Table, column: int) -> list[float]:
    return [float(r[column]) if isinstance(r[column], int | float) else 0.0 for r in table.rows]


def _labels(table: Table) -> list[str]:
    return [str(r[0]) for r in table.rows]


def _section(key: str, heading: str, content: str) -> str:
    return f'<section id="{key}" aria-labelledby="{key}-h"><h2 id="{key}-h">{escape(heading)}</h2>{content}</section>'


def _chooser(cops: Sequence[Cop], chosen: str | None) -> str:
    if len(cops) < 2 and chosen is None:
        return ""
    links = ['<li><a href="?">All my CoPs</a></li>' if chosen else "<li>All my CoPs</li>"]
    for cop in cops:
        label = escape(cop.name)
        if cop.cop_id == chosen:
            links.append(f'<li aria-current="page">{label}</li>')
        else:
            links.append(f'<li><a href="?cop={escape(quote(cop.cop_id, safe=""))}">{label}</a></li>')
    return f'<nav class="cops" aria-label="Choose a CoP"><ul>{"".join(links)}</ul></nav>'


def report_body(
    report: Report,
    csv_url: Callable[[str], str],
    tz: ZoneInfo,
    *,
    cops: Sequence[Cop] = (),
    chosen: str | None = None,
) -> str:
    t = report.tables
    nav = "".join(f'<li><a href="#{key}">{escape(label)}</a></li>' for key, label in SECTIONS)
    when = report.generated_at.astimezone(tz)
    header = (
        f"<header><h1>Communities of Practice report: {escape(report.scope)}</h1>"
        f'<p class="meta">For the {escape(ROLE_NAMES.get(report.role, report.role))} · '
        f"{when:%d %B %Y, %H:%M} ({escape(tz.key)}); figures at most 5 minutes old, health at most 15</p>"
        f'<p class="headline"><strong>{report.people}</strong> people in <strong>{report.memberships}</strong> '
        f"memberships across <strong>{report.cops}</strong> CoP{'s' if report.cops != 1 else ''}.</p>"
        f'<nav class="sections" aria-label="Sections"><ul>{nav}</ul></nav>'
        f'<p class="actions"><button type="button" id="print">Print or save as PDF</button></p>'
        f"{_chooser(cops, chosen)}</header>"
    )

    def tab(key: str) -> str:
        table = t.get(key)
        return table_html(table, csv_url(key)) if table is not None else ""

    people = t["people"]
    people_chart = svg.bars(
        "People and memberships by term",
        _labels(people),
        [("People", _numbers(people, 1)), ("Memberships", _numbers(people, 2))],
    )
    practice = (
        tab("practice-areas")
        if report.practice_areas_shown
        else ('<p class="note">No CoP has a practice area yet, so there is no breakdown by practice area.</p>')
    )
    lunch = t["lunch-and-learns"]
    lunch_chart = svg.bars(
        "Lunch and Learns by term",
        _labels(lunch),
        [("Held in the term", _numbers(lunch, 1)), ("Cumulative", _numbers(lunch, 2))],
    )
    titles = [title for _, title in AREAS]
    heat = svg.heat_map(titles, report.health)
    legend = (
        '<p class="note">G green, A amber, R red, N not enough data. The line is the number of members each day over '
        f"the last {TREND_DAYS} days (the scorecard's daily trend points).</p>"
    )
    survey = t["survey"]
    first_scope = survey.rows[0][0] if survey.rows else ""
    survey_rows = [r for r in survey.rows if r[1] != "All statements" and r[0] == first_scope]
    survey_chart = (
        svg.bars(
            f"Impact survey, % agree: 2021 and latest ({survey_rows[0][0]})",
            [str(i + 1) for i in range(len(survey_rows))],
            [
                ("2021", [float(r[2]) if isinstance(r[2], int | float) else 0.0 for r in survey_rows]),
                ("Latest", [float(r[3]) if isinstance(r[3], int | float) else 0.0 for r in survey_rows]),
            ],
            unit="%",
        )
        + '<p class="note">Bars are numbered in the order of the statements in the table.</p>'
        if survey_rows
        else ""
    )
    answered = [r for r in t["queries"].rows if isinstance(r[3], int | float)]  # terms with a response
    query_chart = svg.bars(
        "Median hours to a first response by term",
        [str(r[0]) for r in answered],
        [("Median hours", [float(r[3]) for r in answered])],
    )
    main = "".join(
        [
            _section("people", "People and memberships", people_chart + tab("people") + tab("org-areas") + practice),
            _section("activity", "Lunch and Learns", lunch_chart + tab("lunch-and-learns")),
            _section("health", "Health of each CoP", heat + legend + tab("health")),
            _section("outputs", "Projects and outputs", tab("projects")),
            _section("survey", "Impact survey", survey_chart + tab("survey")),
            _section("service", "Questions and digests", query_chart + tab("queries") + tab("digests")),
        ]
    )
    return f'<a class="skip" href="#main">Skip to the report</a>{header}<main id="main">{main}</main>'
