"""Cards of ``import members``: the paste form, the preview with its confirm button, the result, and the notice
an imported member gets."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.core.turn import JSON, Card
from cards.elements import card, execute, facts, heading, input_choice, input_text, notice, safe, text

PASTE_MAX = 8000  # one card input (bot.routing.limits.MAX_FIELD_CHARS); longer lists come as a file
PLACEHOLDER = "email,tier,org area,job family,joined\nalex.smith@example.ac.uk,core,central,Analyst,2024-01-15"
SHOWN = 10  # people listed per part of the preview; the counts cover the rest
COLUMNS = (
    "Columns (the first row names them): **email** (or **object id**, the person's Entra object id), "
    "**tier** (core or wider), and optionally **org area** (central, faculty, vpo, other), **job family**, "
    "**joined** (YYYY-MM-DD) and **cop** (the CoP's name, for a list covering several CoPs)."
)
HOW = (
    "Paste the list below, or send me the CSV file in this chat (at most {max_kb} KB and {max_rows:,} rows). "
    "I'll show you what would change first; nothing changes until you confirm."
)


@dataclass(frozen=True)
class PreviewLine:
    line: int
    who: str  # already escaped
    detail: str = ""


@dataclass(frozen=True)
class PreviewView:
    title: str  # the CoP (or "3 CoPs")
    import_id: str
    digest: str
    cop_id: str  # the CoP a lead imports for; "" for a programme-wide list
    to_add: Sequence[PreviewLine] = ()
    to_change: Sequence[PreviewLine] = ()
    unchanged: int = 0
    conflicts: Sequence[PreviewLine] = ()
    unknown: Sequence[PreviewLine] = ()
    bad: Sequence[PreviewLine] = ()
    notes: Sequence[str] = field(default_factory=tuple)


def paste_card(choices: Sequence[tuple[str, str]], *, max_kb: int, max_rows: int, error: str = "") -> Card:
    """The paste form; ``choices`` are the CoPs the importer may import for (a choice when there are several)."""
    body: list[JSON] = [heading("Import members"), text(HOW.format(max_kb=max_kb, max_rows=max_rows))]
    body.append(text(COLUMNS, subtle=True, size="small"))
    if error:
        body.append(text(safe(error, 400), color="attention"))
    if len(choices) > 1:
        body.append(
            input_choice("cop_choice", label="Which CoP? (rows with a cop column say their own)", choices=choices)
        )
    body.append(
        input_text(
            "csv",
            label="The list (CSV)",
            placeholder=PLACEHOLDER,
            multiline=True,
            max_length=PASTE_MAX,
            required=True,
        )
    )
    data = {"cop_id": choices[0][1]} if len(choices) == 1 else {}
    return card(body, [execute("Preview", "imports.preview", data, style="positive")], summary="Import members")


def _section(title: str, lines: Sequence[PreviewLine], total: int, color: str = "default") -> list[JSON]:
    if not total:
        return []
    out: list[JSON] = [text(f"{title}: {total:,}", weight="bolder", spacing="medium", color=color)]  # type: ignore[arg-type]
    shown = [(f"row {p.line}", p.who + (f" — {p.detail}" if p.detail else "")) for p in lines[:SHOWN]]
    if shown:
        out.append(facts(shown))
    if total > SHOWN:
        out.append(text(f"…and {total - SHOWN:,} more.", subtle=True, size="small"))
    return out


def preview_card(view: PreviewView) -> Card:
    changes = len(view.to_add) + len(view.to_change)
    body: list[JSON] = [
        heading(f"Import preview: {safe(view.title, 120)}"),
        facts(
            [
                ("To add", f"{len(view.to_add):,}"),
                ("To change", f"{len(view.to_change):,}"),
                ("Unchanged", f"{view.unchanged:,}"),
                ("One-core conflicts", f"{len(view.conflicts):,}"),
                ("Unknown people", f"{len(view.unknown):,}"),
                ("Rows with problems", f"{len(view.bad):,}"),
            ]
        ),
    ]
    body += _section("To add", view.to_add, len(view.to_add))
    body += _section("To change", view.to_change, len(view.to_change))
    body += _section(
        "One-core conflicts (not imported; the person chooses their core CoP)",
        view.conflicts,
        len(view.conflicts),
        "warning",
    )
    body += _section("Unknown people (not in the team)", view.unknown, len(view.unknown), "warning")
    body += _section("Rows with problems (not imported)", view.bad, len(view.bad), "attention")
    body.extend(text(n, subtle=True, size="small") for n in view.notes)
    if not changes:
        body.append(text("Nothing to change.", weight="bolder", spacing="medium"))
        return card(body, summary="Import preview: nothing to change")
    body.append(
        text(
            "Imported people get a short personal message saying so; they can change their tier or leave.",
            subtle=True,
            size="small",
        )
    )
    data = {"cop_id": view.cop_id, "id": f"{view.import_id}.{view.digest}"}
    actions = [
        execute(f"Apply {changes:,} change{'s' if changes != 1 else ''}", "imports.apply", data, style="positive")
    ]
    return card(body, actions, summary=f"Import preview: {changes} changes")


def applying_card(title: str, changes: int) -> Card:
    return notice(
        f"Applying {changes:,} change{'s' if changes != 1 else ''} to {safe(title, 120)}. "
        "I'll message you here when it's done.",
        title="Import under way",
    )


def result_card(title: str, added: int, changed: int, skipped: int, conflicts: Sequence[str], refused: int) -> Card:
    body: list[JSON] = [
        heading(f"Import done: {safe(title, 120)}"),
        facts(
            [
                ("Added", f"{added:,}"),
                ("Changed", f"{changed:,}"),
                ("Skipped (changed by someone since the preview)", f"{skipped:,}"),
                ("One-core conflicts", f"{len(conflicts):,}"),
                ("Not allowed (you no longer lead the CoP)", f"{refused:,}"),
            ]
        ),
    ]
    body.extend(text(safe(c, 200), color="warning", size="small") for c in conflicts[:SHOWN])
    if len(conflicts) > SHOWN:
        body.append(text(f"…and {len(conflicts) - SHOWN:,} more conflicts.", subtle=True, size="small"))
    return card(body, summary=f"Import done: {added} added, {changed} changed")


def imported_card(cop_id: str, cop_name: str, tier: str) -> Card:
    """The personal notice of an imported member: what was recorded, and how to change it or leave."""
    name = safe(cop_name, 120)
    body: list[JSON] = [
        heading(f"You're a {tier} member of {name}"),
        text(
            f"The leads of {name} added you from their membership list, as a **{tier}** member. "
            "If that's not right, change your membership or leave; nothing else is needed."
        ),
    ]
    actions = [
        execute("Change my membership", "membership.start", {"cop_id": cop_id}),
        execute(f"Leave {cop_name[:60]}", "membership.leave", {"cop_id": cop_id}, style="destructive"),
    ]
    return card(body, actions, summary=f"You're a {tier} member of {cop_name}")


def examples() -> Iterable[tuple[str, Card]]:
    yield "paste", paste_card([("Data and Insight", "19:team-1@thread.tacv2")], max_kb=1024, max_rows=5000)
    yield (
        "paste-choice",
        paste_card(
            [("A", "19:a@thread.tacv2"), ("B", "19:b@thread.tacv2")],
            max_kb=1024,
            max_rows=5000,
            error="Paste some CSV first.",
        ),
    )
    view = PreviewView(
        "Data and Insight",
        "0123456789abcdef",
        "d" * 32,
        "19:team-1@thread.tacv2",
        to_add=[PreviewLine(2, "Alex Smith", "core")],
        to_change=[PreviewLine(3, "Sam Jones", "wider → core")],
        unchanged=4,
        conflicts=[PreviewLine(5, "Kim Lee", "already a core member of Comms")],
        unknown=[PreviewLine(6, "nobody@example.ac.uk")],
        bad=[PreviewLine(7, "", "tier 'gold' is neither core nor wider")],
    )
    yield "preview", preview_card(view)
    yield (
        "preview-nothing",
        preview_card(PreviewView("Data and Insight", "0123456789abcdef", "d" * 32, "", unchanged=3)),
    )
    yield "applying", applying_card("Data and Insight", 12)
    yield "result", result_card("Data and Insight", 10, 2, 1, ["row 5 (Kim Lee): already a core member of Comms"], 0)
    yield "imported", imported_card("19:team-1@thread.tacv2", "Data and Insight", "core")
