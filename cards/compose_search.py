"""Cards a person inserts from the message extension's search into any chat or channel: an FAQ answer, a CoP with
its join button and an event with its RSVP buttons. Everyone in that conversation sees the same card, so it holds
nothing about the person who inserted it; its buttons act for whoever presses them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.answers.faq import FaqEntry
from bot.core.turn import JSON, Card
from bot.domain.events import KINDS, Event
from cards.elements import action_set, card, execute, facts, heading, open_url, safe, text
from cards.events import ANSWER_TITLES, counts_text, when_text
from cards.faq import source_label

PREVIEW_TITLE_MAX = 80
PREVIEW_TEXT_MAX = 120
ANSWER_MAX = 1500

# what a list entry's title or subtitle may not carry: markdown, HTML and mention tags, control and bidi characters
_UNSAFE_PREVIEW = re.compile(r"[\\`*_\[\]<>~#|&\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def plain(value: str, limit: int) -> str:
    """``value`` as inert plain text for a search result's title or subtitle, on one line, at most ``limit``."""
    flat = " ".join(_UNSAFE_PREVIEW.sub(" ", value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class CopSummary:
    """What a CoP's search card shows: nothing about any one member."""

    cop_id: str
    name: str
    practice_area: str
    leads: tuple[str, ...]
    core: int
    wider: int


def answer_card(entry: FaqEntry, cop_name: str) -> Card:
    # programme answers are ours (markdown on purpose); a CoP's entries are lead-written text (as cards/faq.py)
    answer = entry.answer if entry.is_programme else safe(entry.answer, ANSWER_MAX)
    body = [
        text(safe(entry.question, 300), weight="bolder", size="medium"),
        text(answer),
        text(f"Source: {source_label(entry, cop_name)} · CoP Bot", subtle=True, size="small"),
    ]
    return card(body, summary=f"Answer: {entry.question[:80]}")


def cop_card(cop: CopSummary) -> Card:
    body = [
        heading(safe(cop.name, 120)),
        facts(
            [
                ("Practice area", safe(cop.practice_area, 120) or "—"),
                ("Leads", ", ".join(safe(n, 80) for n in cop.leads) or "—"),
                ("Members", f"{cop.core} core · {cop.wider} wider"),
            ]
        ),
        text("Anyone can join as a core or a wider member.", subtle=True, size="small"),
    ]
    return card(body, [execute("Join", "membership.start", {"cop_id": cop.cop_id})], summary=f"CoP: {cop.name[:80]}")


def event_card(event: Event, cop_name: str, *, calendar_url: str = "") -> Card:
    """The event with its RSVP buttons; "Show my answer" (and the card's refresh, offered by Teams in the card's
    menu: no list of people) replaces it, for the presser only, with their own view."""
    ids = {"cop_id": event.cop_id, "id": event.event_id}
    pairs = [("When", when_text(event)), ("What", KINDS.get(event.kind, event.kind)), ("CoP", safe(cop_name, 120))]
    if event.place:
        pairs.append(("Where", safe(event.place, 200)))
    body: list[JSON] = [heading(safe(event.title, 120)), facts(pairs), text(counts_text(event), spacing="medium")]
    actions = [execute(ANSWER_TITLES[choice], "event.rsvp", {**ids, "choice": choice}) for choice in ANSWER_TITLES]
    actions.append(execute("Show my answer", "event.view", ids))
    links = [open_url("Join online", event.link)] if event.link else []
    if calendar_url:
        links.append(open_url("Add to calendar", calendar_url))
    if links:
        body.append(action_set(links))
    shown = card(body, actions, summary=f"{event.title[:60]}: {when_text(event)}")
    shown.content["refresh"] = {
        "action": {"type": "Action.Execute", "verb": "event.view", "data": {"verb": "event.view", **ids}},
        "userIds": [],  # nobody automatically: anyone may refresh it for themselves from the card's menu
    }
    return shown


def answer_preview(entry: FaqEntry, cop_name: str) -> tuple[str, str]:
    return plain(entry.question, PREVIEW_TITLE_MAX), plain(
        f"{'Programme' if entry.is_programme else cop_name} · {entry.answer}", PREVIEW_TEXT_MAX
    )


def cop_preview(cop: CopSummary) -> tuple[str, str]:
    area = f"{cop.practice_area} · " if cop.practice_area else ""
    return plain(cop.name, PREVIEW_TITLE_MAX), plain(f"{area}{cop.core + cop.wider} members", PREVIEW_TEXT_MAX)


def event_preview(event: Event, cop_name: str) -> tuple[str, str]:
    return plain(event.title, PREVIEW_TITLE_MAX), plain(f"{when_text(event)} · {cop_name}", PREVIEW_TEXT_MAX)


# -- examples for the card catalogue ---------------------------------------------------------------------------


def examples() -> Iterable[tuple[str, Card]]:
    start = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
    event = Event(
        cop_id="19:team-1@thread.tacv2",
        event_id="0123456789ab",
        title="Lunch and learn: *Power BI* tips <b>",
        kind="lunch_and_learn",
        start=start,
        end=start + timedelta(hours=1),
        tz="Europe/London",
        link="https://teams.microsoft.com/l/meetup-join/abc",
        place="Room 101",
        capacity=20,
        going=12,
        maybe=2,
    )
    programme = FaqEntry("p1", "How do I join a CoP?", "Type **join** in the CoP's channel.", scope="programme")
    own = FaqEntry("f3", "Where are the *slides*?", "In the Files tab <at>x</at>.", scope="19:team-1@thread.tacv2")
    yield "answer-programme", answer_card(programme, "Programme")
    yield "answer-cop", answer_card(own, "Data and Insight")
    summary = CopSummary("19:team-1@thread.tacv2", "Data & Insight", "Data", ("Alice Adams",), 12, 30)
    yield "cop", cop_card(summary)
    yield "cop-no-leads", cop_card(replace(summary, leads=(), practice_area=""))
    yield "event", event_card(event, "Data and Insight", calendar_url="https://copbot.example.ac.uk/files/token")
    yield "event-no-link", event_card(replace(event, link="", place=""), "Data and Insight")
