"""The delivery report card: what the bot sent for a CoP (or for every CoP), whether it arrived, and what people
did with it. A pure function of :class:`~bot.domain.delivery_report.RunReport` rows."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.turn import JSON, Card
from bot.domain.delivery_report import RunReport, actions_text
from bot.domain.engagement import RunEngagement
from cards.elements import card, container, facts, heading, open_url, safe, text

MAX_RUNS = 8
KIND_TITLES: Mapping[str, str] = {
    "digest": "Weekly digest",
    "event announcement": "Event announcement",
    "invitation": "Invitations",
    "reminder": "Reminders",
    "project notice": "Project news",
    "RSVP notice": "RSVP notices",
    "escalation": "Questions to the leads",
    "report to leads": "Reports to the leads",
    "proposal": "CoP proposals",
}


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def _reach(report: RunReport) -> str:
    where = []
    if report.channels:
        where.append(f"{len(report.channels)} channel" + ("s" if len(report.channels) != 1 else ""))
    if report.people:
        where.append(f"{len(report.people)} " + ("person" if len(report.people) == 1 else "people"))
    return f"{report.sent} of {report.messages}" + (f" ({', '.join(where)})" if where else "")


def _run_facts(report: RunReport) -> list[tuple[str, str]]:
    rows = [("Sent", _reach(report))]
    if report.pending:
        still = f"{report.pending}" + (
            f" ({report.throttled_now} held back by Teams' limits)" if report.throttled_now else ""
        )
        rows.append(("Still queued", still))
    if report.failed:
        rows.append(("Not delivered", "; ".join(f"{n}: {reason}" for reason, n in report.failed.most_common())))
    if report.unconfirmed:
        rows.append(("Not confirmed", f"{report.unconfirmed} (Teams did not answer; not sent again)"))
    did = actions_text(report.engagement)
    rows.append(("What people did", did or "no buttons pressed yet"))
    if report.engagement is not None and (report.engagement.useful or report.engagement.not_useful):
        rows.append(("Useful?", f"{report.engagement.useful} yes · {report.engagement.not_useful} no"))
    return rows


def delivery_report_card(
    title: str, reports: Sequence[RunReport], tz: ZoneInfo, *, csv_url: str | None, cop_names: Mapping[str, str]
) -> Card:
    """The newest broadcasts first (at most :data:`MAX_RUNS`; the CSV has them all)."""
    body: list[JSON] = [heading(f"What the bot sent: {safe(title, 120)}")]
    if not reports:
        body.append(text("Nothing was sent in the last 30 days.", subtle=True))
    else:
        body.append(
            text(
                f"{len(reports)} broadcast(s) in the last 30 days, newest first. People are counted once per button, "
                "however often they press it.",
                subtle=True,
                spacing="none",
            )
        )
    for report in reports[:MAX_RUNS]:
        name = KIND_TITLES.get(report.kind, report.kind.capitalize())
        where = f" · {safe(cop_names.get(report.cop_id, ''), 80)}" if len(cop_names) > 1 else ""
        body.append(
            container(
                [
                    text(f"{name}{where} · {_when(report.first_queued, tz)}", weight="bolder"),
                    facts(_run_facts(report)),
                ],
                separator=True,
            )
        )
    if len(reports) > MAX_RUNS:
        body.append(text(f"…and {len(reports) - MAX_RUNS} more in the CSV.", subtle=True))
    actions = [open_url("Download CSV", csv_url)] if csv_url else []
    return card(body, actions, summary=f"Delivery report: {title[:60]}")


def examples() -> Iterable[tuple[str, Card]]:
    now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    tz = ZoneInfo("Europe/London")
    digest = RunReport("digest|19:a@thread.tacv2|2026-W49", "digest", "19:a@thread.tacv2", now, messages=1, sent=1)
    digest.channels.add("19:a@thread.tacv2")
    digest.engagement = RunEngagement(Counter({"event.rsvp": 4, "membership.join": 1}), useful=3, not_useful=1)
    invites = RunReport("invite|19:a@thread.tacv2", "invitation", "19:a@thread.tacv2", now - timedelta(days=2))
    invites.messages, invites.sent, invites.pending, invites.throttled_now, invites.unconfirmed = 120, 111, 4, 4, 1
    invites.failed.update({"the bot was removed or blocked (403)": 3, "the conversation or person is gone (404)": 1})
    invites.people.update(f"personal:{n}" for n in range(120))
    invites.engagement = RunEngagement(Counter({"membership.join": 37, "membership.start": 41}))
    names = {"19:a@thread.tacv2": "Data & <Insight>"}
    yield (
        "cop",
        delivery_report_card("Data & <Insight>", [digest, invites], tz, csv_url="https://x.test/f", cop_names=names),
    )
    yield "empty", delivery_report_card("Data & Insight", [], tz, csv_url=None, cop_names=names)
    names2 = {**names, "19:b@thread.tacv2": "Research Software"}
    other = RunReport("event:e1:announce", "event announcement", "19:b@thread.tacv2", now - timedelta(days=1), 1, 1)
    other.channels.add("19:b@thread.tacv2")
    yield (
        "programme",
        delivery_report_card("every CoP", [digest, other], tz, csv_url="https://x.test/f", cop_names=names2),
    )
