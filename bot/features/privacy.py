"""Privacy rights: ``my data`` (everything stored about me, as JSON behind a signed link) and ``forget me``
(after a confirmation card, erase it everywhere).

Both go through the registry in :mod:`bot.security.privacy`: every feature that stores personal data registers an
exporter and an eraser there, so this module needs to know no table. Erasers keep aggregate counts and anonymous
survey answers and put "former member" where a record must stay for others (questions, the audit log).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.core.turn import Card, reference_without_person
from bot.domain.codec import dumps, loads
from bot.domain.members import MembershipRepo
from bot.features.audit import actor_names as audit_actor_names
from bot.features.audit import erase_audit_page
from bot.jobs import outbox
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.erasure import Identity, display_text_replaced, name_pattern, replace_whole
from bot.security.links import Download, Links
from bot.security.privacy import PrivacyRegistry
from cards.privacy import (
    erase_continues_card,
    erase_incomplete_card,
    expired_card,
    forget_confirm_card,
    forgotten_card,
    kept_card,
    my_data_card,
)
from storage import paging
from storage.base import NotFound, PreconditionFailed, Row, StorageError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

MY_DATA = "mydata.json"
LINK_TTL = timedelta(hours=1)
CONFIRM_TTL = timedelta(minutes=15)
NO_IDENTITY = (
    "I can't tell who you are from this chat (Teams sent no Microsoft Entra ID for you), so I store nothing "
    "about you and have nothing to export or erase."
)
NOT_YOURS = "This confirmation was made for someone else, so I did nothing. Type **forget me** to erase your own data."


def _fingerprint(aad_id: str) -> str:
    return hashlib.sha256(aad_id.encode("utf-8")).hexdigest()[:16]


def confirm_id(aad_id: str, now: datetime) -> str:
    """Binds the confirmation card to its person and to when it was made (the card seal signs it)."""
    return f"{_fingerprint(aad_id)}:{int(now.timestamp())}"


def check_confirm(value: Any, aad_id: str, now: datetime) -> str:
    """ "ok", "expired" or "not yours"."""
    fingerprint, _, issued = str(value).partition(":")
    expected = _fingerprint(aad_id).encode("utf-8")
    if not hmac.compare_digest(fingerprint.encode("utf-8", "replace"), expected) or not issued.isdigit():
        return "not yours"
    if now.timestamp() - int(issued) > CONFIRM_TTL.total_seconds():
        return "expired"
    return "ok"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


async def export_everything(services: Services, aad_id: str) -> dict[str, Any]:
    """What every registered source holds about ``aad_id``, keyed by source name."""
    sources: dict[str, Any] = {}
    for source in services.privacy.sources:
        sources[source.name] = await source.export(services, aad_id)
    return {
        "about": "Everything CoP Bot stores about you, by kind of record.",
        "generated_at": services.clock.now().isoformat(),
        "aad_object_id": aad_id,
        "sources": sources,
    }


def _cut_if_theirs(stored: Any, who: Identity) -> Any:
    """A stored reference written before references were cut down names the person whose activity made it
    (``user``): cut down when that is the person, else left exactly as stored."""
    reference = loads(stored, None) if isinstance(stored, str) else stored
    if not isinstance(reference, Mapping) or not who.is_person(reference.get("user")):
        return stored
    cut = reference_without_person(reference)
    return dumps(cut) if isinstance(stored, str) else cut


def _message_without_name(stored: Any, names: re.Pattern[str] | None) -> Any:
    """A queued message (``{"card", "summary"}`` or ``{"text"}``) with the person's display name replaced as a
    whole word in what is shown, never in button data, seals, ids or URLs. Unchanged messages stay as stored."""
    message = loads(stored, None)
    if names is None or not isinstance(message, dict):
        return stored
    edited = dict(message)
    for field in ("text", "summary"):
        if isinstance(edited.get(field), str):
            edited[field] = replace_whole(edited[field], names)
    if "card" in edited:
        edited["card"] = display_text_replaced(edited["card"], lambda text: replace_whole(text, names))
    return stored if edited == message else dumps(edited)


def _about_them(row_data: Mapping[str, Any], who: Identity) -> bool:
    """The item was made for the person: queued for them (``personal_for`` / ``person``), or keyed by them (the
    channel fallback of their welcome: ``welcome|<cop>|<their id>|fallback``)."""
    if who.is_id(row_data.get("person")) or who.is_person(loads(row_data.get("personal_for"), None)):
        return True
    return any(who.is_id(part) for part in str(row_data.get("key", "")).split("|"))


async def scrub_outbox_page(services: Services, rows: list[Row], who: Identity, shown_names: Any) -> int:
    """One page of :func:`scrub_outbox_mentions`. Returns rows changed."""
    changed = 0
    for row in rows:
        if _about_them(row.data, who):
            with contextlib.suppress(PreconditionFailed, NotFound):
                await services.store.delete(outbox.TABLE, row.partition_key, row.row_key, etag=row.etag)
                changed += 1
            continue
        data = dict(row.data)
        if who.is_person(loads(data.get("mention"), None)):
            data.pop("mention", None)
        if "reference" in data:
            data["reference"] = _cut_if_theirs(data["reference"], who)
        fallback = loads(data.get("fallback"), None)
        if isinstance(fallback, dict) and "reference" in fallback:
            cut = _cut_if_theirs(fallback["reference"], who)
            if cut is not fallback["reference"]:
                data["fallback"] = dumps({**fallback, "reference": cut})
        if "message" in data:
            data["message"] = _message_without_name(data["message"], shown_names)
        if data != dict(row.data):
            try:
                await services.store.update(outbox.TABLE, row.partition_key, row.row_key, data, etag=row.etag)
            except (PreconditionFailed, NotFound):
                continue  # being delivered right now; the retention purge removes it within its 30 days
            changed += 1
    return changed


async def scrub_outbox_mentions(services: Services, aad_id: str, user_id: str, names: frozenset[str]) -> int:
    """Messages queued for (or kept after sending to) other people may name the person, e.g. a lead's "Zelda
    asked: …" notification. By identity, never by substring: items made for the person (queued for them, or
    keyed by their id) are dropped; in everyone else's, an @mention of them is dropped, a reference written
    before references were cut down that names them is cut, and their display name is replaced by "former
    member" as a whole word in the card's display text only. Other items are not rewritten at all. Returns rows
    changed. Reads the outbox a page at a time (see :func:`erase_everywhere` for the resumable run)."""
    who = Identity(aad_id, user_id, names)
    shown_names = name_pattern(names)
    changed = 0
    async for rows, _ in paging.pages(services.store, outbox.TABLE, outbox.PARTITION):
        changed += await scrub_outbox_page(services, rows, who, shown_names)
    return changed


# -- resumable erasure ---------------------------------------------------------------------------------------
#
# ``forget me`` reads the whole audit log and the whole outbox partition (a name may be in a card queued for
# someone else), so it runs a page at a time, each page its own storage call and deadline, behind a cursor kept
# in ``erasures`` (one row per person, holding their ids and names until the erasure is finished, then deleted).
# The turn works for TURN_BUDGET_S; what is left is finished by the minute tick (:func:`run_due`) or by the
# next ``forget me``. Every step is idempotent, so a page done twice (a crash before the cursor was saved) is
# harmless.

JOBS = "erasures"
JOBS_PARTITION = "p"
TURN_BUDGET_S = 5.0  # the button's answer must reach Teams in time
TICK_BUDGET_S = 40.0  # within the minute tick's lease
RESUME_WITHIN = "15 minutes"
SAVE_EVERY_PAGES = 10
STEPS = ("names", "audit", "outbox", "sources")
AUDIT_SOURCE = "audit"  # the name bot.features.audit registers its eraser under


def time_budget(seconds: float) -> Callable[[], bool]:
    """``keep_going`` for :func:`erase_everywhere`: true until ``seconds`` have passed."""
    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end


def turn_budget() -> Callable[[], bool]:
    """The budget of the ``forget me`` turn (tests replace it to stop after some pages)."""
    return time_budget(TURN_BUDGET_S)


@dataclass
class ErasureJob:
    aad_id: str
    user_id: str
    names: set[str]
    step: str = STEPS[0]
    cursor: str = ""
    sources_done: set[str] = dataclass_field(default_factory=set)

    @property
    def row_key(self) -> str:
        return _fingerprint(self.aad_id)

    def data(self) -> dict[str, Any]:
        return {
            "aad_id": self.aad_id,
            "user_id": self.user_id,
            "names": dumps(sorted(self.names)),
            "step": self.step,
            "cursor": self.cursor,
            "sources_done": dumps(sorted(self.sources_done)),
        }

    @classmethod
    def from_row(cls, row: Row) -> ErasureJob:
        names = loads(row.get("names"), [])
        done = loads(row.get("sources_done"), [])
        step = str(row.get("step", STEPS[0]))
        return cls(
            str(row.get("aad_id", "")),
            str(row.get("user_id", "")),
            {str(n) for n in names} if isinstance(names, list) else set(),
            step if step in STEPS else STEPS[0],
            str(row.get("cursor", "")),
            {str(n) for n in done} if isinstance(done, list) else set(),
        )


@dataclass(frozen=True)
class ErasureResult:
    """``done``: everything erased. Otherwise ``saved`` says whether the rest is recorded to be finished later
    (by the minute tick); ``failed`` names the steps or sources that failed."""

    done: bool
    saved: bool = False
    failed: tuple[str, ...] = ()


async def _save(services: Services, job: ErasureJob) -> None:
    await services.store.upsert(JOBS, JOBS_PARTITION, job.row_key, job.data())


async def _run(services: Services, job: ErasureJob, keep_going: Callable[[], bool]) -> bool:
    """Advance ``job`` through the audit log and the outbox; True when through, False when out of time (the job
    is saved where it stopped). Raises StorageError when storage fails (the job holds the last page done)."""
    store = services.store
    if job.step == "names":
        # first, while the person's names can still be found in their profile and entries
        found = await audit_actor_names(store, Identity(job.aad_id, job.user_id))
        job.names |= {n for n in found if n.strip()}
        job.step, job.cursor = "audit", ""
        await _save(services, job)
    names = frozenset(job.names)
    who = Identity(job.aad_id, job.user_id, names)
    shown_names = name_pattern(names)
    pages_since_save = 0
    for step, table, partition in (("audit", audit.TABLE, None), ("outbox", outbox.TABLE, outbox.PARTITION)):
        if job.step != step:
            continue
        async for rows, cursor in paging.pages(store, table, partition, start=paging.Cursor.load(job.cursor)):
            if step == "audit":
                await erase_audit_page(store, rows, who, names)
            else:
                await scrub_outbox_page(services, rows, who, shown_names)
            job.cursor = cursor.dump()
            pages_since_save += 1
            if not keep_going():
                await _save(services, job)
                return False
            if pages_since_save >= SAVE_EVERY_PAGES:
                await _save(services, job)
                pages_since_save = 0
        job.step, job.cursor = STEPS[STEPS.index(step) + 1], ""
        if step == "audit":
            job.sources_done.add(AUDIT_SOURCE)  # the audit log's registered eraser would read it all again
        await _save(services, job)
    return True


async def erase_everywhere(
    services: Services,
    aad_id: str,
    names: frozenset[str],
    user_id: str = "",
    *,
    keep_going: Callable[[], bool] | None = None,
) -> ErasureResult:
    """Erase (or go on erasing) the person everywhere: the audit log and the outbox a page at a time, then
    every registered eraser (each is idempotent). Stops when ``keep_going`` says so, recording where, for
    :func:`run_due` or the next call to finish."""
    try:
        try:
            job = ErasureJob.from_row(await services.store.get(JOBS, JOBS_PARTITION, _fingerprint(aad_id)))
            job.names |= set(names)
            job.user_id = job.user_id or user_id
        except NotFound:
            job = ErasureJob(aad_id, user_id, set(names))
        await _save(services, job)
    except StorageError:
        log.warning("could not start erasure", exc_info=True)
        return ErasureResult(False, saved=False, failed=("start",))
    return await _resume(services, job, keep_going or (lambda: True))


async def _resume(services: Services, job: ErasureJob, keep_going: Callable[[], bool]) -> ErasureResult:
    try:
        if not await _run(services, job, keep_going):
            return ErasureResult(False, saved=True)
    except StorageError:
        log.warning("erasure interrupted step=%s", job.step, exc_info=True)
        try:
            await _save(services, job)
        except StorageError:
            return ErasureResult(False, saved=False, failed=(job.step,))
        return ErasureResult(False, saved=True, failed=(job.step,))
    failed: list[str] = []
    for source in services.privacy.sources:
        if source.name in job.sources_done:
            continue
        if not keep_going():
            break
        try:
            await source.erase(services, job.aad_id)
        except Exception:
            log.exception("erasure failed source=%s", source.name)
            failed.append(source.name)
            continue
        job.sources_done.add(source.name)
    if failed or not {s.name for s in services.privacy.sources} <= job.sources_done:
        try:
            await _save(services, job)
        except StorageError:
            return ErasureResult(False, saved=False, failed=tuple(failed))
        return ErasureResult(False, saved=True, failed=tuple(failed))
    try:
        await services.store.delete(JOBS, JOBS_PARTITION, job.row_key)
    except NotFound:
        pass
    except StorageError:
        # all erased; the row (the person's ids) goes on the next tick, which finds nothing left to do
        log.warning("erasure finished but its bookkeeping row could not be deleted yet", exc_info=True)
        return ErasureResult(True, saved=True)
    return ErasureResult(True)


async def run_due(services: Services, now: datetime) -> int:
    """The minute tick: finish the erasures a ``forget me`` turn could not (out of time, storage failed).
    Returns how many were finished."""
    keep_going = time_budget(TICK_BUDGET_S)
    finished = 0
    for row in await services.store.query(JOBS, JOBS_PARTITION, limit=20):
        if not keep_going():
            break
        job = ErasureJob.from_row(row)
        if not job.aad_id:
            continue
        if (await _resume(services, job, keep_going)).done:
            finished += 1
            log.info("erasure finished by the scheduler")
    return finished


async def _known_names(turn: Turn, aad_id: str) -> frozenset[str]:
    names = {turn.request.person.name}
    try:
        profile = (await MembershipRepo(turn.services.store).person(aad_id)).profile
    except StorageError:
        profile = None
    if profile is not None:
        names.add(profile.name)
    return frozenset(n for n in names if n.strip())


async def _answer(turn: Turn, shown: Card) -> None:
    if turn.request.kind == "action":
        turn.respond.answer_action(shown)
    elif turn.request.reply_to_card_id:
        await turn.respond.update(turn.request.reply_to_card_id, shown)
    else:
        await turn.respond.reply(shown)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @links.producer(MY_DATA)
    async def my_data_file(services: Services, params: Mapping[str, Any]) -> Download | None:
        aad_id = params.get("a")
        if not isinstance(aad_id, str) or not aad_id:
            return None
        try:
            everything = await export_everything(services, aad_id)
        except StorageError:
            log.warning("my data export failed: storage unavailable")
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"error": "storage is unreachable; try the link again in a minute"}),
                content_type="application/json",
            ) from None
        body = json.dumps(everything, default=_json_default, ensure_ascii=False, indent=2).encode("utf-8")
        return Download("application/json", "copbot-my-data.json", body)

    @router.command("my data", help="Download everything I store about you", places=("personal",))
    async def my_data(turn: Turn) -> None:
        aad_id = turn.request.person.aad_id
        if not aad_id:
            await turn.tell(NO_IDENTITY)
            return
        services = turn.services
        url = links.link(services, MY_DATA, {"a": aad_id}, LINK_TTL)
        expires = (services.clock.now() + LINK_TTL).astimezone(services.settings.tz).strftime("%H:%M on %d %b")
        log.info("my data link issued activity_id=%s", turn.request.activity_id)
        await turn.respond.reply(my_data_card(url, expires))

    @router.command("forget me", help="Erase everything I store about you", places=("personal",))
    async def forget_me(turn: Turn) -> None:
        aad_id = turn.request.person.aad_id
        if not aad_id:
            await turn.tell(NO_IDENTITY)
            return
        await turn.respond.reply(forget_confirm_card(confirm_id(aad_id, turn.services.clock.now())))

    @router.action("privacy.forget")
    async def forget_confirmed(turn: Turn) -> None:
        assert turn.request.action is not None
        aad_id = turn.request.person.aad_id
        if not aad_id:
            await turn.tell(NO_IDENTITY)
            return
        verdict = check_confirm(turn.request.action.data.get("id"), aad_id, turn.services.clock.now())
        if verdict == "not yours":
            await turn.tell(NOT_YOURS)
            return
        if verdict == "expired":
            await _answer(turn, expired_card())
            return
        names = await _known_names(turn, aad_id)
        result = await erase_everywhere(
            turn.services, aad_id, names, turn.request.person.user_id, keep_going=turn_budget()
        )
        if not result.done:
            log.info(
                "forget me continues later failed=%s saved=%s activity_id=%s",
                ",".join(result.failed),
                result.saved,
                turn.request.activity_id,
            )
            if result.failed or not result.saved:
                await _answer(turn, erase_incomplete_card(RESUME_WITHIN if result.saved else None))
            else:
                await _answer(turn, erase_continues_card(RESUME_WITHIN))
            return
        log.info(
            "forget me done sources=%d activity_id=%s", len(turn.services.privacy.sources), turn.request.activity_id
        )
        await _answer(turn, forgotten_card([s.name for s in turn.services.privacy.sources]))

    @router.action("privacy.keep")
    async def keep(turn: Turn) -> None:
        await _answer(turn, kept_card())
