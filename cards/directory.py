"""The CoP directory (``cops``) and the leads' members view (``members``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.turn import JSON, Card
from cards.elements import action_set, card, container, execute, facts, heading, open_url, safe, text
from cards.setup import STATUS_NAMES


@dataclass(frozen=True)
class DirectoryEntry:
    cop_id: str
    name: str
    practice_area: str
    status: str
    sponsor: str
    leads: tuple[str, ...]
    core: int
    wider: int
    is_member: bool = False


@dataclass(frozen=True)
class MembersView:
    cop_name: str
    cop_id: str
    core: int
    wider: int
    by_area: Sequence[tuple[str, int]]  # (area title, members)
    gaps: Sequence[str]  # area titles with no members


def directory_card(entries: Sequence[DirectoryEntry], *, query: str = "", more: int = 0, note: str = "") -> Card:
    title = f"CoPs matching “{safe(query, 80)}”" if query else "Communities of Practice"
    body: list[JSON] = [heading(title)]
    if note:
        body.append(text(note, subtle=True))
    if not entries:
        body.append(text("There are no active CoPs yet."))
    for entry in entries:
        items: list[JSON] = [
            text(safe(entry.name, 120), weight="bolder", size="medium"),
            facts(
                [
                    ("Practice area", safe(entry.practice_area, 120) or "—"),
                    ("Status", STATUS_NAMES.get(entry.status, entry.status)),
                    ("Sponsor", safe(entry.sponsor, 80) or "not set"),
                    ("Leads", ", ".join(safe(n, 80) for n in entry.leads) or "—"),
                    ("Members", f"{entry.core} core · {entry.wider} wider"),
                ]
            ),
        ]
        if entry.is_member:
            items.append(text("You are a member.", color="good", size="small"))
        else:
            items.append(action_set([execute(f"Join {entry.name[:40]}", "membership.start", {"cop_id": entry.cop_id})]))
        body.append(container(items, separator=True))
    if more:
        body.append(text(f"…and {more} more. Add words to narrow it down, e.g. **cops data**.", subtle=True))
    return card(body, summary=title)


def members_card(view: MembersView) -> Card:
    body: list[JSON] = [
        heading(f"Members of {safe(view.cop_name, 120)}"),
        facts(
            [
                ("Core members", str(view.core)),
                ("Wider members", str(view.wider)),
                ("Total", str(view.core + view.wider)),
            ]
        ),
        text("By organisational area", weight="bolder", spacing="medium"),
        facts([(safe(area, 80), str(count)) for area, count in view.by_area]),
    ]
    if view.gaps:
        body.append(
            text(
                "Representation gaps: nobody from " + ", ".join(safe(g, 80) for g in view.gaps) + " yet.",
                color="warning",
            )
        )
    else:
        body.append(text("Every organisational area is represented.", color="good"))
    return card(
        body,
        [execute("Export CSV", "directory.export", {"cop_id": view.cop_id})],
        summary=f"Members of {view.cop_name}",
    )


def export_card(cop_name: str, url: str, minutes: int) -> Card:
    body = [
        heading(f"Members of {safe(cop_name, 120)} (CSV)"),
        text(f"The link works for {minutes} minutes and only for people who have it; don't forward it."),
    ]
    return card(body, [open_url("Download CSV", url)], summary="Members CSV")


def examples() -> Iterable[tuple[str, Card]]:
    entry = DirectoryEntry(
        "19:team-1@thread.tacv2", "Data and Insight", "Planning", "launched", "Tom Rowson", ("Alice Adams",), 12, 30
    )
    yield (
        "directory",
        directory_card([entry, DirectoryEntry("19:t2", "Widening Participation", "", "preparing", "", (), 0, 0, True)]),
    )
    yield "directory-query", directory_card([entry], query="data", more=3)
    yield "directory-empty", directory_card([])
    view = MembersView(
        "Data and Insight",
        "19:team-1@thread.tacv2",
        12,
        30,
        [("Central professional services function", 30), ("Faculty or academic department", 12)],
        ["Vice-Provost office"],
    )
    yield "members", members_card(view)
    yield "members-no-gaps", members_card(replace_gaps(view))
    yield "export", export_card("Data and Insight", "https://bot.example/files/abc", 15)


def replace_gaps(view: MembersView) -> MembersView:
    return MembersView(view.cop_name, view.cop_id, view.core, view.wider, view.by_area, [])
