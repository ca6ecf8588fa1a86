"""The audit card: a CoP's recent lead and admin actions, newest first."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.core.turn import Card
from bot.security.audit import AuditEntry
from cards.elements import card, container, execute, heading, safe, text

NONE_YET = "No lead or admin actions have been recorded for this CoP yet."


def _when(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%a %d %b %Y %H:%M")


def audit_card(cop_id: str, cop_name: str, entries: Sequence[AuditEntry], tz: ZoneInfo, *, limit: int) -> Card:
    body = [heading(f"Audit log: {safe(cop_name, 120)}")]
    if not entries:
        body.append(text(NONE_YET, subtle=True))
    else:
        note = f"The latest {len(entries)} actions, newest first." if len(entries) >= limit else "Newest first."
        body.append(text(note, subtle=True))
        for entry in entries:
            line = f"**{safe(entry.actor_name or 'someone', 120)}** {safe(entry.action, 100)}"
            items = [text(_when(entry.at, tz), subtle=True, size="small"), text(line)]
            if entry.detail:
                items.append(text(safe(entry.detail, 300), subtle=True))
            body.append(container(items, separator=True))
    return card(body, [execute("Refresh", "audit.show", {"cop_id": cop_id})], summary=f"Audit log of {cop_name[:60]}")


def examples() -> Iterable[tuple[str, Card]]:
    tz = ZoneInfo("Europe/London")
    at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    entries = [
        AuditEntry("19:a@thread.tacv2", at, "aad-1", "Priya Shah", "faq add", "How do I join? [link](x)"),
        AuditEntry("19:a@thread.tacv2", at, "aad-2", "Tom <b>Lee</b>", "leads add", "added *Sam*"),
    ]
    yield "entries", audit_card("19:a@thread.tacv2", "Data & Insight", entries, tz, limit=20)
    yield "empty", audit_card("19:a@thread.tacv2", "Data & Insight", [], tz, limit=20)
