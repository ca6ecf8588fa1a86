"""The weekly digest card: a pure function of :class:`~bot.domain.digest.DigestData` (no I/O, no clock)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.turn import JSON, Card
from bot.domain.digest import DigestData, DigestEvent, HealthStats, NewFaq, NewMember, OpenQuestion, pick_highlight
from cards.elements import card, container, execute, facts, heading, notice, safe, text

MAX_ITEMS = 8
FEEDBACK_VERB = "digest.feedback"  # "was this digest useful?" (bot/features/delivery_report.py)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _tz(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/London")


def _when(moment: datetime, tz: ZoneInfo) -> str:
    local = moment.astimezone(tz)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def _ago(then: datetime, now: datetime) -> str:
    days = (now - then).days
    if days <= 0:
        return "today"
    return "yesterday" if days == 1 else f"{days} days ago"


def _more(count: int) -> list[JSON]:
    return [text(f"…and {count - MAX_ITEMS} more", subtle=True, spacing="none")] if count > MAX_ITEMS else []


def _section(title: str, items: Sequence[JSON]) -> JSON:
    return container([text(title, weight="bolder", spacing="medium"), *items], separator=True)


def digest_card(data: DigestData, *, preview: bool = False) -> Card | None:
    """The digest, or None when there is nothing to say (then nothing is posted)."""
    if not data.has_news:
        return None
    tz = _tz(data.timezone)
    start = data.since.astimezone(tz)
    body: list[JSON] = []
    if preview:
        body.append(text("Preview: only you can see this.", color="accent", weight="bolder"))
    body.append(heading(f"This week in {safe(data.cop_name, 120)}"))
    body.append(text(f"Since {start:%A} {start.day} {start:%B}", subtle=True, spacing="none"))
    if data.new_members:
        rows = [
            (safe(m.name, 80), "core member" if m.tier == "core" else "wider member")
            for m in data.new_members[:MAX_ITEMS]
        ]
        count = len(data.new_members)
        title = "Welcome to our new member" if count == 1 else f"Welcome to our {count} new members"
        body.append(_section(title, [facts(rows), *_more(count)]))
    if data.upcoming_events:
        rows = []
        for event in data.upcoming_events[:MAX_ITEMS]:
            going = f"{event.going} going" + (f" of {event.capacity}" if event.capacity else "")
            rows.append((safe(event.title, 100), f"{_when(event.starts_at, tz)} · {going}"))
        body.append(_section("Coming up in the next 14 days", [facts(rows), *_more(len(data.upcoming_events))]))
    if data.open_questions:
        items = [
            text(f"{safe(q.text, 200)} _(asked {_ago(q.asked_at, data.now)})_", spacing="small")
            for q in data.open_questions[:MAX_ITEMS]
        ]
        title = "A question needs an answer" if len(data.open_questions) == 1 else "Questions that need an answer"
        body.append(_section(title, [*items, *_more(len(data.open_questions))]))
    if data.new_faqs:
        items = [text(safe(f.question, 200), spacing="small") for f in data.new_faqs[:MAX_ITEMS]]
        body.append(_section("New or updated in the FAQ", [*items, *_more(len(data.new_faqs))]))
    if data.highlight:
        body.append(container([text(safe(data.highlight, 300), color="good")], style="good", separator=True))
    if preview:
        actions = [execute("Post now", "digest.post", {"cop_id": data.cop_id})]
    else:
        actions = [
            execute("Useful", FEEDBACK_VERB, {"cop_id": data.cop_id, "useful": True}),
            execute("Not useful", FEEDBACK_VERB, {"cop_id": data.cop_id, "useful": False}),
        ]
    return card(body, actions, summary=f"{data.cop_name[:60]}: this week's digest")


def schedule_text(enabled: bool, weekday: int, hhmm: str, timezone: str) -> str:
    if not enabled:
        return "The weekly digest is off."
    return f"The weekly digest is posted on {DAY_NAMES[weekday % 7]}s at {hhmm} ({timezone})."


def posted_notice(channel_hint: str) -> Card:
    return notice(f"The digest is on its way to {channel_hint}.", title="Digest posted")


def examples() -> Iterable[tuple[str, Card]]:
    now = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    full = DigestData(
        cop_id="19:team-1@thread.tacv2",
        cop_name="Data and Insight",
        timezone="Europe/London",
        since=now - timedelta(days=7),
        now=now,
        new_members=(NewMember("Priya Shah", "core"), NewMember("Tom O'Neill", "wider")),
        upcoming_events=(
            DigestEvent("Lunch and Learn: *dbt* in practice", now + timedelta(days=2, hours=3), 14, "lunch", 30),
        ),
        open_questions=(OpenQuestion("Who owns the HESA return timetable?", now - timedelta(days=3)),),
        new_faqs=(NewFaq("How do I join as a core member?"),),
        highlight=pick_highlight(HealthStats(members=42, core=12, joined_30d=5, org_areas=4)),
    )
    built = digest_card(full)
    preview = digest_card(full, preview=True)
    many = DigestData(
        cop_id=full.cop_id,
        cop_name=full.cop_name,
        timezone="Europe/London",
        since=full.since,
        now=now,
        new_members=tuple(NewMember(f"Member {i}", "wider") for i in range(12)),
    )
    long_list = digest_card(many)
    assert built is not None
    assert preview is not None
    assert long_list is not None
    yield "weekly", built
    yield "preview", preview
    yield "many-new-members", long_list
    yield "posted", posted_notice("the General channel")
