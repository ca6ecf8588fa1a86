"""``faq``, ``faq add``, ``faq remove``, ``faq import``: a CoP's leads manage their own FAQ entries (the
programme-wide entries are the programme team's)."""

from __future__ import annotations

import logging
from typing import Any

from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry
from bot.core.turn import Role
from bot.domain.cops import Cop
from bot.domain.faq import (
    MAX_COP_ENTRIES,
    SOURCE_CSV,
    SOURCE_LEAD,
    SOURCE_QUERY,
    Draft,
    FaqChanged,
    clean_line,
    normalise_question,
    plan_import,
    split_alternatives,
    validate_draft,
)
from bot.domain.queries import QueryRepo
from bot.features.faq import indexes
from bot.features.queries import lead_cop
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.elements import safe
from cards.faq import (
    added_card,
    faq_form_card,
    faq_list_card,
    import_form_card,
    import_report_card,
)

log = logging.getLogger(__name__)

REMOVE_USAGE = "Say which entry to remove, e.g. **faq remove f3** (type **faq** to see the ids)."
REMOVE_PROGRAMME = "{id} is a programme-wide entry; the programme team manages those. Your own entries start with f."
REMOVE_MISSING = "There is no entry {id} in {cop}'s FAQ, so nothing was removed. Type **faq** to see the ids."
REMOVED = "Removed {id} from {cop}'s FAQ: {question}"
DUPLICATE = "that question is already in the FAQ as {id}"
TOO_MANY = "the FAQ already has {n} entries (at most {limit}); remove some first"
BUSY = "Someone else was editing the FAQ at the same moment; nothing was changed. Please try again."


# -- FAQ management -------------------------------------------------------------------------------------------


def form_inputs(data: Any) -> tuple[Draft, str]:
    def field(name: str) -> str:
        value = data.get(name) if hasattr(data, "get") else None
        return value if isinstance(value, str) else ""

    alternatives_text = field("alternatives")
    draft = Draft(clean_line(field("question")), field("answer").strip(), split_alternatives(alternatives_text))
    return draft, alternatives_text


async def add_entries(turn: Turn, cop: Cop, drafts: list[Draft], source: str) -> list[FaqEntry]:
    services = turn.services
    now = services.clock.now()
    added = await indexes(services).repo.add(cop.cop_id, drafts, source, now)
    person = turn.request.person
    detail = ", ".join(e.entry_id for e in added)
    await audit.record(services.store, cop.cop_id, now, person.aad_id, person.name, f"faq.{source}", detail)
    return added


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("faq", help="This CoP's FAQ entries, with their ids", role=Role.LEAD)
    async def list_faq(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is None:
            return
        await turn.respond.reply(await list_card(turn.services, cop))

    async def list_card(services: Services, cop: Cop) -> Any:
        await indexes(services).ensure_programme(services.clock.now())
        repo = indexes(services).repo
        entries = await repo.entries(cop.cop_id)
        programme = await repo.entries(PROGRAMME_SCOPE)
        return faq_list_card(cop.cop_id, cop.name, entries, len(programme))

    @router.command("faq add", help="Add an entry to this CoP's FAQ (a form)", role=Role.LEAD)
    async def faq_add(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            await turn.respond.reply(faq_form_card(cop.cop_id, cop.name))

    @router.action("faq.add_form", role=Role.LEAD)
    async def faq_add_form(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            turn.respond.answer_action(faq_form_card(cop.cop_id, cop.name))

    @router.action("faq.add", role=Role.LEAD)
    async def faq_add_submit(turn: Turn) -> None:
        cop = await lead_cop(turn)
        action = turn.request.action
        if cop is None or action is None:
            return
        draft, alternatives_text = form_inputs(action.data)
        query_id = str(action.data.get("id", "") or "")
        problems = validate_draft(draft)
        repo = indexes(turn.services).repo
        existing = await repo.entries(cop.cop_id)
        if not problems:
            known = {normalise_question(p): e.entry_id for e in existing for p in e.phrasings}
            duplicate = next((known[k] for k in map(normalise_question, draft.phrasings()) if k in known), None)
            if duplicate:
                problems.append(DUPLICATE.format(id=duplicate))
            elif len(existing) >= MAX_COP_ENTRIES:
                problems.append(TOO_MANY.format(n=len(existing), limit=MAX_COP_ENTRIES))
        if problems:
            turn.respond.answer_action(
                faq_form_card(
                    cop.cop_id,
                    cop.name,
                    question=draft.question,
                    answer=draft.answer,
                    alternatives=alternatives_text,
                    errors=problems,
                    query_id=query_id,
                )
            )
            return
        if query_id and await QueryRepo(turn.services.store).get(cop.cop_id, query_id) is None:
            query_id = ""  # the query is gone; still a fine entry
        try:
            [entry] = await add_entries(turn, cop, [draft], SOURCE_QUERY if query_id else SOURCE_LEAD)
        except FaqChanged:
            await turn.tell(BUSY)
            return
        turn.respond.answer_action(added_card(entry, cop.name))

    @router.command("faq remove", help="Remove an entry from this CoP's FAQ", role=Role.LEAD, usage="<id>")
    async def faq_remove(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is None:
            return
        entry_id = turn.args.strip().lower()
        if not entry_id or " " in entry_id:
            await turn.tell(REMOVE_USAGE)
            return
        shown_id = safe(entry_id, 40)
        if not entry_id.startswith("f") or not entry_id[1:].isdigit():
            programme = await indexes(turn.services).repo.get(PROGRAMME_SCOPE, entry_id)
            template = REMOVE_PROGRAMME if programme is not None else REMOVE_MISSING
            await turn.tell(template.format(id=shown_id, cop=safe(cop.name, 120)))
            return
        services = turn.services
        now = services.clock.now()
        try:
            removed = await indexes(services).repo.remove(cop.cop_id, entry_id, now)
        except FaqChanged:
            await turn.tell(BUSY)
            return
        if removed is None:
            await turn.tell(REMOVE_MISSING.format(id=shown_id, cop=safe(cop.name, 120)))
            return
        person = turn.request.person
        await audit.record(services.store, cop.cop_id, now, person.aad_id, person.name, "faq.remove", entry_id)
        await turn.tell(
            REMOVED.format(id=removed.entry_id, cop=safe(cop.name, 120), question=safe(removed.question, 300))
        )

    @router.command(
        "faq import",
        help="Import FAQ entries from CSV (a form, or CSV after the command)",
        role=Role.LEAD,
        usage="[csv]",
    )
    async def faq_import(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is None:
            return
        if not turn.args.strip():
            await turn.respond.reply(import_form_card(cop.cop_id, cop.name))
            return
        await run_import(turn, cop, turn.args)

    @router.action("faq.import_form", role=Role.LEAD)
    async def faq_import_form(turn: Turn) -> None:
        cop = await lead_cop(turn)
        if cop is not None:
            turn.respond.answer_action(import_form_card(cop.cop_id, cop.name))

    @router.action("faq.import", role=Role.LEAD)
    async def faq_import_submit(turn: Turn) -> None:
        cop = await lead_cop(turn)
        action = turn.request.action
        if cop is None or action is None:
            return
        raw = action.data.get("csv")
        text = raw if isinstance(raw, str) else ""
        if not text.strip():
            turn.respond.answer_action(import_form_card(cop.cop_id, cop.name, error="Paste some CSV first."))
            return
        await run_import(turn, cop, text)

    async def run_import(turn: Turn, cop: Cop, text: str) -> None:
        existing = await indexes(turn.services).repo.entries(cop.cop_id)
        plan = plan_import(text, existing)
        errors = [(e.row, e.reason) for e in plan.errors]
        drafts = plan.valid
        room = max(0, MAX_COP_ENTRIES - len(existing))
        if len(drafts) > room:
            errors.append(
                (
                    0,
                    TOO_MANY.format(n=len(existing), limit=MAX_COP_ENTRIES) + f"; {len(drafts) - room} "
                    "valid rows were left out",
                )
            )
            drafts = drafts[:room]
        try:
            added = await add_entries(turn, cop, drafts, SOURCE_CSV) if drafts else []
        except FaqChanged:
            await turn.tell(BUSY)
            return
        report = import_report_card(cop.name, added, errors)
        if turn.request.kind == "action":
            turn.respond.answer_action(report)
        else:
            await turn.respond.reply(report)
