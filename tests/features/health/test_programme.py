"""``programme`` end to end: every CoP side by side with totals, the CSV behind a signed link (formula-safe),
admins only."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

from bot.features import health as health_feature
from bot.features.programme import safe_cell
from bot.health import digest, snapshots
from bot.jobs.background import settle_background as settle
from tests.features.health.kit import ADMIN, NOW, Cast, add_event, add_query, join, make_cop
from tests.kit.activities import team
from tests.kit.harness import BotUnderTest

C = Cast()
ALICE, BO, CY = C.leads
DATA = team(1, "Data and Insight")
FIN = team(2, "Finance")
EVIL = team(3)


async def build(bot: BotUnderTest) -> None:
    store = bot.services.store
    url = bot.connector.url
    await make_cop(store, url, DATA, NOW, leads=[ALICE, BO], sponsor=C.sponsor, terms_of_reference="https://t")
    await make_cop(store, url, FIN, NOW, leads=[CY])
    await make_cop(store, url, EVIL, NOW, leads=[CY], name='=HYPERLINK("http://evil")')
    old = NOW - timedelta(days=120)
    await join(store, DATA, {Cast.member(i): ("core" if i < 3 else "wider", "central") for i in range(8)}, old)
    await join(store, DATA, {Cast.member(i): ("wider", "faculty") for i in range(8, 10)}, NOW - timedelta(days=10))
    await join(store, FIN, {Cast.member(20 + i): ("core", "vpo") for i in range(4)}, NOW - timedelta(days=5))
    await add_event(store, DATA, "lunch_and_learn", datetime(2026, 10, 14, 12, 0, tzinfo=NOW.tzinfo), lead=ALICE)
    await add_event(store, DATA, "workshop", datetime(2026, 11, 2, 12, 0, tzinfo=NOW.tzinfo), lead=ALICE)
    await add_event(store, FIN, "lunch_and_learn", datetime(2026, 11, 10, 12, 0, tzinfo=NOW.tzinfo), lead=CY)
    await add_query(store, DATA, Cast.member(1), NOW - timedelta(hours=5), responder=ALICE, after=timedelta(hours=2))
    await add_query(store, DATA, Cast.member(1), NOW - timedelta(hours=60))
    await add_query(store, FIN, Cast.member(20), NOW - timedelta(hours=3))


async def test_admin_sees_every_cop_side_by_side_with_totals(bot: BotUnderTest) -> None:
    await build(bot)
    posted = await bot.say(ADMIN, "programme")
    assert posted.status in (200, 201)
    text = posted.calls[0].card_text
    assert "Programme: 3 CoPs" in text
    assert "14 memberships (7 core, 7 wider), +6 in 90 days" in text
    assert "3 events and 2 Lunch and Learns in Autumn 2026" in text
    assert "3 open questions" in text
    assert "3 core / 7 wider (+2 in 90 days)" in text  # Data and Insight
    assert "4 core / 0 wider (+4 in 90 days)" in text  # Finance
    assert "2 events, 1 Lunch and Learns" in text
    assert "2 open, median first response 2 h" in text
    assert "HYPERLINK" in text  # shown as text (escaped), never as a link


async def test_programme_csv_has_the_same_figures_and_is_formula_safe(bot: BotUnderTest) -> None:
    await build(bot)
    posted = await bot.say(ADMIN, "programme")
    card = posted.calls[0].card
    assert card is not None
    [url] = [a["url"] for a in card.get("actions", []) if a.get("title") == "Download CSV"]
    status, body, headers = await bot.get(re.sub(r"^https?://[^/]+", "", url))
    assert status == 200
    assert headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    by_name = {r["CoP"]: r for r in rows}
    assert set(by_name) == {"Data and Insight", "Finance", '\'=HYPERLINK("http://evil")'}
    data = by_name["Data and Insight"]
    assert (data["Core members"], data["Wider members"], data["Net growth 90 days"]) == ("3", "7", "2")
    assert (data["Events this term"], data["Lunch and Learns this term"], data["Open questions"]) == ("2", "1", "2")
    assert data["Median first response (hours)"] == "2.0"
    assert data["Purpose"] == "amber"  # terms of reference but no objectives
    assert sum(int(r["Core members"]) for r in rows) == 7
    assert sum(int(r["Wider members"]) for r in rows) == 7


def test_formula_cells_are_neutralised() -> None:
    for risky in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert safe_cell(risky) == "'" + risky
    assert safe_cell("Data") == "Data"
    assert safe_cell(None) == ""


async def test_only_programme_admins_may_see_the_programme(bot: BotUnderTest) -> None:
    await build(bot)
    lead = await bot.say_in(ALICE, DATA, "programme")
    assert "only programme admins" in lead.everything
    assert "Programme:" not in lead.everything
    sponsor = await bot.say(C.sponsor, "programme")
    assert "Programme:" not in sponsor.everything
    forged = await bot.get("/files/not-a-real-token")
    assert forged[0] == 404


async def test_programme_with_no_cops_says_so(bot: BotUnderTest) -> None:
    posted = await bot.say(ADMIN, "programme")
    text = posted.calls[0].card_text
    assert "Programme: 0 CoPs" in text
    assert "No CoPs yet" in text


async def test_programme_rows_follow_a_write_at_once(bot: BotUnderTest) -> None:
    """The rows come from each CoP's indicator snapshot; a join marks Finance's stale, so the next view recounts
    it (the other CoPs' snapshots are used as stored) and the snapshot is stored again."""
    await build(bot)
    first = await bot.say(ADMIN, "programme")
    assert "4 core / 0 wider" in first.calls[0].card_text
    await settle(bot.services)
    stored = await snapshots.read_all(bot.services.store)
    assert all(s.current for s in stored.values())
    assert len(stored) == 3
    await join(bot.services.store, FIN, {Cast.member(30 + i): ("wider", "vpo") for i in range(5)}, NOW)
    fresh = await bot.say(ADMIN, "programme")
    assert "4 core / 5 wider" in fresh.calls[0].card_text
    await settle(bot.services)
    again = await bot.say(ADMIN, "programme")
    assert "4 core / 5 wider" in again.calls[0].card_text
    assert all(s.current for s in (await snapshots.read_all(bot.services.store)).values())


async def test_the_daily_health_pass_refreshes_every_snapshot(bot: BotUnderTest) -> None:
    await build(bot)
    assert await health_feature.run_due(bot.services, NOW) == 3
    stored = await snapshots.read_all(bot.services.store)
    assert len(stored) == 3
    assert {s.made_at for s in stored.values()} == {NOW}
    for s in stored.values():  # counts, times and pseudonyms only
        assert s.digest is not None
        assert "aad-" not in str(digest.to_json(s.digest))
    # the minute tick after it finds nothing stale
    assert await health_feature.run_due(bot.services, NOW + timedelta(minutes=1)) == 0
