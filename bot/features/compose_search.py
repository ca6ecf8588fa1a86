"""The message extension: search CoP Bot from the compose box of any chat or channel, and insert a card.

Three searches (the manifest's ``composeExtensions`` commands): ``answers`` ranks the programme's and the CoPs' FAQ
exactly as ``ask`` does (each of the person's CoPs' indexes through :func:`bot.features.faq.best_answer`; only
confident answers, best first), ``cops`` ranks the directory as ``cops [words]`` does, and ``events`` finds upcoming
events the person may answer. Nothing typed (or Teams' ``initialRun``) shows defaults: the programme FAQ's own
first questions (no popularity is recorded), the person's CoPs, this week's events.

Picking a result (``composeExtension/selectItem``) answers with its card, built again from storage with the same
visibility rules (the picked value comes from the client: untrusted). The cards' buttons are portable verbs of the
membership and events features: they act for whoever presses them, in the CoP the sealed data names.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry
from bot.core.turn import Search, SearchResult
from bot.domain.cops import Cop
from bot.domain.events import Event, is_event_id
from bot.domain.members import MembershipRepo, PersonState
from bot.features.directory import rank
from bot.features.event_notices import calendar_url, events_repo
from bot.features.faq import best_answer, candidate_cops, entry_cop_name, indexes
from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from cards.compose_search import (
    CopSummary,
    answer_card,
    answer_preview,
    cop_card,
    cop_preview,
    event_card,
    event_preview,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

QUERY_MAX = 200  # characters in the search box; Teams' own limit is larger
# Teams waits about 5 s for a search's results, then shows an error: past this budget the person is told to try again
# (the search finishes in the background, e.g. warming the FAQ model up for the next one)
SEARCH_BUDGET_S = 4.0
MAX_RESULTS = 100  # over all pages of one search
DEFAULT_ANSWERS = 10
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class SearchCommand:
    """One search of the message extension, as the Teams app manifest declares it (``composeExtensions``)."""

    id: str
    title: str  # at most 32 characters
    description: str  # at most 128
    parameter_title: str
    parameter_description: str


SEARCH_COMMANDS: tuple[SearchCommand, ...] = (
    SearchCommand(
        "answers",
        "Answers",
        "Answers from the programme's and your CoPs' FAQ",
        "Question",
        "Words of your question, e.g. how do I join a CoP",
    ),
    SearchCommand(
        "cops", "CoPs", "Communities of Practice that fit your words", "Words", "Topic, name or initials of a CoP"
    ),
    SearchCommand("events", "Events", "Upcoming CoP events to answer", "Words", "Words of the event or its CoP"),
)
QUERY_PARAMETER = "query"

TOO_LONG = f"That search is too long: use at most {QUERY_MAX} characters."
UNKNOWN_SEARCH = "That search isn't one I know. Choose Answers, CoPs or Events."
SLOW = "That search is taking too long. Please try again in a moment."
GONE = "That result isn't available any more. Search again."

# (turn, words, page) -> the results of that page; a search reads what it shows on the page only where it can
Page = slice
Results = Callable[[Turn, str, Page], Awaitable[list[SearchResult]]]
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    searches: dict[str, Results] = {"answers": _answers, "cops": _cops, "events": _events}
    assert set(searches) == {c.id for c in SEARCH_COMMANDS}

    @router.on("search")
    async def search(turn: Turn) -> None:
        wanted = turn.request.search
        assert wanted is not None
        if len(wanted.text) > QUERY_MAX:
            log.info("search refused: too long chars=%d command=%s", len(wanted.text), wanted.command)
            turn.respond.answer_search([], message=TOO_LONG)
            return
        find = searches.get(wanted.command)
        if find is None:
            log.info("search refused: unknown command activity_id=%s", turn.request.activity_id)
            turn.respond.answer_search([], message=UNKNOWN_SEARCH)
            return
        words = "" if wanted.initial_run else " ".join(_CONTROL.sub(" ", wanted.text).split())
        start = min(wanted.skip, MAX_RESULTS)
        running = asyncio.ensure_future(find(turn, words, slice(start, min(start + wanted.count, MAX_RESULTS))))
        done, _ = await asyncio.wait({running}, timeout=SEARCH_BUDGET_S)
        if not done:
            running.add_done_callback(_consume)
            log.warning(
                "search over its time budget command=%s activity_id=%s", wanted.command, turn.request.activity_id
            )
            turn.respond.answer_search([], message=SLOW)
            return
        page = running.result()
        log.info(
            "search command=%s words=%d skip=%d shown=%d", wanted.command, len(words.split()), wanted.skip, len(page)
        )
        turn.respond.answer_search(page)

    @router.on("search_pick")
    async def pick(turn: Turn) -> None:
        wanted = turn.request.search
        assert wanted is not None
        picked = await _picked(turn, wanted)
        if picked is None:
            log.info("search pick refused activity_id=%s", turn.request.activity_id)
            turn.respond.answer_search([], message=GONE)
            return
        turn.respond.answer_search([picked])


def _consume(task: asyncio.Future[list[SearchResult]]) -> None:
    """A search nobody waits for any more: its failure is logged, not left unretrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("a search that ran past its time budget failed: %s", type(task.exception()).__name__)


# -- who may see what -------------------------------------------------------------------------------------------


async def _person(turn: Turn) -> PersonState | None:
    if not turn.request.person.aad_id:
        return None
    return await turn.load_person_state()


async def _tenant_cops(turn: Turn) -> list[Cop]:
    """The active CoPs of the person's tenant."""
    tenant = turn.request.place.tenant_id
    return [c for c in await turn.load_all_cops() if c.tenant_id == tenant]


def _may_see(event: Event, cop: Cop, turn: Turn, state: PersonState | None) -> bool:
    """Whether the person may answer the event (as :func:`bot.features.events._may_answer` decides on a click)."""
    aad = turn.request.person.aad_id
    if event.audience == "all":
        return True
    insider = bool(aad) and (cop.is_lead(aad) or cop.is_sponsor(aad) or aad in turn.services.settings.programme_admins)
    if event.audience == "leads" or insider:
        return insider
    found = state.memberships.get(cop.cop_id) if state is not None else None
    return found is not None and found[0].tier == "core"


# -- answers ----------------------------------------------------------------------------------------------------


def _answer_result(entry: FaqEntry, cops: list[Cop]) -> SearchResult:
    name = entry_cop_name(entry, cops)
    title, subtitle = answer_preview(entry, name)
    scope = "" if entry.is_programme else entry.scope
    return SearchResult(
        answer_card(entry, name), title, subtitle, {"kind": "answer", "scope": scope, "id": entry.entry_id}
    )


async def _answers(turn: Turn, words: str, page: Page) -> list[SearchResult]:
    services = turn.services
    cops = await candidate_cops(turn)
    if not words:
        index = await indexes(services).for_cop(None, services.clock.now())
        return [_answer_result(e, cops) for e in index.entries if e.is_programme][:DEFAULT_ANSWERS][page]
    vector = indexes(services).encode_early(words)
    # one call per CoP: each gives that CoP's confident answer, as ``ask`` finds them, so all are listed
    scopes: list[list[Cop]] = [[c] for c in cops] or [[]]
    found = await asyncio.gather(*(best_answer(services, words, scope, vector) for scope in scopes))
    answers = sorted((f[0] for f in found if f is not None), key=lambda a: -a.confidence)
    seen: set[tuple[str, str]] = set()
    results: list[SearchResult] = []
    for answer in answers:
        key = (answer.entry.scope, answer.entry.entry_id)
        if key not in seen:
            seen.add(key)
            results.append(_answer_result(answer.entry, cops))
    return results[page]


# -- CoPs -------------------------------------------------------------------------------------------------------


async def _cop_results(turn: Turn, cops: Sequence[Cop]) -> list[SearchResult]:
    repo = MembershipRepo(turn.services.store)
    rosters = await asyncio.gather(*(repo.members_of(c.cop_id) for c in cops))
    results: list[SearchResult] = []
    for cop, roster in zip(cops, rosters, strict=True):
        tiers = Counter(m.tier for m in roster)
        summary = CopSummary(
            cop.cop_id,
            cop.name,
            cop.practice_area,
            tuple(lead.name for lead in cop.leads),
            tiers.get("core", 0),
            tiers.get("wider", 0),
        )
        title, subtitle = cop_preview(summary)
        results.append(SearchResult(cop_card(summary), title, subtitle, {"kind": "cop", "cop_id": cop.cop_id}))
    return results


async def _cops(turn: Turn, words: str, page: Page) -> list[SearchResult]:
    active, state = await asyncio.gather(_tenant_cops(turn), _person(turn))  # independent: one wait, not two
    interests = state.profile.interests if state is not None and state.profile else ()
    aad = turn.request.person.aad_id
    if words:
        ranked = [cop for cop, score in rank(active, words, interests) if score > 0]
    else:
        mine = [c for c in active if (state is not None and c.cop_id in state.memberships) or c.is_lead(aad)]
        ranked = mine or [cop for cop, _ in rank(active, "", interests)]
    return await _cop_results(turn, ranked[page])  # member counts are read for the page shown only


# -- events -----------------------------------------------------------------------------------------------------


def _event_result(turn: Turn, event: Event, cop: Cop) -> SearchResult:
    title, subtitle = event_preview(event, cop.name)
    shown = event_card(event, cop.name, calendar_url=calendar_url(turn.services, event))
    return SearchResult(shown, title, subtitle, {"kind": "event", "cop_id": cop.cop_id, "id": event.event_id})


def _matches(event: Event, cop: Cop, words: str) -> int:
    """How many of the words the event's title, description, place, kind or CoP name holds (0 if any is missing)."""
    haystack = " ".join((event.title, event.description, event.place, event.kind.replace("_", " "), cop.name)).lower()
    wanted = [w for w in words.lower().split() if len(w) > 1] or words.lower().split()
    return len(wanted) if wanted and all(w in haystack for w in wanted) else 0


async def _events(turn: Turn, words: str, page: Page) -> list[SearchResult]:
    services = turn.services
    now = services.clock.now()
    cops, state = await asyncio.gather(_tenant_cops(turn), _person(turn))  # independent: one wait, not two
    repo = events_repo(services)
    lists = await asyncio.gather(*(repo.of_cop(c.cop_id, ending_after=now) for c in cops))
    found: list[tuple[Event, Cop]] = [
        (event, cop)
        for cop, events in zip(cops, lists, strict=True)
        for event in events
        if event.closed_reason(now) is None and _may_see(event, cop, turn, state)
    ]
    if words:
        found = [pair for pair in found if _matches(pair[0], pair[1], words)]
    else:
        found = [pair for pair in found if pair[0].start < now + WEEK]
    found.sort(key=lambda pair: (pair[0].start, pair[0].event_id))
    return [_event_result(turn, event, cop) for event, cop in found[page]]


# -- a picked result ---------------------------------------------------------------------------------------------


async def _picked(turn: Turn, wanted: Search) -> SearchResult | None:
    """The picked result's card, from storage, if the person may still see it."""
    picked = wanted.picked
    kind, cop_id, item = picked.get("kind"), picked.get("cop_id"), picked.get("id")
    if kind == "answer":
        scope = picked.get("scope")
        if not isinstance(item, str) or not isinstance(scope, str) or len(item) > 64:
            return None
        cops = await candidate_cops(turn)
        if scope and scope not in {c.cop_id for c in cops}:
            return None  # a CoP's own entries are found only by its members (as ``ask`` searches them)
        entry = next(
            (
                e
                for e in (await indexes(turn.services).for_cop(scope or None, turn.services.clock.now())).entries
                if e.entry_id == item and e.scope == (scope or PROGRAMME_SCOPE)
            ),
            None,
        )
        return _answer_result(entry, cops) if entry is not None else None
    if not isinstance(cop_id, str) or not cop_id or len(cop_id) > 512:
        return None
    cop = next((c for c in await _tenant_cops(turn) if c.cop_id == cop_id), None)
    if cop is None:
        return None
    if kind == "cop":
        [result] = await _cop_results(turn, [cop])
        return result
    if kind == "event" and is_event_id(item):
        event = await events_repo(turn.services).get(cop.cop_id, str(item))
        if event is None or event.closed_reason(turn.services.clock.now()) is not None:
            return None
        if not _may_see(event, cop, turn, await _person(turn)):
            return None
        return _event_result(turn, event, cop)
    return None


__all__ = ["QUERY_MAX", "QUERY_PARAMETER", "SEARCH_COMMANDS", "SearchCommand", "register"]
