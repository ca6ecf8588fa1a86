"""Typed builders for Adaptive Card 1.5 elements.

Cards are assembled from these functions and typed data, never by string replacement, so user text can only
ever land in a text property (and is escaped there by :func:`safe`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from bot.core.turn import JSON, Card

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"

Color = Literal["default", "dark", "light", "accent", "good", "warning", "attention"]
Size = Literal["small", "default", "medium", "large", "extraLarge"]
Weight = Literal["lighter", "default", "bolder"]

_MARKDOWN = re.compile(r"([\\`*_\[\]<>~])")
_LINE_START = re.compile(r"^(\s*)([#+\-])", re.MULTILINE)
_NUMBERED = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# C0/C1 controls (not tab/newlines), zero-width and bidirectional-override characters (which can disguise text)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def safe(text: str, limit: int = 2000) -> str:
    """Make user text inert in a TextBlock: no markdown, no <at> mentions, no HTML, no control characters."""
    text = _CONTROL.sub("", text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    escaped = _MARKDOWN.sub(r"\\\1", text)
    escaped = _LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)
    return _NUMBERED.sub(lambda m: m.group(1) + "\\.", escaped)


def text(
    value: str,
    *,
    size: Size = "default",
    weight: Weight = "default",
    color: Color = "default",
    subtle: bool = False,
    wrap: bool = True,
    spacing: str | None = None,
    element_id: str | None = None,
) -> JSON:
    block: JSON = {"type": "TextBlock", "text": value, "wrap": wrap}
    if size != "default":
        block["size"] = size
    if weight != "default":
        block["weight"] = weight
    if color != "default":
        block["color"] = color
    if subtle:
        block["isSubtle"] = True
    if spacing:
        block["spacing"] = spacing
    if element_id:
        block["id"] = element_id
    return block


def heading(value: str) -> JSON:
    return text(value, size="large", weight="bolder")


def facts(pairs: Iterable[tuple[str, str]]) -> JSON:
    return {"type": "FactSet", "facts": [{"title": title, "value": value} for title, value in pairs]}


def column(items: Sequence[JSON], *, width: str = "stretch", style: str | None = None) -> JSON:
    col: JSON = {"type": "Column", "width": width, "items": list(items)}
    if style:
        col["style"] = style
    return col


def columns(cols: Sequence[JSON]) -> JSON:
    return {"type": "ColumnSet", "columns": list(cols)}


def container(items: Sequence[JSON], *, style: str | None = None, separator: bool = False) -> JSON:
    box: JSON = {"type": "Container", "items": list(items)}
    if style:
        box["style"] = style
    if separator:
        box["separator"] = True
    return box


def image(url: str, *, alt: str, size: str = "auto") -> JSON:
    return {"type": "Image", "url": url, "altText": alt, "size": size}


def input_text(
    input_id: str,
    *,
    label: str,
    value: str = "",
    placeholder: str = "",
    multiline: bool = False,
    max_length: int = 500,
    required: bool = False,
    error: str = "",
) -> JSON:
    field: JSON = {"type": "Input.Text", "id": input_id, "label": label, "maxLength": max_length}
    if value:
        field["value"] = value
    if placeholder:
        field["placeholder"] = placeholder
    if multiline:
        field["isMultiline"] = True
    if required:
        field["isRequired"] = True
        field["errorMessage"] = error or f"{label} is required"
    return field


def input_choice(
    input_id: str,
    *,
    label: str,
    choices: Sequence[tuple[str, str]],
    value: str = "",
    multi: bool = False,
    expanded: bool = False,
    required: bool = False,
) -> JSON:
    field: JSON = {
        "type": "Input.ChoiceSet",
        "id": input_id,
        "label": label,
        "choices": [{"title": title, "value": val} for title, val in choices],
    }
    if value:
        field["value"] = value
    if multi:
        field["isMultiSelect"] = True
    if expanded:
        field["style"] = "expanded"
    if required:
        field["isRequired"] = True
        field["errorMessage"] = f"Choose {label.lower()}"
    return field


def input_number(input_id: str, *, label: str, value: int | None = None, low: int = 0, high: int = 100000) -> JSON:
    field: JSON = {"type": "Input.Number", "id": input_id, "label": label, "min": low, "max": high}
    if value is not None:
        field["value"] = value
    return field


def _input_when(kind: str, input_id: str, label: str, value: str, required: bool) -> JSON:
    field: JSON = {"type": kind, "id": input_id, "label": label}
    if value:
        field["value"] = value
    if required:
        field["isRequired"] = True
        field["errorMessage"] = f"{label} is required"
    return field


def input_date(input_id: str, *, label: str, value: str = "", required: bool = False) -> JSON:
    return _input_when("Input.Date", input_id, label, value, required)


def input_time(input_id: str, *, label: str, value: str = "", required: bool = False) -> JSON:
    return _input_when("Input.Time", input_id, label, value, required)


def input_toggle(input_id: str, *, title: str, value: bool = False) -> JSON:
    return {
        "type": "Input.Toggle",
        "id": input_id,
        "title": title,
        "value": "true" if value else "false",
        "valueOn": "true",
        "valueOff": "false",
    }


def execute(title: str, verb: str, data: Mapping[str, Any] | None = None, *, style: str | None = None) -> JSON:
    """Action.Execute (Universal Actions): answered by an invoke that can replace the card in place."""
    action: JSON = {"type": "Action.Execute", "title": title, "verb": verb, "data": {"verb": verb, **(data or {})}}
    if style:
        action["style"] = style
    return action


def submit(title: str, verb: str, data: Mapping[str, Any] | None = None, *, style: str | None = None) -> JSON:
    """Action.Submit: arrives as a message whose value carries ``verb``."""
    action: JSON = {"type": "Action.Submit", "title": title, "data": {"verb": verb, **(data or {})}}
    if style:
        action["style"] = style
    return action


def show_card(title: str, body: Sequence[JSON]) -> JSON:
    """Action.ShowCard: opens ``body`` under the card in the client, with no request to the bot."""
    return {"type": "Action.ShowCard", "title": title, "card": {"type": "AdaptiveCard", "body": list(body)}}


def open_url(title: str, url: str) -> JSON:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def action_set(actions: Sequence[JSON]) -> JSON:
    return {"type": "ActionSet", "actions": list(actions)}


def card(body: Sequence[JSON], actions: Sequence[JSON] = (), *, summary: str = "", full_width: bool = False) -> Card:
    content: JSON = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": VERSION, "body": list(body)}
    if actions:
        content["actions"] = list(actions)
    if full_width:
        content["msteams"] = {"width": "Full"}
    return Card(content=content, summary=summary)


def notice(message: str, *, title: str = "", color: Color = "default") -> Card:
    """A one-message card, used to replace a clicked card with an outcome."""
    body = [heading(title)] if title else []
    body.append(text(message, color=color))
    return card(body, summary=title or message[:80])
