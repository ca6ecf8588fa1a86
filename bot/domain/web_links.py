"""Web links people type into cards (project outcomes, shared resources): http(s) only, length-limited, one
address per link, nothing that could run or disguise itself when shown."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bot.domain.validation import BadInput, clean_text

LINK_MAX = 500


def clean_link(value: Any, label: str, *, required: bool = False) -> str:
    """A stripped http(s) address, or BadInput with the reason; empty when not given and not required."""
    link = clean_text(value, label, LINK_MAX, required=required)
    if not link:
        return ""
    if any(c.isspace() for c in link) or any(c in link for c in '<>"`'):
        raise BadInput(f"{label} must be one web address, with no spaces.")
    try:
        parts = urlsplit(link)
    except ValueError:
        raise BadInput(f"{label} is not a web address I can read.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadInput(f"{label} must be a web address starting with https:// (or http://).")
    if parts.username or parts.password:
        raise BadInput(f"{label} must not carry a user name or password.")
    return link


def clean_links(value: Any, label: str, limit: int) -> tuple[str, ...]:
    """Up to ``limit`` links, one per line (or separated by spaces or commas), duplicates dropped."""
    text = clean_text(value, label, (LINK_MAX + 1) * limit, multiline=True)
    found: list[str] = []
    for raw in text.replace(",", " ").split():
        link = clean_link(raw, label)
        if link and link not in found:
            found.append(link)
    if len(found) > limit:
        raise BadInput(f"{label}: at most {limit} links, not {len(found)}.")
    return tuple(found)
