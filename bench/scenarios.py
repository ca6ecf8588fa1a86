"""Benchmark scenarios. Each names the activities it sends to CoP Bot and the same-sized message it sends to
the echo bot, plus optional setup (install a team, join members) done before timing."""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from bench import health_seed
from bench.processes import SIGNING_KEY
from bot.core.turn import Card
from bot.security.sealing import seal_card
from bot.security.signing import Signer
from storage.base import TableStore
from tests.kit.activities import BOT_ID, BOT_NAME, Activities, Team, team, user
from tests.kit.connector import FakeConnector

Setup = Callable[[str, Activities, aiohttp.ClientSession], Awaitable[None]]
Seed = Callable[[TableStore, Activities], Awaitable[None]]  # writes starting data straight into the bot's store
# after CoP Bot's timed run: figures from what reached the fake connector (e.g. answers right and wrong)
Check = Callable[[FakeConnector, int], dict[str, Any]]


@dataclass(frozen=True)
class Scenario:
    name: str
    make: Callable[[Activities], Callable[[int], dict[str, Any]]]
    setup: Setup | None = None
    concurrency: tuple[int, ...] = (1, 20)
    total: int = 400
    storage: str = "sqlite"  # or "azurite"
    seed: Seed | None = None
    # run by a CoP Bot process of its own, started for it and stopped after, so its idle and peak RSS are its own
    fresh: bool = False
    check: Check | None = None


def _help(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


JOIN_TEAM = team(900, "Bench Community")


async def _install_join_team(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    async with http.post(url, json=acts.installed_in_team(user(900), JOIN_TEAM)) as response:
        await response.read()
        if response.status >= 300:
            raise RuntimeError(f"installing the bench team failed: {response.status}")


def _join(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """Each activity is a join card submit (Action.Execute) by a different person: card → stored → confirmation."""
    signer = Signer(SIGNING_KEY)
    people = itertools.count(20000)

    def make(_: int) -> dict[str, Any]:
        data = {"verb": "membership.join", "cop_id": JOIN_TEAM.id, "tier": "wider", "mode": "replace"}
        sealed = seal_card(Card({"actions": [{"type": "Action.Execute", "data": data}]}), signer, datetime.now(UTC))
        assert isinstance(sealed, Card)
        value = {**sealed.content["actions"][0]["data"], "org_area": "central", "interests": "bench, data"}
        activity = acts.execute(user(next(people)), "membership.join", where=JOIN_TEAM)
        activity["value"]["action"]["data"] = value
        return activity

    return make


ASK = "how do I join a CoP?"
# Every timed question is new text (the encoder remembers vectors of texts it has seen): a few staff-style
# questions, numbered so that no two requests repeat one.
ASKS = (
    "how do I join a CoP?",
    "what's the difference between core and wider members",
    "can I be a core member of two communities",
    "who do I talk to about starting a new community of practice",
    "how much time does being in a CoP take",
)


def _ask(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), f"ask {ASKS[i % len(ASKS)]} ({i})")


async def _warm_faq(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    """The first question loads the programme FAQ into storage and builds the index; time the steady state."""
    async with http.post(url, json=acts.personal(user(999), f"ask {ASK}")) as response:
        await response.read()


# Five CoPs, each with FAQ entries of its own: with the programme's, six indexes, which fit an instance's budget
# (bot/domain/faq_indexes.py DEFAULT_INDEX_MB), are all built and held while the load runs, so peak RSS is the
# worst case.
MIXED_TEAMS = tuple(team(910 + n, f"Mixed Community {n}") for n in range(5))


async def _seed_mixed_faq(store: TableStore, acts: Activities) -> None:
    from bot.domain.faq import Draft as FaqDraft
    from bot.domain.faq import FaqRepo

    now = datetime.now(UTC)
    for where in MIXED_TEAMS:
        drafts = [FaqDraft(f"Where are the {where.name} minutes of meeting {k}?", "In Files.") for k in range(5)]
        await FaqRepo(store).add(where.id, drafts, "lead", now)


async def _install_mixed(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    for n, where in enumerate(MIXED_TEAMS):
        async with http.post(url, json=acts.installed_in_team(user(910 + n), where)) as response:
            await response.read()
            if response.status >= 300:
                raise RuntimeError(f"installing {where.name} failed: {response.status}")
    await _warm_faq(url, acts, http)


def _mixed(acts: Activities, joiners_from: int = 30000) -> Callable[[int], dict[str, Any]]:
    """200 simulated users across 5 CoPs: a quarter each join (a sealed join submit, every fourth as core; each by
    a new person, numbered from ``joiners_from``), ask a new question in their CoP's channel, ask for help, and
    look at their memberships."""
    signer = Signer(SIGNING_KEY)
    joiners = itertools.count(joiners_from)

    def make(i: int) -> dict[str, Any]:
        where = MIXED_TEAMS[(i // 4) % len(MIXED_TEAMS)]
        person = user(40000 + i % 200)
        step = i % 4
        if step == 0:
            tier = "core" if i % 16 == 0 else "wider"
            data = {"verb": "membership.join", "cop_id": where.id, "tier": tier, "mode": "replace"}
            sealed = seal_card(Card({"actions": [{"type": "Action.Execute", "data": data}]}), signer, datetime.now(UTC))
            assert isinstance(sealed, Card)
            activity = acts.execute(user(next(joiners)), "membership.join", where=where)
            activity["value"]["action"]["data"] = {**sealed.content["actions"][0]["data"], "org_area": "central"}
            return activity
        if step == 1:
            return acts.channel(person, where, f"ask is room {i} in the east wing bookable on saturdays?")
        if step == 2:
            return acts.personal(person, "help")
        return acts.personal(person, "me")

    return make


# -- faq_cops: 50 CoPs, each with FAQ entries of its own, asked in turn (more than the index budget holds) --------

FAQ_COPS = 50
FAQ_TEAMS = tuple(team(6000 + n, f"Practice Group {n:02d}") for n in range(FAQ_COPS))
# each CoP's own entries: a question and an answer carrying a code of that CoP alone, so a reply shows whose it is
FAQ_OWN = (
    ("Who signs off travel claims for {name}?", "{name}'s travel claims are signed by its treasurer, ref {code}-T."),
    ("Where are {name}'s meeting minutes kept?", "{name}'s minutes are in the Files tab, folder {code}-M."),
    ("How do I book the {name} lab bench?", "Book the {name} lab bench with the booking code {code}-L."),
)
FAQ_BURST = 4  # questions asked in a CoP before the next CoP's turn: a conversation, not one question per CoP


def _faq_code(n: int) -> str:
    return f"PG{n:02d}"


async def _seed_faq_cops(store: TableStore, acts: Activities) -> None:
    from bot.domain.faq import Draft as FaqDraft
    from bot.domain.faq import FaqRepo

    now = datetime.now(UTC)
    repo = FaqRepo(store)
    for n, where in enumerate(FAQ_TEAMS):
        if await repo.count(where.id):
            continue
        drafts = [FaqDraft(q.format(name=where.name), a.format(name=where.name, code=_faq_code(n))) for q, a in FAQ_OWN]
        await repo.add(where.id, drafts, "lead", now)


async def _install_faq_cops(url: str, acts: Activities, http: aiohttp.ClientSession) -> None:
    for n, where in enumerate(FAQ_TEAMS):
        async with http.post(url, json=acts.installed_in_team(user(6100 + n), where)) as response:
            await response.read()
            if response.status >= 300:
                raise RuntimeError(f"installing {where.name} failed: {response.status}")
    await _warm_faq(url, acts, http)


def _faq_cops(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """A member asks, in their CoP's channel, one of that CoP's own FAQ questions (in other words each time, so
    every question is new text): CoPs take turns, FAQ_BURST questions each, all 50 in every 200 questions."""

    def make(i: int) -> dict[str, Any]:
        n = (i // FAQ_BURST) % FAQ_COPS if i >= 0 else 0
        where = FAQ_TEAMS[n]
        question = FAQ_OWN[abs(i) % len(FAQ_OWN)][0].format(name=where.name)
        return acts.channel(user(6200 + abs(i) % 200), where, f"ask please, {question.lower()} (asking for #{abs(i)})")

    return make


def _faq_cops_check(connector: FakeConnector, asked: int) -> dict[str, Any]:
    """How many replies carried the asking CoP's own answer, and how many another CoP's (must be 0)."""
    import json
    import re

    own_answer = re.compile(r"PG(\d\d)-[TML]")
    by_conversation = {where.general: n for n, where in enumerate(FAQ_TEAMS)}
    right = wrong = 0
    for call in connector.sent():
        n = by_conversation.get(call.conversation_id.split(";")[0])
        if n is None:
            continue
        codes = {int(code) for code in own_answer.findall(json.dumps(call.body))}
        right += codes == {n}
        wrong += bool(codes - {n})
    failed = failed_turns(connector)
    return {"answered_own": right, "answered_other_cops": wrong, "asked": asked, "turns_failed": failed}


def failed_turns(connector: FakeConnector) -> int:
    """Turns that failed inside the bot: it still answers 200 and posts an apology (storage unreachable, or
    another error), so the load generator's error count does not see them."""
    from bot.core import messages

    marks = (messages.STORAGE_DOWN.split("(ref")[0].strip(), messages.APOLOGY.split("(ref")[0].strip())
    return sum(1 for call in connector.sent() if any(mark in call.text for mark in marks))


def _mixed_check(connector: FakeConnector, asked: int) -> dict[str, Any]:
    return {"turns_failed": failed_turns(connector)}


def echo_message(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.personal(user(i % 500 + 1000), "help")


# -- rsvp: 20 people answering one event's card at once (Action.Execute invokes in the CoP's channel) --------------

RSVP_TEAM: Team = team(4242, "Bench CoP")
RSVP_EVENT = "be0c4be0c4be"
RSVP_PEOPLE = 20
# the tests' clock: seeds hold data valid on it and on the real clock, which the bench's bots and its round-trip
# count run on (tests reuse some of these seeds in-process)
FAKE_NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def _clocks() -> tuple[datetime, datetime]:
    real = datetime.now(UTC)
    return min(real, FAKE_NOW), max(real, FAKE_NOW)


class _Announced:
    """Stands in for Teams when the seed posts the channel card through the outbox (so updates have a target)."""

    async def send(self, reference: Mapping[str, Any], message: Any, *, mention: Any = None) -> str:
        return "bench-announcement"

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Any) -> None:
        return None

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Any) -> dict[str, Any]:
        return dict(reference)


async def _seed_event(store: TableStore, acts: Activities) -> None:
    """A CoP and an event with capacity 10, whose channel card has been delivered."""
    from bot.domain.cops import Cop, CopRepo, PersonRef
    from bot.domain.events import Draft, EventRepo
    from bot.features.event_notices import announce_key
    from bot.jobs.outbox import Outbox
    from storage.base import AlreadyExists

    earliest, latest = _clocks()
    reference = {
        "bot": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {"id": RSVP_TEAM.general, "conversationType": "channel", "tenantId": acts.tenant},
        "channelId": "msteams",
        "serviceUrl": acts.service_url,
    }
    lead = user(4000)
    cop = Cop(
        cop_id=RSVP_TEAM.id,
        name=RSVP_TEAM.name,
        tenant_id=acts.tenant,
        service_url=acts.service_url,
        status="launched",
        leads=(PersonRef(lead.aad, lead.id, lead.name),),
        home_reference=reference,
        created_at=earliest,
    )
    start = latest + timedelta(days=30)
    draft = Draft("Bench lunch and learn", "lunch_and_learn", start, start + timedelta(hours=1), "Europe/London",
                  place="Room 1", capacity=10)  # fmt: skip
    try:
        await CopRepo(store).create(cop)
        await EventRepo(store).create(RSVP_TEAM.id, draft, lead.aad, lead.name, earliest, reference, RSVP_EVENT)
    except AlreadyExists:
        return
    outbox = Outbox(store, _Announced(), Signer("bench-seed-key-0123456789abcdef0123456789"))
    await outbox.enqueue(announce_key(RSVP_EVENT), reference, "announcement", earliest)
    await outbox.flush(earliest)


def _rsvp(acts: Activities) -> Callable[[int], dict[str, Any]]:
    from bot.security.sealing import PURPOSE, SEAL

    earliest, latest = _clocks()
    signer = Signer(SIGNING_KEY)
    # sealed as the bot seals its buttons, valid under both clocks (the bench bots' and the in-process run's)
    bound = {"v": "event.rsvp", "c": RSVP_TEAM.id, "i": RSVP_EVENT}
    seal = signer.sign(PURPOSE, bound, now=earliest, ttl=latest - earliest + timedelta(days=30))
    sealed = {
        choice: {"verb": "event.rsvp", "cop_id": RSVP_TEAM.id, "id": RSVP_EVENT, "choice": choice, SEAL: seal}
        for choice in ("going", "maybe", "no")
    }

    def make(i: int) -> dict[str, Any]:
        # person i % 20 answers going, then maybe, then can't go: every click changes something (capacity 10,
        # so "going" fills the waitlist and dropping out promotes the next person)
        choice = ("going", "maybe", "no")[(i // RSVP_PEOPLE) % 3]
        return acts.execute(user(3000 + i % RSVP_PEOPLE), "event.rsvp", sealed[choice], where=RSVP_TEAM)

    return make


def _health(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """A lead asks for the scorecard in their CoP's channel (25 CoPs x 200 members x a term of activity)."""
    return lambda i: acts.channel(
        health_seed.lead_of(i % health_seed.COPS), health_seed.cop_team(i % health_seed.COPS), "health"
    )


def _programme(acts: Activities) -> Callable[[int], dict[str, Any]]:
    """A programme admin asks for all 25 CoPs side by side."""
    return lambda _: acts.personal(health_seed.ADMIN, "programme")


async def _seed_health(store: TableStore, acts: Activities) -> None:
    # snapshots as the minute tick keeps them in production: refreshed within the last hour
    await health_seed.seed(store, acts.service_url, datetime.now(UTC))


# -- projects and resources: a member lists the CoP's projects, or finds shared resources by words -------------

SHARE_TEAM: Team = team(5151, "Bench Sharing CoP")
SHARE_MEMBERS = 50
SHARE_WORDS = ("report template", "onboarding guide", "dashboard recording", "data tool", "survey slides")


async def _seed_projects(store: TableStore, acts: Activities) -> None:
    """A CoP with 50 members, 20 projects (some finished with outcomes) and 150 shared resources."""
    from bot.domain.cops import Cop, CopRepo, PersonRef
    from bot.domain.members import MembershipRepo, Profile
    from bot.domain.projects import Outcome, Project, ProjectRepo
    from bot.domain.resources import KINDS, Kind, Resource, ResourceRepo
    from storage.base import AlreadyExists

    earliest, _ = _clocks()
    lead = user(5100)
    try:
        await CopRepo(store).create(
            Cop(
                cop_id=SHARE_TEAM.id,
                name=SHARE_TEAM.name,
                tenant_id=acts.tenant,
                service_url=acts.service_url,
                status="launched",
                leads=(PersonRef(lead.aad, lead.id, lead.name),),
                created_at=earliest,
            )
        )
    except AlreadyExists:
        return
    members = MembershipRepo(store)
    for n in range(SHARE_MEMBERS):
        person = user(5200 + n)
        await members.join(SHARE_TEAM.id, Profile(person.aad, person.id, person.name), "wider", earliest)
    people = tuple(PersonRef(user(5200 + n).aad, user(5200 + n).id, user(5200 + n).name) for n in range(6))
    for n in range(20):
        finished = n % 4 == 0
        outcome = Outcome("Reports in a day", "Finance", "", ("https://example.org/case",), earliest)
        await ProjectRepo(store).create(
            Project(
                SHARE_TEAM.id,
                f"{n:012x}",
                f"Bench project {n}",
                "A goal",
                "finished" if finished else "running",
                people[:2],
                people[2:],
                outcome=outcome if finished else None,
                created_at=earliest,
            )
        )
    topics = ("report", "onboarding", "dashboard", "data quality", "survey", "budget", "recruitment", "power bi")
    kinds: tuple[Kind, ...] = ("guide", "template", "recording", "slides", "tool")
    repo = ResourceRepo(store)
    for n in range(150):
        topic, kind = topics[n % len(topics)], kinds[n % len(kinds)]
        title = f"{topic.title()} {KINDS[kind].lower()} {n}"
        why = f"Helps with {topic} work."
        resource = Resource(
            SHARE_TEAM.id, f"bench{n:07d}", title, f"https://example.org/r/{n}", kind, (topic, "bench"), why,
            lead.aad, lead.name, earliest,
        )  # fmt: skip
        await repo.add(resource, existing=n)


def _projects(acts: Activities) -> Callable[[int], dict[str, Any]]:
    return lambda i: acts.channel(user(5200 + i % SHARE_MEMBERS), SHARE_TEAM, "projects")


def _resources(acts: Activities) -> Callable[[int], dict[str, Any]]:
    words = SHARE_WORDS
    return lambda i: acts.channel(user(5200 + i % SHARE_MEMBERS), SHARE_TEAM, f"resources {words[i % len(words)]}")


# -- compose_query: message extension searches from the compose box (answers, CoPs, events, in turn) ---------------

COMPOSE_COPS = 12
COMPOSE_PEOPLE = 40
COMPOSE_SEARCHES = (
    ("answers", "how do I join a CoP"),
    ("cops", "data"),
    ("events", "lunch"),
    ("answers", "core or wider member"),
    ("cops", "research software"),
    ("events", ""),
)


async def _seed_compose(store: TableStore, acts: Activities) -> None:
    """Twelve CoPs (the first with members and an event) for searches to rank and list."""
    from bot.domain.cops import Cop, CopRepo, PersonRef
    from bot.domain.members import MembershipRepo, Profile
    from storage.base import AlreadyExists

    await _seed_event(store, acts)  # the RSVP team's CoP and its upcoming lunch and learn
    earliest, _ = _clocks()
    areas = ("Data and insight", "Research software", "Teaching", "Digital", "Estates", "Finance")
    for n in range(COMPOSE_COPS):
        where = team(5600 + n, f"{areas[n % len(areas)]} {n}")
        lead = user(5700 + n)
        area = areas[n % len(areas)]
        cop = Cop(
            cop_id=where.id,
            name=where.name,
            tenant_id=acts.tenant,
            service_url=acts.service_url,
            status="launched",
            practice_area=area,
            leads=(PersonRef(lead.aad, lead.id, lead.name),),
            objectives=f"share practice in {area.lower()}",
            created_at=earliest,
        )
        try:
            await CopRepo(store).create(cop)
        except AlreadyExists:
            return
    members = MembershipRepo(store)
    for i in range(COMPOSE_PEOPLE):
        person = user(5800 + i)
        await members.join(RSVP_TEAM.id, Profile(person.aad, person.id, person.name), "wider", earliest)


def _compose_query(acts: Activities) -> Callable[[int], dict[str, Any]]:
    def make(i: int) -> dict[str, Any]:
        command, words = COMPOSE_SEARCHES[i % len(COMPOSE_SEARCHES)]
        sender = user(5800 + i % COMPOSE_PEOPLE)
        return acts.compose_query(sender, command, words, initial_run=not words, where=RSVP_TEAM)

    return make


# -- card_refresh: Teams re-asking for each viewer's own view of the event card (Universal Actions refresh) -------


def _card_refresh(acts: Activities) -> Callable[[int], dict[str, Any]]:
    from bot.security.sealing import PURPOSE, SEAL

    earliest, latest = _clocks()
    signer = Signer(SIGNING_KEY)
    bound = {"v": "event.view", "c": RSVP_TEAM.id, "i": RSVP_EVENT}
    seal = signer.sign(PURPOSE, bound, now=earliest, ttl=latest - earliest + timedelta(days=30))
    data = {"verb": "event.view", "cop_id": RSVP_TEAM.id, "id": RSVP_EVENT, SEAL: seal}

    def make(i: int) -> dict[str, Any]:
        activity = acts.execute(user(3000 + i % RSVP_PEOPLE), "event.view", data, where=RSVP_TEAM)
        activity["value"]["trigger"] = "automatic"
        return activity

    return make


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("help", _help),
    Scenario("ask", _ask, setup=_warm_faq),
    Scenario("join", _join, setup=_install_join_team),
    Scenario("rsvp", _rsvp, concurrency=(1, 20), storage="azurite", seed=_seed_event),
    Scenario("health", _health, storage="azurite", seed=_seed_health, concurrency=(1, 5), total=200),
    Scenario("programme", _programme, storage="azurite", seed=_seed_health, concurrency=(1, 2), total=40),
    Scenario("projects", _projects, seed=_seed_projects),
    Scenario("resources", _resources, seed=_seed_projects),
    Scenario("compose_query", _compose_query, seed=_seed_compose),
    Scenario("card_refresh", _card_refresh, seed=_seed_event),
    # issue 25: 50 CoPs with FAQ entries of their own, more than COPBOT_FAQ_INDEX_MB holds; in a bot of its own
    Scenario(
        "faq_cops",
        _faq_cops,
        setup=_install_faq_cops,
        concurrency=(20,),
        total=400,
        storage="azurite",
        seed=_seed_faq_cops,
        fresh=True,
        check=_faq_cops_check,
    ),
    # DESIGN §6 / issue 10: 200 concurrent users on Azurite; ~3,000 activities ≈ a minute at Azurite's pace
    Scenario(
        "mixed_load",
        _mixed,
        setup=_install_mixed,
        concurrency=(200,),
        total=3000,
        storage="azurite",
        seed=_seed_mixed_faq,
        check=_mixed_check,
    ),
)
