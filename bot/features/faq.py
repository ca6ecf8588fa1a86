"""Answering questions from the FAQ (``ask`` and free text) and the leads' FAQ management (``faq``, ``faq add``,
``faq remove``, ``faq import``).

A question is ranked against the CoP's own entries plus the programme-wide FAQ. In personal chat without a CoP
context, each CoP the person belongs to is searched (each index holds the programme FAQ too) and the most
confident answer wins. Who leads, sponsors or next meets in a named CoP is answered from the CoP directory
(:mod:`bot.features.cop_facts`). No confident answer, or "No, it didn't help", opens a query: for the programme
team when the question is about the programme as a whole, for the CoP it names, else for the CoP's leads; when it
is unclear which CoP should get it, the asker picks (:mod:`bot.features.programme_queries`).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Sequence

from bot.answers.audience import audience_of
from bot.answers.faq import PROGRAMME_SCOPE, FaqEntry
from bot.answers.ranker import Abstain, Answer, FloatArray, Match
from bot.domain.cops import Cop, cop_repo
from bot.domain.faq_indexes import FaqIndexes
from bot.domain.members import MembershipRepo
from bot.domain.queries import MAX_TEXT_CHARS, Origin
from bot.features.cop_facts import answer_from_directory
from bot.features.programme_queries import (
    PASSED_TO_PROGRAMME,
    PASSED_TO_PROGRAMME_AFTER_NO,
    follow_up_target,
    is_desk,
    reachable_desk,
)
from bot.features.queries import open_query, thread_root_of
from bot.features.resources import offer_for_question
from bot.routing.router import Router, Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.elements import notice, safe
from cards.faq import (
    HELPED_THANKS,
    FeedbackData,
    answer_card,
    answered_card,
    choose_cop_card,
    passed_on_card,
)

log = logging.getLogger(__name__)

# Without a confident answer, the entries that ranked best anyway are offered as "might help" while the leads reply
# (with sentence vectors only: BM25's confidence alone is no probability). Over the calibration splits (each ranked
# without its own examples), of the 156 answerable questions abstained on, 108 had the right entry among these three
# at this floor (75 at 0.5, 131 at 0.1); 53 of the 331 unanswerable ones were offered something, labelled as a maybe
# (27 at 0.5, 106 at 0.1). With the encoder adapter (493bc84) and 22 splits: 81 of 111, and 50 of 424. Before the
# examples it had 0.5 for 52 of 95 and 18 of 117: the out-of-scope examples of 21b3f4c (bot/answers/examples.py)
# hold unanswerable questions' confidence down, so a lower floor offers more right entries for the same share of
# false offers (16 %).
RELATED_FLOOR = 0.3
MAX_RELATED = 3
Related = Sequence[tuple[FaqEntry, str]]  # (entry, the name of the FAQ it is from)


EMPTY_QUESTION = "Type your question after **ask**, for example: ask how do I join a CoP?"
TOO_LONG = (
    "That message is {n:,} characters, too long for me to search. Please ask your question in fewer than "
    "{limit:,} characters (the details can follow once a lead picks it up)."
)
PASSED_ON = (
    "I don't have a confident answer to that, so I've passed it to the leads of **{cop}**. They'll follow up {where}."
)
PASSED_ON_AFTER_NO = (
    "Sorry it didn't help. I've passed your question to the leads of **{cop}**; they'll follow up {where}."
)
NO_COPS = "I don't have a confident answer to that, and no CoP is set up yet to pass it to. Please try again later."
ALTERED = "That button has been altered, so I ignored it. Type **help** to start again."
UNKNOWN_COP = "Please choose one of the CoPs in the list."


def indexes(services: Services) -> FaqIndexes:
    if services.faq_indexes is None:
        services.faq_indexes = FaqIndexes(
            services.store,
            services.encoder,
            revision_seconds=services.settings.cop_cache_seconds,
            budget_mb=services.settings.faq_index_mb,
        )
    return services.faq_indexes


async def close_indexes(services: Services) -> None:
    """Cleanup hook (bot/app.py): stop the FAQ's index builds and its encoder thread."""
    cache, services.faq_indexes = services.faq_indexes, None
    if cache is not None:
        await cache.close()


def question_hash(question: str) -> str:
    return hashlib.sha256(question.encode("utf-8")).hexdigest()[:20]


def where_phrase(turn: Turn) -> str:
    return "in this thread" if turn.request.place.kind == "channel" else "here"


# -- answering ------------------------------------------------------------------------------------------------


async def candidate_cops(turn: Turn) -> list[Cop]:
    """The CoPs whose FAQ answers this turn: the turn's CoP, else (personal chat) the CoPs the person is in."""
    cop = await turn.load_cop()
    if cop is not None:
        return [cop]
    if turn.cop_id or not turn.request.person.aad_id:
        return []
    memberships = turn.memberships
    if memberships is None:  # the role check did not need them (a CoP was already known)
        memberships = await MembershipRepo(turn.services.store).memberships_of(turn.request.person.aad_id)
    if not memberships:
        return []
    active = {c.cop_id: c for c in await turn.load_all_cops()}
    return [active[m.cop_id] for m in memberships if m.cop_id in active]


async def best_answer(
    services: Services,
    question: str,
    cops: list[Cop],
    vector: Awaitable[FloatArray] | None = None,
    related: list[Match] | None = None,
    ranked: list[Match] | None = None,
) -> tuple[Answer, Cop | None] | None:
    """The most confident answer over the CoPs' indexes, or None. Without one, ``related`` (when given) receives
    the entries that ranked best anyway, at least :data:`RELATED_FLOOR` confident, best first, at most
    :data:`MAX_RELATED`, and ``ranked`` (when given) every entry that ranked best anyway, best first (what the
    question is about, for choosing who follows it up)."""
    now = services.clock.now()
    best: tuple[Answer, Cop | None] | None = None
    unsure: dict[tuple[str, str], Match] = {}
    scopes: list[Cop | None] = list(cops) or [None]
    cache = indexes(services)
    for cop in scopes:
        index = await cache.for_cop(cop.cop_id if cop else None, now)
        found = await cache.answer(index, question, vector)
        if isinstance(found, Answer) and (best is None or found.confidence > best[0].confidence):
            best = (found, cop if cop is None or not found.entry.is_programme or len(cops) == 1 else None)
        elif isinstance(found, Abstain) and ranked is not None:
            ranked.extend(found.matches)
        if isinstance(found, Abstain) and index.semantic:
            for match in found.matches:
                key = (match.entry.scope, match.entry.entry_id)
                seen = unsure.get(key)
                if match.confidence >= RELATED_FLOOR and (seen is None or match.confidence > seen.confidence):
                    unsure[key] = match
    if best is None and related is not None:
        related.extend(sorted(unsure.values(), key=lambda m: -m.confidence)[:MAX_RELATED])
    if ranked is not None:
        ranked.sort(key=lambda m: -m.confidence)
    return best


def encode_ahead(turn: Turn, question: str) -> None:
    """The router's early start for ``ask`` and free text: the model encodes the question while the turn's first
    storage round trips run; :func:`answer_question` picks the vector up (FaqIndexes.encode_early)."""
    question = question.strip()
    if question and len(question) <= MAX_TEXT_CHARS:
        indexes(turn.services).encode_early(question)


async def answer_question(turn: Turn, question: str) -> None:
    question = question.strip()
    if not question:
        await turn.tell(EMPTY_QUESTION)
        return
    if len(question) > MAX_TEXT_CHARS:
        await turn.tell(TOO_LONG.format(n=len(question), limit=MAX_TEXT_CHARS))
        return
    if await answer_from_directory(turn, question):
        return
    vector = indexes(turn.services).encode_early(question)  # the model works while storage is read
    cops = await candidate_cops(turn)
    related: list[Match] = []
    ranked: list[Match] = []
    found = await best_answer(turn.services, question, cops, vector, related, ranked)
    root = thread_root_of(turn) if turn.request.place.kind == "channel" else ""
    if found is not None:
        answer, cop = found
        feedback = FeedbackData(
            cop.cop_id if cop else "", question_hash(question), question, root, answer.entry.entry_id
        )
        shown = answer_card(question, answer.entry, entry_cop_name(answer.entry, cops), feedback)
        log.info("answered entry=%s confidence=%.3f cop_id=%s", answer.entry.entry_id, answer.confidence, turn.cop_id)
        await turn.respond.reply(shown)
        return
    log.info("no confident answer cop_id=%s related=%d", turn.cop_id, len(related))
    shown_related = [(m.entry, entry_cop_name(m.entry, cops)) for m in related]
    target = await follow_up_target(turn, question, ranked, cops)
    if target is not None:
        await open_and_confirm(turn, target, question, root, "ask", shown_related)
        return
    await open_for(turn, question, cops, root, "ask", shown_related)


def entry_cop_name(entry: FaqEntry, cops: list[Cop]) -> str:
    if entry.scope == PROGRAMME_SCOPE:
        return "Programme"
    return next((c.name for c in cops if c.cop_id == entry.scope), "CoP")


async def open_for(
    turn: Turn, question: str, cops: list[Cop], root: str, origin: Origin, related: Related = ()
) -> None:
    """Open a query with the one CoP in play, or ask which CoP when several (or none of the person's) fit.
    ``related``: FAQ entries that might help meanwhile, offered with the reply."""
    if len(cops) == 1:
        await open_and_confirm(turn, cops[0], question, root, origin, related)
        return
    choices = cops or await cop_repo(turn.services).all()
    if not choices:
        await turn.tell(NO_COPS)
        return
    if len(choices) == 1:
        await open_and_confirm(turn, choices[0], question, root, origin, related)
        return
    feedback = FeedbackData("", question_hash(question), question, root, "", origin)
    shown = choose_cop_card(question, feedback, [(c.cop_id, c.name) for c in choices], related)
    if turn.request.kind == "action":
        turn.respond.answer_action(shown)
    else:
        await turn.respond.reply(shown)


async def open_and_confirm(
    turn: Turn, cop: Cop, question: str, root: str, origin: Origin, related: Related = ()
) -> None:
    request = turn.request
    await open_query(
        turn.services,
        cop,
        request.person,
        question,
        turn.services.clock.now(),
        place_kind=request.place.kind,
        reference=request.conversation_reference,
        thread_root_id=root if request.place.kind == "channel" else "",
        origin=origin,
    )
    if is_desk(cop):
        template = PASSED_TO_PROGRAMME_AFTER_NO if origin == "not_helpful" else PASSED_TO_PROGRAMME
    else:
        template = PASSED_ON_AFTER_NO if origin == "not_helpful" else PASSED_ON
    message = template.format(cop=safe(cop.name, 120), where=where_phrase(turn))
    if request.kind == "action":
        title = "Passed to the programme team" if is_desk(cop) else "Passed to the leads"
        turn.respond.answer_action(notice(message, title=title))
    elif related:
        await turn.respond.reply(passed_on_card(message, related))
    else:
        await turn.respond.reply(message)


def feedback_of(turn: Turn) -> FeedbackData | None:
    """The question a feedback button carries, if its hash (sealed as ``id``) still matches."""
    action = turn.request.action
    if action is None:
        return None
    data = action.data
    question = data.get("q")
    if not isinstance(question, str) or not question.strip() or len(question) > MAX_TEXT_CHARS:
        return None
    if question_hash(question) != data.get("id"):
        return None
    origin = "not_helpful" if data.get("origin") == "not_helpful" else "ask"
    return FeedbackData(
        str(data.get("cop_id", "")),
        str(data["id"]),
        question,
        str(data.get("root", ""))[:200],
        str(data.get("entry", ""))[:80],
        origin,
    )


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    # FAQ entries hold no personal data (authors are in the audit log); queries register their own exporter.

    @router.command(
        "ask",
        help="Ask a question; I answer from the FAQ or pass it to the leads",
        usage="<question>",
        early=encode_ahead,
    )
    async def ask(turn: Turn) -> None:
        await answer_question(turn, turn.args)
        await offer_for_question(turn, turn.args)  # shared resources that fit, beside the answer

    @router.fallback(early=encode_ahead)
    async def free_text(turn: Turn) -> None:
        await answer_question(turn, turn.args)
        await offer_for_question(turn, turn.args)

    @router.action("faq.helped")
    async def helped(turn: Turn) -> None:
        feedback = feedback_of(turn)
        if feedback is None:
            await turn.tell(ALTERED)
            return
        log.info("faq helped entry=%s cop_id=%s", feedback.entry_id, feedback.cop_id or "-")
        entry = await find_entry(turn.services, feedback)
        if entry is None:
            turn.respond.answer_action(notice(HELPED_THANKS))
            return
        name = await scope_name(turn.services, entry)
        turn.respond.answer_action(answered_card(feedback.question, entry, name, HELPED_THANKS))

    @router.action("faq.not_helped")
    async def not_helped(turn: Turn) -> None:
        feedback = feedback_of(turn)
        if feedback is None:
            await turn.tell(ALTERED)
            return
        log.info("faq did not help entry=%s cop_id=%s", feedback.entry_id, feedback.cop_id or "-")
        cops = await candidate_cops(turn)
        root = thread_root_of(turn) or feedback.root
        entry = await find_entry(turn.services, feedback)
        desk = await reachable_desk(turn.services)
        # the entry that did not help says what the question is about: a programme-wide one is the programme team's
        if (
            entry is not None
            and desk is not None
            and audience_of(feedback.question, [Match(entry, 0.0, 1.0)]) == "programme"
        ):
            await open_and_confirm(turn, desk, feedback.question, root, "not_helpful")
            return
        await open_for(turn, feedback.question, cops, root, "not_helpful")

    @router.action("faq.pick_cop")
    async def pick_cop(turn: Turn) -> None:
        feedback = feedback_of(turn)
        action = turn.request.action
        if feedback is None or action is None:
            await turn.tell(ALTERED)
            return
        chosen = action.data.get("target_cop")
        cop = await cop_repo(turn.services).get(chosen) if isinstance(chosen, str) and chosen else None
        if cop is None or not cop.active:
            await turn.tell(UNKNOWN_COP)
            return
        origin: Origin = "not_helpful" if feedback.origin == "not_helpful" else "ask"
        await open_and_confirm(turn, cop, feedback.question, feedback.root, origin)


async def find_entry(services: Services, feedback: FeedbackData) -> FaqEntry | None:
    repo = indexes(services).repo
    if feedback.cop_id:
        entry = await repo.get(feedback.cop_id, feedback.entry_id)
        if entry is not None:
            return entry
    return await repo.get(PROGRAMME_SCOPE, feedback.entry_id)


async def scope_name(services: Services, entry: FaqEntry) -> str:
    if entry.is_programme:
        return "Programme"
    cop = await cop_repo(services).get(entry.scope)
    return cop.name if cop else "CoP"
