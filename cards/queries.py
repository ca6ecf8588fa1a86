"""Cards of open queries: the leads' list, the notification and escalation card, the answer form and the
answer the asker receives. A query of the programme team (partition ``programme``, its admins in the leads'
place) says so, and offers no "Add to FAQ" (the programme FAQ ships with the bot)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.turn import JSON, Card
from bot.domain.queries import Query
from cards.elements import action_set, card, container, execute, facts, heading, input_text, safe, text

SHOWN_TZ = "Europe/London"
LIST_LIMIT = 10
PLACES = {"personal": "personal chat with me", "channel": "a channel", "groupChat": "a group chat"}
ORIGINS = {"ask": "asked me", "not_helpful": "asked me; my FAQ answer didn't help", "channel": "posted in a channel"}
PROGRAMME_QUERIES = "programme"  # the partition of the programme team's queries (bot/features/programme_queries.py)


def for_programme(query: Query) -> bool:
    return query.cop_id == PROGRAMME_QUERIES


def local(when: datetime) -> str:
    return when.astimezone(ZoneInfo(SHOWN_TZ)).strftime("%a %d %b %H:%M")


def age(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours < 1:
        return f"{max(0, int(delta.total_seconds() // 60))} min"
    if hours < 48:
        return f"{hours} h"
    return f"{hours // 24} days"


def _query_facts(query: Query, now: datetime) -> JSON:
    return facts(
        [
            ("Asked by", safe(query.asker_name or "someone", 120)),
            ("Where", f"{PLACES[query.place_kind]} ({ORIGINS[query.origin]})"),
            ("When", f"{local(query.created_at)} ({age(query.age(now))} ago)"),
            *([("First reply", local(query.first_response_at))] if query.first_response_at else []),
        ]
    )


def query_actions(query: Query) -> list[JSON]:
    data = {"cop_id": query.cop_id, "id": query.query_id}
    return [
        execute("Answer", "queries.answer_form", data, style="positive"),
        execute("Mark answered", "queries.mark", data),
        *([] if for_programme(query) else [execute("Add to FAQ", "queries.draft", data)]),
    ]


def unanswered_card(cop_id: str, cop_name: str, queries: Sequence[Query], now: datetime, target_hours: int) -> Card:
    body: list[JSON] = [heading(f"Unanswered questions: {safe(cop_name, 120)}")]
    if not queries:
        body.append(text("Nothing open. Every question has been answered.", color="good"))
    else:
        overdue = sum(1 for q in queries if q.age(now) > timedelta(hours=target_hours))
        body.append(
            text(f"{len(queries)} open, oldest first; {overdue} past the {target_hours} h answer target.", subtle=True)
        )
        for query in queries[:LIST_LIMIT]:
            body.append(
                container(
                    [
                        text(safe(query.text, 600), weight="bolder"),
                        _query_facts(query, now),
                        action_set(query_actions(query)),
                    ],
                    separator=True,
                )
            )
        if len(queries) > LIST_LIMIT:
            body.append(text(f"…and {len(queries) - LIST_LIMIT} more; answer these first.", subtle=True))
    return card(body, [execute("Refresh", "queries.list", {"cop_id": cop_id})], summary="Unanswered questions")


def lead_query_card(cop_name: str, query: Query, now: datetime, *, escalated: bool, target_hours: int) -> Card:
    """What a lead receives about one query: when it opens, and once more if it passes the answer target."""
    if escalated:
        title = f"Still unanswered after {target_hours} h"
        intro = f"This question to {safe(cop_name, 120)} has had no answer within the CoP's answer target."
    elif for_programme(query):
        title = "New question for the programme team"
        intro = "I couldn't answer this question about the CoP programme from the FAQ, so it comes to you."
    else:
        title = "New question for the leads"
        intro = f"I couldn't answer this question to {safe(cop_name, 120)} from the FAQ."
    body = [
        heading(title),
        text(intro, subtle=True),
        text(safe(query.text, 1500), weight="bolder"),
        _query_facts(query, now),
    ]
    return card(body, query_actions(query), summary=f"{title}: {query.text[:60]}")


def answer_form_card(query: Query, now: datetime, *, error: str = "", value: str = "") -> Card:
    where = "in the channel thread" if query.place_kind == "channel" and query.thread_root_id else "where they asked"
    body: list[JSON] = [
        heading("Answer a question"),
        text(safe(query.text, 1500), weight="bolder"),
        _query_facts(query, now),
        text(
            f"Your answer goes to {safe(query.asker_name or 'the asker', 120)} {where}, and closes the question.",
            subtle=True,
        ),
    ]
    if error:
        body.append(text(error, color="attention"))
    body.append(input_text("answer", label="Your answer", value=value, multiline=True, max_length=4000, required=True))
    data = {"cop_id": query.cop_id, "id": query.query_id}
    return card(
        body,
        [execute("Send answer", "queries.answer", data, style="positive"), execute("Back", "queries.list", data)],
        summary="Answer a question",
    )


def answer_sent_card(query: Query, delivered: bool) -> Card:
    outcome = (
        f"Sent to {safe(query.asker_name, 120)} and closed."
        if delivered
        else "Recorded and closed; the asker's details were erased, so I couldn't send it to them."
    )
    body = [
        heading("Answer sent"),
        text(safe(query.text, 600), subtle=True),
        text(safe(query.answer_text, 4000)),
        text(outcome, color="good"),
    ]
    data = {"cop_id": query.cop_id, "id": query.query_id}
    actions = [] if for_programme(query) else [execute("Add to FAQ", "queries.draft", data)]
    return card(body, actions, summary="Answer sent")


def delivered_answer_card(query: Query, cop_name: str) -> Card:
    """The lead's answer, as the asker receives it (in their thread or personal chat)."""
    source = "the CoP programme team" if for_programme(query) else f"the leads of {safe(cop_name, 120)}"
    return card(
        [
            text(f"An answer from {source}", weight="bolder", size="medium"),
            text(f"You asked: {safe(query.text, 600)}", subtle=True),
            text(safe(query.answer_text, 4000)),
            text(f"Answered by {safe(query.answered_by_name, 120)}", subtle=True, size="small"),
        ],
        summary=f"An answer from {source}",
    )


def examples() -> Iterable[tuple[str, Card]]:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    query = Query(
        query_id="1795000000000abcd",
        cop_id="19:t@thread.tacv2",
        text="How do I get **access** to <the> [data] warehouse?",
        created_at=now - timedelta(hours=50),
        asker_aad="aad-1",
        asker_user_id="29:u1",
        asker_name="Alice *Adams*",
        place_kind="channel",
        reference={},
        thread_root_id="1:root",
        origin="channel",
    )
    answered = Query(**{**query.__dict__, "answer_text": "Ask the _data_ team.", "answered_by_name": "Lee Lead"})
    yield "list", unanswered_card("19:t@thread.tacv2", "Data & Insight", [query], now, 48)
    yield "list-empty", unanswered_card("19:t@thread.tacv2", "Data & Insight", [], now, 48)
    yield "lead-new", lead_query_card("Data", query, now, escalated=False, target_hours=48)
    yield "lead-escalated", lead_query_card("Data", query, now, escalated=True, target_hours=48)
    yield "answer-form", answer_form_card(query, now, error="Type an answer first.")
    yield "answer-sent", answer_sent_card(answered, True)
    yield "delivered", delivered_answer_card(answered, "Data")
    programme = Query(**{**query.__dict__, "cop_id": PROGRAMME_QUERIES, "place_kind": "personal", "origin": "ask"})
    yield "programme-new", lead_query_card("the CoP programme team", programme, now, escalated=False, target_hours=48)
