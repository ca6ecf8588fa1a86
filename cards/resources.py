"""Shared resource cards: the list (or what ``resources <words>`` found), the share form, a Lunch and Learn's
recording and slides form, and the few resources offered beside an ``ask`` answer."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.core.turn import JSON, Card
from bot.domain.resources import KINDS, TAGS_MAX, TITLE_MAX, WHY_MAX, Resource
from cards.elements import action_set, card, container, execute, heading, input_choice, input_text, open_url, safe, text


@dataclass(frozen=True)
class Shown:
    resource: Resource
    cop_name: str
    removable: bool  # the viewer shared it, or leads the CoP


def _line(r: Resource) -> str:
    tags = f" · {', '.join(safe(t, 40) for t in r.tags)}" if r.tags else ""
    return f"{KINDS[r.kind]}{tags}"


def _block(item: Shown, *, show_cop: bool) -> JSON:
    """Two lines and the buttons: a card of many resources stays light to seal and send."""
    r = item.resource
    who = f"shared by {safe(r.shared_by_name, 80)}" if r.shared_by_name else "shared by a member"
    if show_cop:
        who += f" · {safe(item.cop_name, 80)}"
    detail = f"{safe(r.why, WHY_MAX)} ({who})" if r.why else who[0].upper() + who[1:]
    items: list[JSON] = [
        text(f"**{safe(r.title, TITLE_MAX)}** · {_line(r)}"),
        text(detail, subtle=True, size="small", spacing="none"),
    ]
    buttons = [open_url("Open", r.url)]
    if item.removable:
        buttons.append(execute("Remove", "resource.remove", {"cop_id": r.cop_id, "id": r.resource_id}))
    items.append(action_set(buttons))
    return container(items, separator=True)


def resources_card(
    items: Sequence[Shown], words: str, *, show_cop: bool, share_in: Sequence[tuple[str, str]] = (), total: int = 0
) -> Card:
    """``share_in``: (CoP id, name) of the CoPs where the viewer may share (a button each)."""
    title = f"Resources for “{safe(words, 80)}”" if words else "Shared resources"
    body: list[JSON] = [heading(title)]
    if not items:
        body.append(
            text("Nothing matches those words." if words else "No resources have been shared yet.", subtle=True)
        )
    elif not words and total > len(items):
        body.append(text(f"The {len(items)} newest of {total}; add words to search them all.", subtle=True))
    body += [_block(item, show_cop=show_cop) for item in items]
    actions = [
        execute(
            "Share a resource" + (f" in {safe(name, 40)}" if len(share_in) > 1 else ""),
            "resource.share_form",
            {"cop_id": cop_id, "id": ""},
        )
        for cop_id, name in share_in[:5]
    ]
    return card(body, actions, summary=f"{len(items)} resources")


def share_form(cop_id: str, cop_name: str, resource_id: str, values: Mapping[str, str], *, error: str = "") -> Card:
    body: list[JSON] = [heading("Share a resource"), text(safe(cop_name, 120), subtle=True)]
    if error:
        body.append(text(safe(error, 300), color="attention", weight="bolder"))
    body += [
        input_text("title", label="Title", value=values.get("title", ""), max_length=TITLE_MAX, required=True),
        input_text("url", label="Link (https://…)", value=values.get("url", ""), max_length=500, required=True),
        input_choice(
            "kind",
            label="Kind",
            choices=[(title, key) for key, title in KINDS.items()],
            value=values.get("kind", "") or "guide",
            required=True,
        ),
        input_text(
            "tags", label=f"Tags (comma-separated, up to {TAGS_MAX})", value=values.get("tags", ""), max_length=400
        ),
        input_text("why", label="Why it helps (one line)", value=values.get("why", ""), max_length=WHY_MAX),
    ]
    return card(
        body,
        [execute("Share", "resource.share", {"cop_id": cop_id, "id": resource_id}, style="positive")],
        summary="Share a resource",
    )


def attach_form(cop_id: str, event_id: str, event_title: str, values: Mapping[str, str], *, error: str = "") -> Card:
    body: list[JSON] = [
        heading("Recording and slides"),
        text(safe(event_title, 120), subtle=True),
        text("They are added to the CoP's shared resources, linked to this Lunch and Learn.", size="small"),
    ]
    if error:
        body.append(text(safe(error, 300), color="attention", weight="bolder"))
    body += [
        input_text("recording", label="Recording link (https://…)", value=values.get("recording", ""), max_length=500),
        input_text("slides", label="Slides link (https://…)", value=values.get("slides", ""), max_length=500),
    ]
    return card(
        body,
        [execute("Attach", "resource.attach", {"cop_id": cop_id, "id": event_id}, style="positive")],
        summary="Attach the recording and slides",
    )


def attach_button(cop_id: str, event_id: str) -> JSON:
    """The button a lead sees on a Lunch and Learn's card."""
    return action_set(
        [execute("Attach recording or slides", "resource.attach_form", {"cop_id": cop_id, "id": event_id})]
    )


def lunch_and_learns_card(cop_id: str, events: Sequence[tuple[str, str, datetime]]) -> Card:
    """The CoP's recent and coming Lunch and Learns, each with its attach button."""
    body: list[JSON] = [heading("Recordings and slides")]
    if not events:
        body.append(text("No Lunch and Learns in the last 90 days or to come.", subtle=True))
    for event_id, title, start in events:
        when = f"{start.day} {start:%b %Y}"
        body.append(
            container([text(f"**{safe(title, 120)}** · {when}"), attach_button(cop_id, event_id)], separator=True)
        )
    return card(body, summary="Lunch and Learns")


def offered_card(items: Sequence[Shown]) -> Card:
    """Up to three shared resources that fit a question, sent beside the FAQ's answer (or the note that the leads
    have the question)."""
    body: list[JSON] = [text("Shared resources that may help", weight="bolder")]
    body += [_block(item, show_cop=False) for item in items]
    return card(body, summary="Shared resources that may help")


def examples() -> Iterable[tuple[str, Card]]:
    r = Resource(
        cop_id="19:team@thread.tacv2",
        resource_id="a1b2c3d4e5f6",
        title="Report **template** [v2](javascript:x)",
        url="https://example.org/template",
        kind="template",
        tags=("reporting", "power bi"),
        why="Saves a day a month.",
        shared_by="aad-1",
        shared_by_name="Alice",
        shared_at=datetime(2026, 11, 2, tzinfo=UTC),
    )
    yield (
        "list",
        resources_card([Shown(r, "Data", True)], "", show_cop=True, share_in=[("c", "Data"), ("d", "HR")], total=3),
    )
    yield "found-none", resources_card([], "budget", show_cop=False)
    yield "share-form", share_form("c", "Data", "a1b2c3d4e5f6", {"title": "x"}, error="Link is required.")
    yield "attach-form", attach_form("c", "e1", "Lunch and Learn: dashboards", {})
    yield "offered", offered_card([Shown(r, "Data", False)])
    yield (
        "lunch-and-learns",
        lunch_and_learns_card("c", [("e1", "Dashboards <b>", datetime(2026, 11, 2, 12, tzinfo=UTC))]),
    )
    yield "no-lunch-and-learns", lunch_and_learns_card("c", [])
