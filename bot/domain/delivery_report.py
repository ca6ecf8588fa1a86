"""Delivery and engagement reports: for each broadcast the bot sent (a digest, an event's announcement, a reminder
round, a CoP's invitations), how many messages went out, to how many channels and people, which failed and why,
which Teams never confirmed, and what people did with them.

Built from the outbox's own rows (kept 30 days; ``run`` names the broadcast, :func:`bot.domain.delivery.run_of`) and the
engagement table (:mod:`bot.domain.engagement`): no second record of what was sent can disagree with the outbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.delivery import OUTBOX_PARTITION as PARTITION
from bot.domain.delivery import OUTBOX_TABLE as TABLE
from bot.domain.delivery import kind_of, run_of
from bot.domain.engagement import RunEngagement
from storage import paging
from storage.base import Row, TableStore, Where

# Card verbs as people would say what they did.
ACTION_NAMES: Mapping[str, str] = {
    "event.rsvp": "answered the RSVP",
    "event.view": "opened the event",
    "event.feedback": "gave event feedback",
    "membership.join": "joined",
    "membership.start": "started joining",
    "membership.stay": "stayed",
    "faq.helped": "found the answer helpful",
    "faq.not_helped": "found the answer unhelpful",
    "queries.answer_form": "started an answer",
    "queries.answer": "answered",
    "project.follow": "followed the project",
    "project.view": "opened the project",
}


def failure_reason(error: str) -> str:
    """Why an item was given up, in words a lead can act on."""
    if error in ("403", "target gone"):
        return "the bot was removed or blocked (403)"
    if error == "404":
        return "the conversation or person is gone (404)"
    if error.startswith("gave up"):
        return "Teams kept failing or throttling (gave up)"
    if error.startswith("refused"):
        return "Teams refused the message"
    return "failed"


@dataclass
class RunReport:
    run: str
    kind: str
    cop_id: str
    first_queued: datetime
    messages: int = 0
    sent: int = 0
    pending: int = 0
    throttled_now: int = 0  # pending after a 429: still queued
    unconfirmed: int = 0  # "unknown": Teams may have shown it; not sent again
    failed: Counter[str] = field(default_factory=Counter)
    channels: set[str] = field(default_factory=set)
    people: set[str] = field(default_factory=set)
    engagement: RunEngagement | None = None

    @property
    def failed_total(self) -> int:
        return sum(self.failed.values())

    @property
    def acted(self) -> int:
        """People who pressed at least one of its buttons (the most of any one action: a lower bound)."""
        return self.engagement.people if self.engagement is not None else 0


def _add(reports: dict[tuple[str, str], RunReport], row: Row) -> None:
    key = str(row.get("key", ""))
    run = str(row.get("run") or run_of(key))
    cop_id = str(row.get("cop_id", ""))
    created = row.get("created")
    if not isinstance(created, datetime):
        return
    report = reports.get((cop_id, run))
    if report is None:
        report = reports[(cop_id, run)] = RunReport(run, kind_of(key).name, cop_id, created)
    report.first_queued = min(report.first_queued, created)
    report.messages += 1
    status = str(row.get("status", ""))
    if status == "sent":
        report.sent += 1
    elif status in ("pending", "sending"):
        report.pending += 1
        if row.get("error") == "429":
            report.throttled_now += 1
    elif status == "unknown":
        report.unconfirmed += 1
    elif status == "dead":
        report.failed[failure_reason(str(row.get("error", "")))] += 1
    target = str(row.get("target", ""))
    if target.startswith("personal:"):
        report.people.add(target)
    elif target:
        report.channels.add(target)


async def run_reports(
    store: TableStore, cop_id: str | None, engagement: Mapping[str, RunEngagement] | None = None
) -> list[RunReport]:
    """The broadcasts of one CoP (or of every CoP, ``cop_id`` None) still in the outbox, newest first."""
    where = [Where("cop_id", "eq", cop_id)] if cop_id is not None else []
    reports: dict[tuple[str, str], RunReport] = {}
    async for rows, _ in paging.pages(store, TABLE, PARTITION, where):
        for row in rows:
            if cop_id is None or row.get("cop_id") == cop_id:
                _add(reports, row)
    out = sorted(reports.values(), key=lambda r: r.first_queued, reverse=True)
    for report in out:
        if engagement is not None:
            report.engagement = engagement.get(report.run)
    return out


def actions_text(engagement: RunEngagement | None, limit: int = 3) -> str:
    if engagement is None or not engagement.actions:
        return ""
    parts = [f"{count} {ACTION_NAMES.get(verb, verb)}" for verb, count in engagement.actions.most_common(limit)]
    return ", ".join(parts)


def to_rows(reports: Iterable[RunReport], cop_names: Mapping[str, str]) -> list[list[str]]:
    """The CSV's rows (header first): one per broadcast."""
    rows = [
        [
            "cop",
            "kind",
            "broadcast",
            "first queued (UTC)",
            "messages",
            "sent",
            "still queued",
            "not confirmed",
            "failed",
            "why failed",
            "channels",
            "people",
            "people who acted",
            "what they did",
            "useful",
            "not useful",
        ]
    ]
    for r in reports:
        rows.append(
            [
                cop_names.get(r.cop_id, r.cop_id),
                r.kind,
                r.run,
                r.first_queued.strftime("%Y-%m-%d %H:%M"),
                str(r.messages),
                str(r.sent),
                str(r.pending),
                str(r.unconfirmed),
                str(r.failed_total),
                "; ".join(f"{reason}: {n}" for reason, n in r.failed.most_common()),
                str(len(r.channels)),
                str(len(r.people)),
                str(r.acted),
                actions_text(r.engagement, limit=20),
                str(r.engagement.useful if r.engagement else 0),
                str(r.engagement.not_useful if r.engagement else 0),
            ]
        )
    return rows
