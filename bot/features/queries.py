"""Open queries: ``unanswered`` for leads (answer, mark answered, add to FAQ), lead notifications, channel
watching (a question posted in a channel opens a watched query, a reply by someone else records the first
response, ``@CoP Bot answered`` in the thread closes it) and the escalation pass :func:`run_due`.

Questions for the programme team (:mod:`bot.features.programme_queries`) use the same cards and actions, with the
programme admins in the leads' place: ``unanswered programme`` (or ``unanswered`` from an admin with no CoP in
view) lists them, and a button naming the ``programme`` partition is theirs alone.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from bot.answers.questions import reads_as_question
from bot.core.turn import JSON, Person, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.queries import MAX_ANSWER_CHARS, MAX_TEXT_CHARS, Origin, Query, QueryClosed, QueryRepo, Where_
from bot.domain.queries import export_query as export_one
from bot.features.programme_queries import PROGRAMME_DESK, programme_desk, reachable_desk
from bot.routing.router import Router, Turn
from bot.security import audit
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.services import Services
from cards.elements import notice, safe
from cards.queries import (
    answer_form_card,
    answer_sent_card,
    delivered_answer_card,
    lead_query_card,
    local,
    unanswered_card,
)

log = logging.getLogger(__name__)

DEFAULT_TARGET_HOURS = 48

NO_COP_HERE = "I don't know which CoP you mean here. Run this in the CoP's team channel (mention me)."
SEVERAL_COPS = "You lead more than one CoP, so run this in the CoP's team channel (mention me) to say which."
NOT_FOUND = "That question isn't in {cop}'s list any more (or belongs to another CoP), so nothing was changed."
ALREADY_ANSWERED = "That question was already answered by {who} on {when}; nothing was changed."
EMPTY_ANSWER = "Type an answer first."
LONG_ANSWER = "That answer is {n} characters; please keep it under {limit}."
MARKED = "Marked answered. Thanks for closing the loop!"
ONLY_ASKER_OR_LEAD = "Only the person who asked, or one of the CoP's leads, can mark this answered."
NOT_IN_THREAD = "Use **answered** as a reply in the thread of the question you want to close."
NOT_TRACKED = "I'm not tracking a question in this thread, so there is nothing to close."
PROGRAMME_ONLY = "Only the programme team can see and answer the questions passed to it."
NO_PROGRAMME_FAQ = (
    "A question to the programme team can't be added to a CoP's FAQ; the programme FAQ ships with the bot."
)


def target_hours(cop: Cop) -> int:
    return cop.answer_target_hours if cop.answer_target_hours > 0 else DEFAULT_TARGET_HOURS


def thread_root_of(turn: Turn) -> str:
    """The channel thread this activity belongs to: the root of a reply, or the post itself when it is a root."""
    request = turn.request
    conversation = request.place.conversation_id
    if ";messageid=" in conversation:
        return conversation.split(";messageid=", 1)[1]
    if request.kind == "message" and request.action is None:
        return request.reply_to_id or request.message_id or ""
    return ""


async def lead_cop(turn: Turn) -> Cop | None:
    """The CoP a lead command is about; tells the caller why when there isn't one."""
    cop = await turn.load_cop()
    if cop is None:
        await turn.tell(SEVERAL_COPS if turn.role >= Role.LEAD and turn.request.place.is_personal else NO_COP_HERE)
    return cop


# -- opening and notifying ----------------------------------------------------------------------------------


def has_recipients(cop: Cop, query: Query) -> bool:
    return bool(cop.lead_channel_reference) or bool(cop.leads and (cop.home_reference or query.reference))


async def notify_leads(services: Services, cop: Cop, query: Query, now: datetime, *, escalated: bool) -> int:
    """Queue the lead card about ``query`` (to the lead channel if the CoP set one, else each lead's personal
    chat). Keys make it idempotent: one notification per query and kind, however often this runs."""
    kind = "escalated" if escalated else "new"
    message = lead_query_card(cop.name, query, now, escalated=escalated, target_hours=target_hours(cop))
    if cop.lead_channel_reference:
        queued = await services.outbox.enqueue(
            f"query|{kind}|{cop.cop_id}|{query.query_id}|channel",
            cop.lead_channel_reference,
            message,
            now,
            cop_id=cop.cop_id,
        )
        return 1 if queued else 0
    base = cop.home_reference or query.reference
    if not base or not cop.leads:
        log.warning("no lead to notify about a query cop_id=%s query=%s", cop.cop_id, query.query_id)
        return 0
    count = 0
    for lead in cop.leads:
        if await services.outbox.enqueue(
            f"query|{kind}|{cop.cop_id}|{query.query_id}|{lead.aad_id}",
            base,
            message,
            now,
            cop_id=cop.cop_id,
            personal_for=Person(lead.user_id, lead.aad_id, lead.name),
        ):
            count += 1
    return count


async def open_query(
    services: Services,
    cop: Cop,
    asker: Person,
    text: str,
    now: datetime,
    *,
    place_kind: Where_,
    reference: JSON,
    thread_root_id: str = "",
    origin: Origin = "ask",
) -> Query:
    """Record an open query; the leads are told at once unless it is a watched channel post (the community may
    answer those; the escalation pass tells the leads if nobody does)."""
    query = await QueryRepo(services.store).open(
        cop.cop_id,
        asker,
        text,
        now,
        place_kind=place_kind,
        reference=reference,
        thread_root_id=thread_root_id,
        origin=origin,
    )
    log.info("query opened cop_id=%s query=%s origin=%s", cop.cop_id, query.query_id, origin)
    if origin != "channel":
        await notify_leads(services, cop, query, now, escalated=False)
    return query


# -- escalation -----------------------------------------------------------------------------------------------


async def run_due(services: Services, now: datetime) -> int:
    """Escalate every open query past its CoP's answer target to the leads, once per query (outbox keys plus the
    query's ``escalated`` flag). Answered queries are never escalated. Returns how many were escalated."""
    repo = QueryRepo(services.store)
    escalated = 0
    desk = await reachable_desk(services)
    for cop in [*await cop_repo(services).all(), *([desk] if desk else [])]:
        target = timedelta(hours=target_hours(cop))
        for query in await repo.of_cop(cop.cop_id, open_only=True):
            if query.escalated or not query.is_open or query.age(now) < target:
                continue
            if not has_recipients(cop, query):
                continue  # nobody to tell yet: try again on the next pass
            await notify_leads(services, cop, query, now, escalated=True)
            await repo.mark_escalated(query, now)
            escalated += 1
            log.info("query escalated cop_id=%s query=%s", cop.cop_id, query.query_id)
    return escalated


# -- privacy ----------------------------------------------------------------------------------------------------


async def export_person(services: Services, aad_id: str) -> Any:
    return [export_one(q, aad_id) for q in await QueryRepo(services.store).involving(aad_id)]


async def erase_person(services: Services, aad_id: str) -> None:
    queries = await QueryRepo(services.store).involving(aad_id)
    name = next((q.asker_name for q in queries if q.asker_aad == aad_id), "")
    name = name or next((q.answered_by_name for q in queries if q.answered_by_aad == aad_id), "")
    name = name or next((q.first_responder_name for q in queries if q.first_responder_aad == aad_id), "")
    await QueryRepo(services.store).erase_person(aad_id, name)


# -- handlers ---------------------------------------------------------------------------------------------------


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    privacy.register("queries", export_person, erase_person)

    async def show_list(turn: Turn, cop: Cop) -> None:
        now = turn.services.clock.now()
        queries = await QueryRepo(turn.services.store).of_cop(cop.cop_id, open_only=True)
        shown = unanswered_card(cop.cop_id, cop.name, queries, now, target_hours(cop))
        if turn.request.kind == "action":
            turn.respond.answer_action(shown)
        else:
            await turn.respond.reply(shown)

    async def desk_of(turn: Turn) -> Cop | None:
        """The programme team's queue, for an admin; tells anyone else why not."""
        desk = programme_desk(turn.services) if turn.role >= Role.ADMIN else None
        if desk is None:
            await turn.tell(PROGRAMME_ONLY)
        return desk

    async def wants_desk(turn: Turn) -> bool:
        if turn.cop_id == PROGRAMME_DESK:
            return True
        asked = turn.args.strip().lower() == "programme" and turn.request.action is None
        return asked or (turn.role >= Role.ADMIN and turn.cop_id is None and turn.request.place.is_personal)

    @router.command(
        "unanswered", help="Open questions, oldest first, to answer or close", role=Role.LEAD, usage="[programme]"
    )
    async def unanswered(turn: Turn) -> None:
        cop = await desk_of(turn) if await wants_desk(turn) else await lead_cop(turn)
        if cop is not None:
            await show_list(turn, cop)

    @router.action("queries.list", role=Role.LEAD)
    async def refresh(turn: Turn) -> None:
        cop = await desk_of(turn) if turn.cop_id == PROGRAMME_DESK else await lead_cop(turn)
        if cop is not None:
            await show_list(turn, cop)

    async def target_query(turn: Turn) -> tuple[Cop, Query] | None:
        """The CoP and the query a card button names; tells the caller why when it isn't usable."""
        if turn.cop_id == PROGRAMME_DESK:
            cop: Cop | None = await desk_of(turn)
            if cop is None:
                return None
        else:
            cop = await lead_cop(turn) if turn.role >= Role.LEAD else await turn.load_cop()
        if cop is None:
            if turn.role < Role.LEAD:
                await turn.tell(NO_COP_HERE)
            return None
        action = turn.request.action
        query_id = str(action.data.get("id", "")) if action is not None else ""
        query = await QueryRepo(turn.services.store).get(cop.cop_id, query_id)
        if query is None:
            await turn.tell(NOT_FOUND.format(cop=safe(cop.name, 120)))
            return None
        return cop, query

    async def refuse_closed(turn: Turn, query: Query) -> None:
        when = local(query.answered_at) if query.answered_at else "an earlier date"
        await turn.tell(ALREADY_ANSWERED.format(who=safe(query.answered_by_name or "someone", 120), when=when))

    @router.action("queries.answer_form", role=Role.LEAD)
    async def answer_form(turn: Turn) -> None:
        found = await target_query(turn)
        if found is None:
            return
        _, query = found
        if not query.is_open:
            await refuse_closed(turn, query)
            return
        turn.respond.answer_action(answer_form_card(query, turn.services.clock.now()))

    @router.action("queries.answer", role=Role.LEAD)
    async def answer(turn: Turn) -> None:
        found = await target_query(turn)
        if found is None:
            return
        cop, query = found
        services = turn.services
        now = services.clock.now()
        action = turn.request.action
        raw = action.data.get("answer") if action is not None else None
        answer_text = raw.strip() if isinstance(raw, str) else ""
        if not query.is_open:
            await refuse_closed(turn, query)
            return
        if not answer_text:
            turn.respond.answer_action(answer_form_card(query, now, error=EMPTY_ANSWER))
            return
        if len(answer_text) > MAX_ANSWER_CHARS:
            error = LONG_ANSWER.format(n=len(answer_text), limit=MAX_ANSWER_CHARS)
            turn.respond.answer_action(answer_form_card(query, now, error=error, value=answer_text[:MAX_ANSWER_CHARS]))
            return
        lead = turn.request.person
        try:
            closed = await QueryRepo(services.store).close(query, lead, now, answer_text)
        except QueryClosed as already:
            await refuse_closed(turn, already.query)
            return
        reference = closed.answer_reference()
        if reference:
            mention = closed.asker if closed.place_kind != "personal" else None
            await services.outbox.enqueue(
                f"query|answer|{cop.cop_id}|{closed.query_id}",
                reference,
                delivered_answer_card(closed, cop.name),
                now,
                cop_id=cop.cop_id,
                mention=mention,
            )
        await audit.record(services.store, cop.cop_id, now, lead.aad_id, lead.name, "query.answer", closed.query_id)
        turn.respond.answer_action(answer_sent_card(closed, delivered=bool(reference)))

    @router.action("queries.mark")
    async def mark(turn: Turn) -> None:
        found = await target_query(turn)
        if found is None:
            return
        cop, query = found
        person = turn.request.person
        if turn.role < Role.LEAD and person.aad_id != query.asker_aad:
            await turn.tell(ONLY_ASKER_OR_LEAD)
            return
        await close_by(turn, cop, query)

    async def close_by(turn: Turn, cop: Cop, query: Query) -> None:
        services = turn.services
        now = services.clock.now()
        person = turn.request.person
        try:
            await QueryRepo(services.store).close(query, person, now)
        except QueryClosed as already:
            await refuse_closed(turn, already.query)
            return
        await audit.record(services.store, cop.cop_id, now, person.aad_id, person.name, "query.mark", query.query_id)
        if turn.request.kind == "action":
            turn.respond.answer_action(notice(MARKED, title="Marked answered"))
        else:
            await turn.respond.reply(MARKED)

    @router.action("queries.draft", role=Role.LEAD)
    async def draft(turn: Turn) -> None:
        from cards.faq import faq_form_card

        found = await target_query(turn)
        if found is None:
            return
        cop, query = found
        if cop.cop_id == PROGRAMME_DESK:
            await turn.tell(NO_PROGRAMME_FAQ)
            return
        turn.respond.answer_action(
            faq_form_card(cop.cop_id, cop.name, question=query.text, answer=query.answer_text, query_id=query.query_id)
        )

    @router.command("answered", help="In a question's thread: mark it answered", places=("channel",))
    async def answered(turn: Turn) -> None:
        cop = await turn.load_cop()
        request = turn.request
        root = thread_root_of(turn)
        if cop is None:
            await turn.tell(NO_COP_HERE)
            return
        if not root or root == request.message_id:
            await turn.tell(NOT_IN_THREAD)
            return
        query = await QueryRepo(turn.services.store).by_thread(cop.cop_id, root)
        if query is None:
            await turn.tell(NOT_TRACKED)
            return
        if turn.role < Role.LEAD and request.person.aad_id != query.asker_aad:
            await turn.tell(ONLY_ASKER_OR_LEAD)
            return
        await close_by(turn, cop, query)

    @router.on("channel_message")
    async def watch(turn: Turn) -> None:
        request = turn.request
        if request.kind != "message" or request.place.kind != "channel" or not request.person.aad_id:
            return
        cop = await turn.load_cop()
        if cop is None:
            return
        services = turn.services
        now = services.clock.now()
        root = thread_root_of(turn)
        if not root or root == request.message_id:
            text = request.text.strip()
            if text and reads_as_question(text[:MAX_TEXT_CHARS]):
                await open_query(
                    services,
                    cop,
                    request.person,
                    text,
                    now,
                    place_kind="channel",
                    reference=request.conversation_reference,
                    thread_root_id=request.message_id or root,
                    origin="channel",
                )
            return
        repo = QueryRepo(services.store)
        query = await repo.by_thread(cop.cop_id, root)
        if query is None or not query.is_open or query.first_response_at is not None:
            return
        if request.person.aad_id == query.asker_aad:
            return
        await repo.record_first_response(query, request.person, now)
        log.info("query first response cop_id=%s query=%s", cop.cop_id, query.query_id)
