"""Seed 25 CoPs x 200 members x a term of activity straight into a store, for the health and programme
scenarios: roster rows, a weekly trend, channel contributions, events with feedback, queries with responses,
FAQ entries and a finished survey round. Written through the repositories where they are cheap and with
batches (100 rows, one partition) where the volume is in the thousands."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import Any

from bench.processes import SIGNING_KEY  # the bots' key: contribution markers and snapshots must match it
from bot.core.config import Settings
from bot.core.turn import Person
from bot.domain.cops import Cop, CopRepo, PersonRef
from bot.domain.events import Draft as EventDraft
from bot.domain.events import EventRepo, Kind
from bot.domain.faq import Draft as FaqDraft
from bot.domain.faq import FaqRepo
from bot.domain.queries import QueryRepo
from bot.domain.survey import STATEMENT_KEYS, Survey, SurveyRepo, new_round_id, survey_id_for
from bot.health import history
from bot.health.rebuild import rebuild
from storage.base import BatchOp, TableStore, encode_key
from tests.kit.activities import BOT_ID, BOT_NAME, TENANT, Team, User, team

COPS = 25
MEMBERS = 200
ADMIN = User(id="29:admin", aad="aad-admin", name="Pat Programme")
AREAS = ("central", "faculty", "vpo", "other", "")


def cop_team(k: int) -> Team:
    return team(k + 1, f"Bench CoP {k + 1:02d}")


def lead_of(k: int) -> User:
    return User(id=f"29:lead-{k}", aad=f"aad-lead-{k}", name=f"Lead {k}")


def member(k: int, n: int) -> User:
    return User(id=f"29:m-{k}-{n}", aad=f"aad-m-{k}-{n}", name=f"Member {k}/{n}")


def _reference(where: Team, service_url: str) -> dict[str, Any]:
    return {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {"id": where.general, "conversationType": "channel", "tenantId": TENANT, "isGroup": True},
        "channelId": "msteams",
        "serviceUrl": service_url,
    }


async def _batches(store: TableStore, table: str, pk: str, ops: list[BatchOp]) -> None:
    for start in range(0, len(ops), 100):
        await store.batch(table, pk, ops[start : start + 100])


async def seed_cop(store: TableStore, service_url: str, k: int, now: datetime) -> None:
    rng = random.Random(k)
    where = cop_team(k)
    lead = lead_of(k)
    await CopRepo(store).create(
        Cop(
            cop_id=where.id,
            name=where.name,
            tenant_id=TENANT,
            service_url=service_url,
            status="launched",
            leads=(PersonRef(lead.aad, lead.id, lead.name), PersonRef(f"aad-lead2-{k}", f"29:lead2-{k}", "Co-lead")),
            sponsor=PersonRef(f"aad-sponsor-{k}", f"29:sponsor-{k}", "Sponsor"),
            terms_of_reference_url="https://example.org/tor" if k % 3 else "",
            objectives="Share practice." if k % 4 else "",
            home_channel_id=where.general,
            home_reference=_reference(where, service_url),
            created_at=now - timedelta(days=400),
        )
    )
    # roster (the CoP-side index the scorecard reads): 200 members joined over the last year
    roster: list[BatchOp] = []
    for n in range(MEMBERS):
        who = member(k, n)
        joined = now - timedelta(days=rng.randint(1, 365))
        core = n % 4 == 0
        data: dict[str, Any] = {
            "cop_id": where.id,
            "aad_id": who.aad,
            "user_id": who.id,
            "name": who.name,
            "tier": "core" if core else "wider",
            "joined_at": joined,
            "org_area": AREAS[n % len(AREAS)],
            "was_wider": core and n % 8 == 0,
        }
        if core and n % 8 == 0:
            data["tier_changed_at"] = now - timedelta(days=rng.randint(1, 120))
        roster.append(BatchOp("upsert", encode_key(who.aad), data))
    await _batches(store, "roster", encode_key(where.id), roster)
    # a weekly trend for half a year
    trend = [
        BatchOp(
            "upsert",
            (now - timedelta(weeks=w)).date().isoformat(),
            {"members": MEMBERS - w * 2, "core": MEMBERS // 4, "median_response_hours": 4.0 + w % 5},
        )
        for w in range(1, 27)
    ]
    await store.batch(history.TREND, encode_key(where.id), trend)
    # 30 days of channel contributions
    contrib = []
    for n in rng.sample(range(MEMBERS), 60):
        day = now - timedelta(days=rng.randint(0, 29))
        marker = history.contributor_marker(SIGNING_KEY, member(k, n).aad)
        contrib.append(BatchOp("upsert", f"{day:%Y%m%d}|{marker}", {"who": marker}))
    await _batches(store, history.CONTRIB, encode_key(where.id), contrib)
    # a term of events: lunch and learns, a core meeting, lead-sponsor meetings, workshops, with feedback
    events = EventRepo(store)
    plan: list[tuple[Kind, int]] = [
        ("lunch_and_learn", 50),
        ("lunch_and_learn", 20),
        ("core_meeting", 35),
        ("lead_sponsor", 60),
        ("lead_sponsor", 18),
        ("workshop", 10),
        ("social", -5),
    ]
    for kind, days_ago in plan:
        start = now - timedelta(days=days_ago)
        draft = EventDraft(f"{kind} {days_ago}", kind, start, start + timedelta(hours=1), "Europe/London")
        event = await events.create(where.id, draft, lead.aad, lead.name, start - timedelta(days=14))
        if days_ago > 0:
            for n in range(8):
                rater = member(k, n)
                rating = rng.randint(3, 5)
                await events.record_feedback(where.id, event.event_id, rater.aad, rater.name, rating, "", start)
    # queries: 20 this term, most answered
    queries = QueryRepo(store)
    for q in range(20):
        asked = now - timedelta(hours=rng.randint(2, 24 * 80))
        asker = member(k, rng.randrange(MEMBERS))
        query = await queries.open(
            where.id,
            Person(asker.id, asker.aad, asker.name),
            f"Bench question {q}?",
            asked,
            place_kind="channel",
            reference=_reference(where, service_url),
        )
        if q % 5:
            await queries.record_first_response(
                query, Person(lead.id, lead.aad, lead.name), asked + timedelta(hours=rng.randint(1, 30))
            )
    await FaqRepo(store).add(
        where.id, [FaqDraft(f"Bench FAQ {i} question?", "Answer.") for i in range(5)], "lead", now - timedelta(days=30)
    )


async def seed_survey(store: TableStore, now: datetime) -> None:
    repo = SurveyRepo(store)
    round_id = new_round_id(now - timedelta(days=40))
    for k in range(COPS):
        where = cop_team(k)
        survey = await repo.open(
            Survey(
                survey_id=survey_id_for(round_id, where.id),
                round_id=round_id,
                cop_id=where.id,
                cop_name=where.name,
                started_at=now - timedelta(days=40),
                closes_at=now + timedelta(days=1),
                remind_at=now - timedelta(days=30),
                invited=MEMBERS,
                invitations_sent=True,
                reminded=True,
            )
        )
        for n in range(12 if k % 5 else 3):  # every fifth CoP stays below the anonymity minimum
            answers = {key: 4 + (n + i) % 2 for i, key in enumerate(STATEMENT_KEYS)}
            await repo.answer(SIGNING_KEY, [survey], member(k, n).aad, answers, now)


async def seed(store: TableStore, service_url: str, now: datetime, snapshots_at: datetime | None = None) -> None:
    """Seed every CoP; then, as the scheduler's minute tick would have done by the time anyone looks, store each
    CoP's indicator snapshot (bot/health/rebuild.py) as of ``snapshots_at`` (default ``now``; a snapshot serves
    any later time)."""
    gate = asyncio.Semaphore(8)

    async def one(k: int) -> None:
        async with gate:
            await seed_cop(store, service_url, k, now)

    await asyncio.gather(*(one(k) for k in range(COPS)))
    await seed_survey(store, now)
    checks = await rebuild(store, Settings(signing_key=SIGNING_KEY), snapshots_at or now)
    if not all(c.stored for c in checks):
        raise RuntimeError("the health snapshots were not stored after seeding")
