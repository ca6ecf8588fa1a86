"""A programme with known figures for the report's tests: three CoPs, a sponsor of two, leads, members in two CoPs,
Lunch and Learns announced and recorded, projects, questions, digests and a survey round whose per-CoP figures
the disclosure rule holds back.

DATA (leads Alice and Bo, sponsor Eve): 10 memberships (3 core); FIN (lead Cy, sponsor Eve): 5 memberships, one of
them a DATA member; OTHER (lead Dee, no sponsor, a formula for a name): 3 memberships. So the programme has 17 people
in 18 memberships, Eve's two CoPs 14 people in 15, Alice's CoP 10 in 10.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from bot.domain.projects import Outcome, Project, ProjectRepo, new_project_id
from bot.domain.records import Record, RecordRepo, new_id, noon
from bot.domain.survey import STATEMENT_KEYS, Survey, SurveyRepo, new_round_id, survey_id_for
from bot.jobs.outbox import PARTITION, TABLE
from storage.base import encode_key
from tests.features.health.kit import ADMIN, NOW, Cast, add_event, add_query, join, make_cop
from tests.kit.activities import team, user
from tests.kit.harness import BotUnderTest
from tests.kit.records import ref

C = Cast()
ALICE, BO, CY = C.leads
DEE = user(4, "Dee Dunn")
EVE = C.sponsor
MEMBER = Cast.member(1)
DATA = team(1, "Data and Insight")
FIN = team(2, "Finance")
OTHER = team(3)
OTHER_NAME = '=HYPERLINK("http://evil")'
__all__ = ["ADMIN", "ALICE", "CY", "DATA", "DEE", "EVE", "FIN", "MEMBER", "NOW", "OTHER", "build", "local_path"]


async def build(bot: BotUnderTest) -> None:
    store = bot.services.store
    url = bot.connector.url
    await make_cop(store, url, DATA, NOW, leads=[ALICE, BO], sponsor=EVE, terms_of_reference="https://t")
    await make_cop(store, url, FIN, NOW, leads=[CY], sponsor=EVE)
    await make_cop(store, url, OTHER, NOW, leads=[DEE], name=OTHER_NAME)
    summer = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
    await join(store, DATA, {Cast.member(i): ("core" if i < 3 else "wider", "central") for i in range(8)}, summer)
    await join(store, DATA, {Cast.member(i): ("wider", "faculty") for i in range(8, 10)}, NOW - timedelta(days=10))
    await join(store, FIN, {Cast.member(20 + i): ("core", "vpo") for i in range(4)}, NOW - timedelta(days=5))
    await join(store, FIN, {Cast.member(5): ("wider", "central")}, NOW - timedelta(days=5))
    autumn_2025 = datetime(2025, 10, 15, 9, 0, tzinfo=UTC)
    await join(store, OTHER, {Cast.member(30 + i): ("wider", "other") for i in range(3)}, autumn_2025)
    await add_event(store, DATA, "lunch_and_learn", datetime(2026, 10, 14, 12, 0, tzinfo=UTC), lead=ALICE)
    await add_event(store, DATA, "workshop", datetime(2026, 11, 2, 12, 0, tzinfo=UTC), lead=ALICE)
    await add_event(store, FIN, "lunch_and_learn", datetime(2026, 11, 10, 12, 0, tzinfo=UTC), lead=CY)
    day = date(2026, 2, 10)
    tz = bot.services.settings.tz
    await RecordRepo(store).add(
        Record(new_id(), OTHER.id, "lunch_and_learn", day, noon(day, tz), "Spreadsheets", 12, (), "", ref(DEE), NOW)
    )
    outcome = Outcome("Reports take a day less", "Finance teams", "", (), NOW - timedelta(days=3))
    projects = ProjectRepo(store)
    await projects.create(Project(DATA.id, new_project_id(), "Dashboards", status="finished", outcome=outcome))
    await projects.create(Project(DATA.id, new_project_id(), "Data catalogue", status="running"))
    await add_query(store, DATA, Cast.member(1), NOW - timedelta(hours=5), responder=ALICE, after=timedelta(hours=2))
    await add_query(store, FIN, Cast.member(20), NOW - timedelta(hours=3))
    for key, cop, status in (
        (f"digest|{DATA.id}|2026-W47", DATA.id, "sent"),
        (f"digest|{FIN.id}|2026-W47", FIN.id, "dead"),
        (f"digest-preview|{DATA.id}|x|y", DATA.id, "sent"),  # a lead's preview, not a digest anyone received
    ):
        await store.insert(TABLE, PARTITION, encode_key(key), {"key": key, "status": status, "cop_id": cop})
    await survey_round(bot)


async def survey_round(bot: BotUnderTest) -> None:
    """A programme-wide round: DATA 6 answers (4 agree), FIN 2 (1 agree), OTHER none. FIN and OTHER are under the
    minimum of 5, so DATA is held back as their complement: only the total (8 answers, 5 agree) may be shown."""
    store = bot.services.store
    repo = SurveyRepo(store)
    started = NOW - timedelta(days=2)
    round_id = new_round_id(started)
    surveys = {}
    for where, name in ((DATA, DATA.name), (FIN, FIN.name), (OTHER, OTHER_NAME)):
        survey = Survey(
            survey_id_for(round_id, where.id),
            round_id,
            where.id,
            name,
            started,
            NOW + timedelta(days=12),
            NOW + timedelta(days=9),
            scope="programme",
        )
        surveys[where.id] = await repo.open(survey)
    key = bot.services.settings.marker_key
    agree = dict.fromkeys(STATEMENT_KEYS, 5)
    disagree = dict.fromkeys(STATEMENT_KEYS, 2)
    for i in range(6):
        answers = agree if i < 4 else disagree
        await repo.answer(key, [surveys[DATA.id]], Cast.member(i).aad, answers, started + timedelta(hours=i + 1))
    for i, answers in enumerate((agree, disagree)):
        await repo.answer(key, [surveys[FIN.id]], Cast.member(20 + i).aad, answers, started + timedelta(hours=9))


def local_path(url: str) -> str:
    """A link the bot made (on its public URL), as a path on the test server."""
    return re.sub(r"^https?://[^/]+", "", url)
