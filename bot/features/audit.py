"""``audit``: a CoP's recent lead and admin actions for its leads (and the programme team).

Every lead/admin action is recorded with :func:`bot.security.audit.record`; this shows them newest first. The log names
people, so it is also a personal-data source: ``my data`` exports a person's own actions and ``forget me``
replaces their id and name with "former member" in the entries they made or that are about them (see
:func:`erase_audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from bot.core.turn import Role
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.erasure import FORMER_MEMBER, Identity, id_pattern, name_pattern, replace_whole
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.audit import audit_card
from storage import paging
from storage.base import NotFound, PreconditionFailed, Row, TableStore, Where

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

SHOWN = 20
WHICH_COP = (
    "You lead more than one CoP, so I don't know which log to show. Mention me with **audit** in the CoP's "
    "team channel."
)
UNKNOWN_COP = "This team is not set up as a CoP yet, so there is no audit log here."


async def show_log(turn: Turn) -> None:
    cop_id = turn.cop_id
    if cop_id is None:
        await turn.tell(WHICH_COP)
        return
    cop = await turn.load_cop()
    if cop is None:
        await turn.tell(UNKNOWN_COP)
        return
    entries = await audit.recent(turn.services.store, cop_id, limit=SHOWN)
    shown = audit_card(cop_id, cop.name, entries, turn.services.settings.tz, limit=SHOWN)
    if turn.request.kind == "action":
        turn.respond.answer_action(shown)
    else:
        await turn.respond.reply(shown)


async def export_audit(services: Services, aad_id: str) -> Any:
    out: list[dict[str, Any]] = []
    async for rows, _ in paging.pages(services.store, audit.TABLE, None, [Where("actor_aad_id", "eq", aad_id)]):
        out.extend(
            {
                "at": row["at"].isoformat() if hasattr(row["at"], "isoformat") else str(row["at"]),
                "action": row.get("action", ""),
                "detail": row.get("detail", ""),
            }
            for row in rows
        )
    return out


async def actor_names(store: TableStore, who: Identity) -> set[str]:
    """The names the person's own entries were recorded under (found by their ids, a page at a time)."""
    names: set[str] = set()
    for person_id in sorted(who.ids):
        async for rows, _ in paging.pages(store, audit.TABLE, None, [Where("actor_aad_id", "eq", person_id)]):
            names |= {str(r.get("actor_name", "")) for r in rows}
    return names


async def erase_audit_page(store: TableStore, rows: Sequence[Row], who: Identity, names: frozenset[str]) -> int:
    """One page of :func:`erase_audit`: ``names`` are all the person's names (see :func:`actor_names`)."""
    name_words = name_pattern(names)
    id_words = id_pattern(who.ids)
    changed = 0
    for row in rows:
        detail = str(row.get("detail", ""))
        actor = who.is_id(row.get("actor_aad_id"))
        subject = who.is_id(row.get("subject_aad_id")) or bool(id_words and id_words.search(detail))
        if not (actor or subject):
            continue
        data = dict(row.data)
        if actor:
            data["actor_aad_id"] = ""
            data["actor_name"] = FORMER_MEMBER
        if "subject_aad_id" in data and who.is_id(data["subject_aad_id"]):
            data["subject_aad_id"] = ""
        data["detail"] = replace_whole(replace_whole(detail, id_words), name_words)
        if data != dict(row.data):
            try:
                await store.update(audit.TABLE, row.partition_key, row.row_key, data, etag=row.etag)
            except (PreconditionFailed, NotFound):
                continue  # audit rows are never edited otherwise; a concurrent erase did it
            changed += 1
    return changed


async def erase_audit(services: Services, aad_id: str, names: frozenset[str] = frozenset(), user_id: str = "") -> int:
    """Keep the record of what was done, but not by or about whom. By identity, never by substring: in the
    entries where the person is the actor (``actor_aad_id``, which holds the Teams user id for people without an
    Entra id) or the subject (``subject_aad_id``, or their id as a whole token in the detail, as entries written
    before subjects were recorded have it), their ids, and their names as whole words, become "former member".
    Other people's entries are not rewritten, whatever names they hold. Returns the number of entries changed.

    Reads the log a page at a time (each page its own storage deadline); ``forget me`` runs the same pages
    through :func:`erase_audit_page` behind a saved cursor, so a long log is finished later rather than failed."""
    store = services.store
    who = Identity(aad_id, user_id)
    known = frozenset(set(names) | await actor_names(store, who))
    changed = 0
    async for rows, _ in paging.pages(store, audit.TABLE, None):
        changed += await erase_audit_page(store, rows, who, known)
    return changed


async def _erase(services: Services, aad_id: str) -> None:
    await erase_audit(services, aad_id)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("audit", help="Recent lead and admin actions in this CoP", role=Role.LEAD)
    async def audit_command(turn: Turn) -> None:
        await show_log(turn)

    @router.action("audit.show", role=Role.LEAD)
    async def audit_refresh(turn: Turn) -> None:
        await show_log(turn)

    privacy.register("audit", export_audit, _erase)
