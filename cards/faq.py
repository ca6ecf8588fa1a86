"""Cards of the FAQ: an answer with "Did this help?", a question passed to the leads with the FAQ entries that
might help meanwhile, the CoP's FAQ list, the add/import forms, the import report and the "which CoP should I
ask?" choice."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.answers.faq import MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, FaqEntry
from bot.core.turn import JSON, Card
from cards.elements import (
    card,
    execute,
    facts,
    heading,
    input_choice,
    input_text,
    notice,
    safe,
    show_card,
    text,
)

LIST_LIMIT = 60
RELATED_INTRO = "While you wait, these FAQ entries might help:"
ERRORS_SHOWN = 20

HELPED_THANKS = "Glad that helped."
CSV_HELP = (
    "Paste CSV with one entry per line: question, answer and optionally alternative phrasings separated by |. "
    "A header row naming the columns (question, answer, alternatives) is optional. Quote cells that contain commas."
)


@dataclass(frozen=True)
class FeedbackData:
    """What the "Did this help?" buttons carry: the CoP (sealed), a hash of the question (sealed as ``id``),
    the question itself and the thread it was asked in."""

    cop_id: str
    question_hash: str
    question: str
    root: str = ""
    entry_id: str = ""
    origin: str = "ask"

    def as_data(self) -> dict[str, str]:
        return {
            "cop_id": self.cop_id,
            "id": self.question_hash,
            "q": self.question,
            "root": self.root,
            "entry": self.entry_id,
            "origin": self.origin,
        }


def source_label(entry: FaqEntry, cop_name: str) -> str:
    return "Programme FAQ" if entry.is_programme else f"{safe(cop_name, 120)} FAQ ({entry.entry_id})"


def _answer_text(entry: FaqEntry) -> str:
    # programme answers are ours (markdown on purpose); a CoP's entries are lead-written text
    return entry.answer if entry.is_programme else safe(entry.answer, MAX_ANSWER_CHARS + 100)


def answer_card(question: str, entry: FaqEntry, cop_name: str, feedback: FeedbackData | None) -> Card:
    body: list[JSON] = [
        text(f"You asked: {safe(question, 300)}", subtle=True),
        text(safe(entry.question, MAX_QUESTION_CHARS + 50), weight="bolder", size="medium"),
        text(_answer_text(entry)),
        text(f"Source: {source_label(entry, cop_name)}", subtle=True, size="small"),
    ]
    actions: list[JSON] = []
    if feedback is not None:
        body.append(text("Did this help?", weight="bolder", spacing="medium"))
        actions = [
            execute("Yes, thanks", "faq.helped", feedback.as_data(), style="positive"),
            execute("No, it didn't help", "faq.not_helped", feedback.as_data()),
        ]
    return card(body, actions, summary=f"Answer: {entry.question[:80]}")


def answered_card(question: str, entry: FaqEntry, cop_name: str, outcome: str) -> Card:
    """The answer card after a "Did this help?" press: same content, the buttons replaced by the outcome."""
    shown = answer_card(question, entry, cop_name, None)
    shown.content["body"].append(text(outcome, color="good", spacing="medium"))
    return shown


def _related(related: Sequence[tuple[FaqEntry, str]]) -> tuple[list[JSON], list[JSON]]:
    """The intro line and one "show" button per related entry (``(entry, CoP name)``): the answer opens in the
    card itself, with no request to the bot."""
    if not related:
        return [], []
    actions = [
        show_card(
            safe(entry.question, 80),
            [
                text(_answer_text(entry)),
                text(f"Source: {source_label(entry, cop_name)}", subtle=True, size="small"),
            ],
        )
        for entry, cop_name in related
    ]
    return [text(RELATED_INTRO, weight="bolder", spacing="medium")], actions


def passed_on_card(message: str, related: Sequence[tuple[FaqEntry, str]]) -> Card:
    """The question went to the leads (``message`` says so); ``related`` entries ranked below the confidence
    threshold are offered, clearly as maybes, to read while the leads reply."""
    intro, actions = _related(related)
    body = [heading("Passed to the leads"), text(message), *intro]
    return card(body, actions, summary="Passed to the leads")


def choose_cop_card(
    question: str,
    feedback: FeedbackData,
    cops: Sequence[tuple[str, str]],
    related: Sequence[tuple[FaqEntry, str]] = (),
) -> Card:
    """``cops`` are (cop_id, name); the choice arrives as ``target_cop`` and is re-checked server-side. ``related``:
    as for :func:`passed_on_card`."""
    intro, shown = _related(related)
    body = [
        heading("Which CoP should I ask?"),
        text(
            "I don't have a confident answer to that, so I'll pass it to the leads of a CoP. Which one?",
        ),
        text(f"Your question: {safe(question, 500)}", subtle=True),
        input_choice(
            "target_cop", label="CoP", choices=[(safe(name, 100), cop_id) for cop_id, name in cops], required=True
        ),
    ]
    body.extend(intro)
    actions = [execute("Ask this CoP", "faq.pick_cop", feedback.as_data()), *shown]
    return card(body, actions, summary="Which CoP should I ask?")


def faq_list_card(cop_id: str, cop_name: str, entries: Sequence[FaqEntry], programme_count: int) -> Card:
    body: list[JSON] = [heading(f"{safe(cop_name, 120)} FAQ")]
    if entries:
        body.append(
            text(f"{len(entries)} entries of your own, plus {programme_count} programme-wide entries.", subtle=True)
        )
        rows = [(entry.entry_id, safe(entry.question, 200)) for entry in entries[:LIST_LIMIT]]
        body.append(facts(rows))
        if len(entries) > LIST_LIMIT:
            body.append(text(f"…and {len(entries) - LIST_LIMIT} more.", subtle=True))
        body.append(text("Remove an entry with **faq remove** followed by its id, e.g. faq remove f1.", subtle=True))
    else:
        body.append(text(f"No entries of your own yet; I answer from the {programme_count} programme-wide entries."))
    actions = [
        execute("Add an entry", "faq.add_form", {"cop_id": cop_id}),
        execute("Import CSV", "faq.import_form", {"cop_id": cop_id}),
    ]
    return card(body, actions, summary=f"{cop_name} FAQ")


def faq_form_card(
    cop_id: str,
    cop_name: str,
    *,
    question: str = "",
    answer: str = "",
    alternatives: str = "",
    errors: Sequence[str] = (),
    query_id: str = "",
) -> Card:
    """Add an entry (``query_id`` set: approve an entry drafted from an answered query)."""
    title = "Add to the FAQ from a question" if query_id else "Add an FAQ entry"
    body: list[JSON] = [heading(title), text(f"For {safe(cop_name, 120)}.", subtle=True)]
    if errors:
        body.append(text("Please fix: " + "; ".join(safe(e, 300) for e in errors) + ".", color="attention"))
    body += [
        input_text(
            "question",
            label="Question",
            value=question[:MAX_QUESTION_CHARS],
            max_length=MAX_QUESTION_CHARS,
            required=True,
        ),
        input_text(
            "answer",
            label="Answer",
            value=answer[:MAX_ANSWER_CHARS],
            multiline=True,
            max_length=MAX_ANSWER_CHARS,
            required=True,
        ),
        input_text(
            "alternatives",
            label="Other ways people ask it (one per line, optional)",
            value=alternatives,
            multiline=True,
            max_length=5 * (MAX_QUESTION_CHARS + 1),
        ),
    ]
    data = {"cop_id": cop_id, "id": query_id}
    return card(body, [execute("Add to FAQ", "faq.add", data, style="positive")], summary=title)


def import_form_card(cop_id: str, cop_name: str, csv_text: str = "", error: str = "") -> Card:
    body: list[JSON] = [
        heading("Import FAQ entries"),
        text(f"For {safe(cop_name, 120)}. {CSV_HELP}", subtle=True),
    ]
    if error:
        body.append(text(safe(error, 300), color="attention"))
    body.append(
        input_text(
            "csv",
            label="CSV",
            value=csv_text,
            multiline=True,
            max_length=30_000,
            required=True,
            placeholder="question,answer,alternatives",
        )
    )
    return card(body, [execute("Import", "faq.import", {"cop_id": cop_id})], summary="Import FAQ entries")


def import_report_card(cop_name: str, added: Sequence[FaqEntry], errors: Sequence[tuple[int, str]]) -> Card:
    body: list[JSON] = [heading("FAQ import")]
    body.append(
        text(
            f"Imported {len(added)} {'entry' if len(added) == 1 else 'entries'} into {safe(cop_name, 120)}'s FAQ"
            + (f" ({added[0].entry_id} to {added[-1].entry_id})." if added else "."),
            color="good" if added else "default",
        )
    )
    if errors:
        body.append(
            text(f"{len(errors)} {'row was' if len(errors) == 1 else 'rows were'} not imported:", color="attention")
        )
        body.append(
            facts([(f"row {row}" if row else "CSV", safe(reason, 300)) for row, reason in errors[:ERRORS_SHOWN]])
        )
        if len(errors) > ERRORS_SHOWN:
            body.append(text(f"…and {len(errors) - ERRORS_SHOWN} more.", subtle=True))
    return card(body, summary=f"Imported {len(added)} FAQ entries")


def added_card(entry: FaqEntry, cop_name: str) -> Card:
    return card(
        [
            heading("Added to the FAQ"),
            facts([("Id", entry.entry_id), ("Question", safe(entry.question, 300))]),
            text(safe(entry.answer, MAX_ANSWER_CHARS + 100)),
            text(f"In {safe(cop_name, 120)}'s FAQ; I'll use it for questions from now on.", subtle=True),
        ],
        summary=f"Added {entry.entry_id} to the FAQ",
    )


def examples() -> Iterable[tuple[str, Card]]:
    programme = FaqEntry(
        "how-to-join",
        "How do I join a CoP?",
        "Type **join** in the CoP's channel.",
        ("Can I sign up?",),
        (),
        "programme",
        "programme_faq.json",
    )
    own = FaqEntry(
        "f3", "Where are the <b>slides</b>?", "On the *Files* tab of General.", (), (), "19:t@thread.tacv2", "lead"
    )
    feedback = FeedbackData("19:t@thread.tacv2", "0123456789abcdef", "how do i join?")
    yield "answer-programme", answer_card("how do i join?", programme, "Data & Insight", feedback)
    yield "answer-cop", answer_card("slides??", own, "Data & Insight", feedback)
    yield "answer-helped", answered_card("how do i join?", programme, "Data & Insight", HELPED_THANKS)
    yield (
        "choose-cop",
        choose_cop_card(
            "Who runs the [data] CoP?", feedback, [("19:a@thread.tacv2", "Data"), ("19:b@thread.tacv2", "Comms")]
        ),
    )
    yield (
        "choose-cop-related",
        choose_cop_card("how do i sign up??", feedback, [("19:a@thread.tacv2", "Data")], [(programme, "Programme")]),
    )
    message = "I don't have a confident answer to that, so I've passed it to the leads of **Data**."
    yield "passed-on", passed_on_card(message, [(programme, "Programme"), (own, "Data & Insight")])
    yield "list", faq_list_card("19:t@thread.tacv2", "Data & Insight", [own], 50)
    yield "list-empty", faq_list_card("19:t@thread.tacv2", "Data & Insight", [], 50)
    yield "form", faq_form_card("19:t@thread.tacv2", "Data", errors=["the answer is missing"], question="Q?")
    yield "form-from-query", faq_form_card("19:t@thread.tacv2", "Data", question="Q?", answer="A.", query_id="17")
    yield "import-form", import_form_card("19:t@thread.tacv2", "Data", error="there are no rows to import")
    yield "import-report", import_report_card("Data", [own], [(3, "the answer is missing"), (4, "duplicate of f1")])
    yield "added", added_card(own, "Data")
    yield "notice", notice("Removed f3.")
