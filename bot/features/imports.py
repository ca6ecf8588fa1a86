"""``import members``: a CoP's existing membership list, as a CSV file sent in personal chat or pasted into a card,
previewed against the team's roster and the stored memberships, and applied only when the lead confirms that
exact preview.

The confirm button is sealed over the import's id and the digest of its changes; the stored changes are
re-digested before anything is applied, and each is applied only if the person still has the tier the preview
saw. A lead imports for the CoPs they lead, a programme admin for any (a ``cop`` column names each row's CoP).
Applying runs after the click is answered (a list of 2,000 takes longer than Teams waits for a card), leased in
storage so that the minute tick finishes it if this process stops; the result comes as a message.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.core.turn import JSON, Card, FileOffer, Person, Role, RosterEntry, Rosters
from bot.domain.codec import dump_reference, load_reference
from bot.domain.cops import Cop, cop_repo
from bot.domain.import_plans import Entry, Plan, digest_of, index_roster, plan_import, resolve_cop
from bot.domain.import_store import PREVIEW_TTL, Head, ImportStore
from bot.domain.imports import MAX_BYTES, MAX_ROWS, ImportRow, Unreadable, decode, parse, shown
from bot.domain.members import MembershipRepo
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.elements import safe
from cards.imports import (
    PreviewLine,
    PreviewView,
    applying_card,
    imported_card,
    paste_card,
    preview_card,
    result_card,
)

log = logging.getLogger(__name__)

FETCH_TIMEOUT_S = 10.0
NOT_ALLOWED = "Only a CoP's leads and programme admins can import members, and you don't lead a CoP."
NO_ROSTER = (
    "I couldn't read the member list of {name} from Teams just now, so nothing changed. Please try again in a minute."
)
NOT_CSV = "I can only import a CSV file (.csv or .txt). Nothing changed."
TOO_BIG = (
    "That file is larger than {limit} KB, the most I import at once. Split it and send the parts. Nothing changed."
)
NO_FILE = "I couldn't fetch that file from Teams ({why}). Please send it again. Nothing changed."
STALE = "That preview is out of date or was changed, so I ignored it. Import the list again for a fresh preview."
DONE = "That import has already been applied (or is being applied). Nothing more changed."
NOT_YOURS = "Only the person who previewed this import can apply it."
EXPIRED = "That preview is more than a day old. Import the list again for a fresh preview. Nothing changed."
EMPTY = "Paste the list first (with its header row)."


@dataclass(frozen=True)
class Importer:
    aad_id: str
    admin: bool
    cops: tuple[Cop, ...]  # the CoPs they may import for (active ones)

    def may(self, cop_id: str) -> bool:
        return self.admin or any(c.cop_id == cop_id for c in self.cops)


async def importer_of(services: Services, person: Person) -> Importer | None:
    if not person.aad_id:
        return None
    admin = person.aad_id in services.settings.programme_admins
    cops = await cop_repo(services).all()
    mine = tuple(c for c in cops if admin or c.is_lead(person.aad_id))
    if not mine and not admin:
        return None
    return Importer(person.aad_id, admin, mine)


def roster_reference(cop: Cop) -> JSON:
    """Where to ask for a team's roster: the CoP's stored home reference, else its service URL."""
    return cop.home_reference or {"serviceUrl": cop.service_url, "conversation": {"id": cop.cop_id}}


async def team_roster(services: Services, cop: Cop) -> list[RosterEntry] | None:
    """The team's roster through the seam (all pages), or None when Teams cannot be asked."""
    rosters = services.proactive
    if not isinstance(rosters, Rosters):
        log.error("the Teams seam cannot read rosters outside a turn")
        return None
    from bot.teams import DeliveryError

    try:
        return await rosters.team_roster(roster_reference(cop), cop.cop_id)
    except DeliveryError as error:
        log.warning("roster unavailable status=%s cop_id=%s", error.status, cop.cop_id)
        return None


def file_url_allowed(url: str) -> bool:
    """Teams hands out https links to the sender's OneDrive; plain http only to this machine (tests, local)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme == "https" and host:
        return True
    if parts.scheme != "http":
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def fetch_file(offer: FileOffer, limit: int = MAX_BYTES, timeout_s: float | None = None) -> bytes | str:
    """The file's bytes, or the reason to give the person. Never more than ``limit`` bytes are read, and never
    for longer than ``timeout_s`` (default ``FETCH_TIMEOUT_S``)."""
    if not file_url_allowed(offer.download_url):
        return NO_FILE.format(why="not a Teams download link")
    try:
        timeout = aiohttp.ClientTimeout(total=timeout_s or FETCH_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.get(offer.download_url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                return NO_FILE.format(why=f"Teams answered {response.status}")
            if response.content_length is not None and response.content_length > limit:
                return TOO_BIG.format(limit=limit // 1024)
            data = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                data.extend(chunk)
                if len(data) > limit:
                    return TOO_BIG.format(limit=limit // 1024)
            return bytes(data)
    except (TimeoutError, aiohttp.ClientError) as error:
        log.info("file fetch failed (%s)", type(error).__name__)
        return NO_FILE.format(why="it took too long" if isinstance(error, TimeoutError) else "the link did not work")


def _choices(importer: Importer) -> list[tuple[str, str]]:
    return sorted(((safe(c.name, 80), c.cop_id) for c in importer.cops), key=lambda c: c[0].lower())


def _targets(
    rows: tuple[ImportRow, ...], importer: Importer, default: Cop | None, cops: list[Cop]
) -> dict[int, Cop | str]:
    targets: dict[int, Cop | str] = {}
    for row in rows:
        if not row.cop:
            targets[row.line] = default or "no CoP chosen: choose one on the import card, or add a cop column"
            continue
        cop = resolve_cop(row.cop, cops)
        if cop is None:
            targets[row.line] = f"no active CoP is called '{shown(row.cop)}'"
        elif not importer.may(cop.cop_id):
            targets[row.line] = f"you don't lead {cop.name}"
        else:
            targets[row.line] = cop
    return targets


async def preview(turn: Turn, importer: Importer, text: str, default: Cop | None) -> Card | str:
    """The preview card of a list (stored for its confirm button), or why there is none."""
    services = turn.services
    try:
        parsed = parse(text, max_rows=MAX_ROWS, today=services.clock.now().date())
    except Unreadable as error:
        return f"{error} Nothing changed."
    cops = await cop_repo(services).all()
    targets = _targets(parsed.rows, importer, default, cops)
    rosters: dict[str, dict[str, RosterEntry]] = {}
    for cop in {t.cop_id: t for t in targets.values() if isinstance(t, Cop)}.values():
        roster = await team_roster(services, cop)
        if roster is None:
            return NO_ROSTER.format(name=safe(cop.name, 120))
        rosters[cop.cop_id] = index_roster(roster)
    names = {c.cop_id: c.name for c in cops}
    plan = await plan_import(
        parsed.rows,
        parsed.bad,
        targets,
        rosters,
        services.store,
        enforce_one_core=services.settings.enforce_one_core,
        cop_names=names,
    )
    now = services.clock.now()
    reference = dump_reference(turn.request.conversation_reference)
    import_id = await ImportStore(services.store).save(plan, importer.aad_id, reference, now) if plan.changes else ""
    involved = sorted({names.get(e.cop_id, "") for e in plan.entries} - {""})
    title = (
        involved[0]
        if len(involved) == 1
        else (f"{len(involved)} CoPs" if involved else (default.name if default else "CoPs"))
    )
    log.info(
        "import previewed id=%s rows=%d changes=%d bad=%d unknown=%d activity_id=%s",
        import_id or "-",
        len(parsed.rows),
        len(plan.changes),
        len(plan.bad),
        len(plan.unknown),
        turn.request.activity_id,
    )
    return preview_card(_view(plan, title, import_id, default.cop_id if default and len(involved) <= 1 else "", names))


def _view(plan: Plan, title: str, import_id: str, cop_id: str, names: dict[str, str]) -> PreviewView:
    several = len({e.cop_id for e in plan.entries}) > 1

    def who(e: Entry) -> str:
        where = f" ({safe(names.get(e.cop_id, ''), 60)})" if several else ""
        return safe(e.name or "someone", 80) + where

    return PreviewView(
        title,
        import_id,
        plan.digest,
        cop_id,
        to_add=[PreviewLine(e.line, who(e), e.tier) for e in plan.of("add")],
        to_change=[
            PreviewLine(e.line, who(e), f"{e.before} → {e.tier}" if e.before != e.tier else "profile")
            for e in plan.of("change")
        ],
        unchanged=len(plan.of("unchanged")),
        conflicts=[PreviewLine(e.line, who(e), safe(e.note, 160)) for e in plan.of("conflict")],
        unknown=[PreviewLine(u.line, safe(u.identifier, 80)) for u in plan.unknown],
        bad=[PreviewLine(b.line, "", safe(b.reason, 200)) for b in plan.bad],
    )


async def _answer(turn: Turn, message: Card | str) -> None:
    if turn.request.kind == "action":
        if isinstance(message, Card):
            turn.respond.answer_action(message)
        else:
            turn.respond.answer_action(message=message)
    else:
        await turn.respond.reply(message)


async def settle(services: Services) -> None:
    """Wait for this process's imports under way (tests, shutdown)."""
    await services.background.settle()


async def run_apply(services: Services, head: Head) -> None:
    """Apply a claimed import and tell the importer the result (through the outbox)."""
    now = services.clock.now()
    importer = await importer_of(services, Person("", head.importer, "")) if head.importer else None
    cops = {c.cop_id: c for c in await cop_repo(services).all(active_only=False)}
    names = {cop_id: c.name for cop_id, c in cops.items()}

    async def notify(entry: Entry) -> None:
        cop = cops.get(entry.cop_id)
        if cop is None or not entry.user_id:
            return
        await services.outbox.enqueue(
            f"imported|{entry.cop_id}|{entry.aad_id}",
            roster_reference(cop),
            imported_card(cop.cop_id, cop.name, entry.tier),
            now,
            cop_id=cop.cop_id,
            personal_for=Person(entry.user_id, entry.aad_id, entry.name),
        )

    store = ImportStore(services.store)
    outcome = await store.apply(
        head,
        MembershipRepo(services.store),
        now,
        enforce_one_core=services.settings.enforce_one_core,
        may_import=lambda cop_id: importer is not None and importer.may(cop_id),
        cop_names=names,
        notify=notify,
    )
    await store.finish(head.import_id, outcome, services.clock.now())
    title = names.get(head.cop_ids[0], "CoP") if len(head.cop_ids) == 1 else f"{len(head.cop_ids)} CoPs"
    for cop_id in head.cop_ids:
        await audit.record(
            services.store, cop_id, now, head.importer, "", "members imported",
            f"added={outcome.added} changed={outcome.changed} skipped={outcome.skipped} "
            f"conflicts={len(outcome.conflicts or [])}",
        )  # fmt: skip
    log.info(
        "import applied id=%s added=%d changed=%d skipped=%d conflicts=%d refused=%d",
        head.import_id,
        outcome.added,
        outcome.changed,
        outcome.skipped,
        len(outcome.conflicts or []),
        outcome.refused,
    )
    reference = load_reference(head.reference)
    if reference:
        card = result_card(
            title, outcome.added, outcome.changed, outcome.skipped, outcome.conflicts or [], outcome.refused
        )
        await services.outbox.enqueue(f"import-result|{head.import_id}", reference, card, services.clock.now())


def start_apply(services: Services, head: Head) -> None:
    # if it stops part way, its lease runs out and the minute tick carries on from the last person applied
    services.background.start(f"import-{head.import_id}", run_apply(services, head))


async def run_due(services: Services, now: datetime) -> int:
    """Finish applications whose process stopped; every half hour, drop old previews."""
    store = ImportStore(services.store)
    resumed = 0
    for head in await store.unfinished(now):
        claimed = await store.claim(head, now)
        if claimed is not None:
            log.info("import resumed id=%s", head.import_id)
            await run_apply(services, claimed)
            resumed += 1
    if now.minute % 30 == 0:
        resumed += await store.purge(now)
    return resumed


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command(
        "import members",
        help="Import a CoP's existing members from a CSV (a form, or send me the file)",
        role=Role.LEAD,
        places=("personal",),
        usage="[csv]",
    )
    async def import_members(turn: Turn) -> None:
        importer = await importer_of(turn.services, turn.request.person)
        if importer is None:
            await turn.respond.reply(NOT_ALLOWED)
            return
        if not turn.args.strip():
            await turn.respond.reply(paste_card(_choices(importer), max_kb=MAX_BYTES // 1024, max_rows=MAX_ROWS))
            return
        default = importer.cops[0] if len(importer.cops) == 1 else None
        await turn.respond.reply(await preview(turn, importer, turn.args, default))

    @router.on("files")
    async def received_file(turn: Turn) -> None:
        importer = await importer_of(turn.services, turn.request.person)
        if importer is None:
            await turn.respond.reply(
                "Thanks, but I only take files from CoP leads importing their members. " + NOT_ALLOWED
            )
            return
        offer = turn.request.files[0]
        if not (offer.name.lower().endswith((".csv", ".txt")) or offer.file_type.lower() in ("csv", "txt")):
            await turn.respond.reply(NOT_CSV)
            return
        data = await fetch_file(offer)
        if isinstance(data, str):
            await turn.respond.reply(data)
            return
        try:
            text = decode(data)
        except Unreadable as error:
            await turn.respond.reply(f"{error} Nothing changed.")
            return
        default = importer.cops[0] if len(importer.cops) == 1 else None
        await turn.respond.reply(await preview(turn, importer, text, default))

    @router.action("imports.preview")
    async def preview_pasted(turn: Turn) -> None:
        assert turn.request.action is not None
        data = turn.request.action.data
        importer = await importer_of(turn.services, turn.request.person)
        if importer is None:
            await turn.tell(NOT_ALLOWED)
            return
        text = data.get("csv")
        choices = _choices(importer)
        if not isinstance(text, str) or not text.strip():
            await _answer(turn, paste_card(choices, max_kb=MAX_BYTES // 1024, max_rows=MAX_ROWS, error=EMPTY))
            return
        wanted = data.get("cop_id") or data.get("cop_choice")
        default = next((c for c in importer.cops if c.cop_id == wanted), None)
        if default is None and len(importer.cops) == 1 and not importer.admin:
            default = importer.cops[0]
        await _answer(turn, await preview(turn, importer, text, default))

    @router.action("imports.apply")
    async def apply(turn: Turn) -> None:
        assert turn.request.action is not None
        sealed = str(turn.request.action.data.get("id") or "")
        import_id, _, digest = sealed.partition(".")
        services = turn.services
        store = ImportStore(services.store)
        head = await store.head(import_id) if import_id.isalnum() and len(import_id) <= 32 else None
        if head is None or head.digest != digest:
            await turn.tell(STALE)
            return
        if head.importer != turn.request.person.aad_id:
            await turn.tell(NOT_YOURS)
            return
        now = services.clock.now()
        if head.status != "previewed":
            await turn.tell(DONE)
            return
        if now - head.created > PREVIEW_TTL:
            await turn.tell(EXPIRED)
            return
        entries = await store.entries(import_id)
        if digest_of(e for e, _ in entries) != digest:
            log.warning("import's stored changes do not match its digest id=%s", import_id)
            await turn.tell(STALE)
            return
        claimed = await store.claim(head, now)
        if claimed is None:
            await turn.tell(DONE)
            return
        cops = {c.cop_id: c.name for c in await cop_repo(services).all(active_only=False)}
        title = cops.get(head.cop_ids[0], "CoP") if len(head.cop_ids) == 1 else f"{len(head.cop_ids)} CoPs"
        await _answer(turn, applying_card(title, len(entries)))
        start_apply(services, claimed)

    privacy.register("imports", export_imports, erase_imports)


async def export_imports(services: Services, aad_id: str) -> Any:
    return await ImportStore(services.store).export_person(aad_id)


async def erase_imports(services: Services, aad_id: str) -> None:
    removed = await ImportStore(services.store).erase_person(aad_id)
    log.info("erased import rows of one person rows=%d", removed)
