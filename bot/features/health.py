"""``health``: the CoP's scorecard over the CoP health framework's seven areas, for its leads, its sponsor and
programme admins.

Also keeps what the scorecard needs over time: a daily trend point per CoP (written when the scorecard is shown
and by :func:`run_due`, the scheduler's daily job, which also refreshes the programme summary rows) and
pseudonymous "contributed on this day" markers from channel messages.

The trend picture behind the card's link is drawn in pure Python (tens of milliseconds): on a worker thread, once
per CoP and day (:class:`TrendCharts`), and each link is rate limited (:data:`CHART_RATE`), so a link that
travels (it is a bearer link for a month) cannot keep the event loop busy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.turn import Card, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.survey import SurveyRepo
from bot.health import history, snapshots
from bot.health.chart import describe, trend_png
from bot.health.engine import Scorecard, scorecard
from bot.health.providers import TREND_DAYS
from bot.health.snapshot import CopSnapshot, TrendPoint
from bot.health.thresholds import DEFAULT_THRESHOLDS
from bot.jobs.leases import run_once
from bot.jobs.scheduler import leases_of
from bot.routing.router import Router, Turn, retrieved
from bot.security.links import Download, Links, Rate
from bot.security.privacy import PrivacyRegistry
from bot.security.report_links import report_link
from cards.health import choose_cop_card, health_card
from storage.base import StorageError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

CHART_KIND = "health.trend.png"
DAILY_JOB = "health-daily"
CHART_TTL = timedelta(days=30)  # the picture holds counts only; a month keeps cards in chat history readable
# per link: a channel full of people opening the card at once, then one a second; beyond that 429 + Retry-After
CHART_RATE = Rate(burst=20, per_second=1.0)
CHART_CACHE_SIZE = 48  # pictures kept (one per CoP for the day): a few dozen CoPs per tenant
CHART_CLIENT_CACHE_S = 3600  # counts only, no personal data: clients may keep the picture for an hour
NO_COP = "Which CoP? Use **health** in the CoP's channel, or ask me in a personal chat if you lead or sponsor one CoP."
UNKNOWN_COP = "I don't know that CoP any more (was the app removed from its team?)."


class TrendCharts:
    """Trend pictures drawn today, per CoP: drawn on a worker thread, once per CoP and day in the display time zone
    (the cache is emptied when that day changes), the most recently used kept. A picture is only reused for the
    same points, so a trend point written later in the day is drawn too; concurrent requests share one drawing."""

    def __init__(self, size: int = CHART_CACHE_SIZE) -> None:
        self._size = size
        self._day = ""
        self._drawn: OrderedDict[str, tuple[tuple[TrendPoint, ...], bytes]] = OrderedDict()
        self._drawing: dict[tuple[str, str, tuple[TrendPoint, ...]], asyncio.Future[bytes]] = {}

    async def png(self, cop_id: str, day: str, points: Sequence[TrendPoint]) -> bytes:
        trend = tuple(points)
        if day != self._day:
            self._drawn.clear()
            self._day = day
        drawn = self._drawn.get(cop_id)
        if drawn is not None and drawn[0] == trend:
            self._drawn.move_to_end(cop_id)
            return drawn[1]
        key = (cop_id, day, trend)
        drawing = self._drawing.get(key)
        if drawing is None:
            drawing = asyncio.ensure_future(asyncio.to_thread(trend_png, trend))
            self._drawing[key] = drawing
            drawing.add_done_callback(lambda _: self._drawing.pop(key, None))
        png = await asyncio.shield(drawing)  # one request giving up does not cancel the others' picture
        if day == self._day:
            self._drawn[cop_id] = (trend, png)
            self._drawn.move_to_end(cop_id)
            while len(self._drawn) > self._size:
                self._drawn.popitem(last=False)
        return png


AHEAD = "health.snapshot"  # Turn.ahead: the scorecard's reads, started as the activity arrived (read_ahead)


def read_ahead(turn: Turn, _args: str) -> None:
    """``health``'s early start (Router.command(early=...)): the scorecard's reads (its snapshot and the channel
    contributions since, bot/health/snapshots.py) begin while the redelivery claim and the role check run, one
    round trip sooner. Only in a CoP's channel whose row this process holds, and only for a caller that row shows
    may see the scorecard (an admin, a lead or the sponsor), so nobody else can make the bot read (or recount)."""
    services = turn.services
    cop_id = turn.request.place.team_id
    cop = cop_repo(services).peek(cop_id) if cop_id else None
    me = turn.request.person.aad_id
    if cop is None or not me or not (me in services.settings.programme_admins or cop.is_lead(me) or cop.is_sponsor(me)):
        return
    started = asyncio.ensure_future(compute(services, cop, services.clock.now()))
    started.add_done_callback(retrieved)  # a duplicate or refused turn never picks it up
    turn.ahead[AHEAD] = started


async def compute(services: Services, cop: Cop, now: datetime | None = None) -> tuple[Scorecard, CopSnapshot, Cop]:
    now = now or services.clock.now()
    snapshot = await snapshots.scorecard_snapshot(services, cop, now)
    tz = ZoneInfo(cop.timezone or "Europe/London")
    return scorecard(snapshot, now, DEFAULT_THRESHOLDS, tz), snapshot, cop


async def build_card(
    services: Services,
    links: Links,
    cop: Cop,
    viewer: tuple[str, Role] | None = None,
    ahead: asyncio.Future[Any] | None = None,
) -> Card:
    """The scorecard; with ``viewer`` (AAD id, role), a signed link to the report for a lead, sponsor or admin.
    ``ahead``: :func:`read_ahead`'s reads, used when they were of this CoP's row as the turn read it."""
    computed = None
    if ahead is not None:
        try:
            computed = await ahead
        except StorageError as error:  # read again below: it may have been a passing fault
            log.info("health read ahead failed cop_id=%s (%s)", cop.cop_id, type(error).__name__)
    if computed is None or computed[2] != cop:
        computed = await compute(services, cop)
    sc, snapshot, _ = computed
    url = links.link(services, CHART_KIND, {"cop": cop.cop_id}, CHART_TTL) if snapshot.trend else None
    tz = ZoneInfo(cop.timezone or "Europe/London")
    report_url = None
    if viewer is not None and viewer[0] and viewer[1] >= Role.SPONSOR:
        role = "admin" if viewer[1] >= Role.ADMIN else "lead" if viewer[1] >= Role.LEAD else "sponsor"
        report_url = report_link(services, viewer[0], role)
    return health_card(sc, chart_url=url, chart_alt=describe(snapshot.trend), tz=tz, report_url=report_url)


async def daily_pass(services: Services, now: datetime) -> int:
    """Every active CoP recounted: its indicator snapshot stored afresh with today's trend point
    (bot/health/snapshots.py), and contribution markers past the window dropped. Returns the CoPs done."""
    done = 0
    cops = await cop_repo(services).all()
    surveys = await SurveyRepo(services.store).all() if cops else []
    for cop in cops:
        try:
            await snapshots.refresh(services, cop, now, surveys)
            await history.prune_contributions(services.store, cop.cop_id, now)
            done += 1
        except Exception:
            log.exception("health daily pass failed cop_id=%s", cop.cop_id)
    return done


async def run_due(services: Services, now: datetime) -> int:
    """The scheduler's minute tick: the daily pass once a day (local date) across all instances; on the other
    minutes, the snapshots marked stale since (or older than an hour) are refreshed."""
    day = history.day_key(now, services.settings.tz)
    done: list[int] = []

    async def work() -> None:
        done.append(await daily_pass(services, now))

    await run_once(leases_of(services), DAILY_JOB, "all", day, now, work, ttl=timedelta(minutes=30))
    if not done:
        done.append(await snapshots.refresh_stale(services, await cop_repo(services).all(), now))
    return sum(done)


def register(router: Router, links: Links, privacy: PrivacyRegistry) -> None:
    @router.command("health", help="The CoP's health scorecard (seven areas)", role=Role.SPONSOR, early=read_ahead)
    async def show_health(turn: Turn) -> None:
        cop = await turn.load_cop()
        if cop is None:
            if turn.request.place.is_personal:
                cops = await cop_repo(turn.services).all()
                me = turn.request.person.aad_id
                mine = cops if turn.role >= Role.ADMIN else [c for c in cops if c.is_lead(me) or c.is_sponsor(me)]
                if mine:
                    await turn.respond.reply(choose_cop_card((c.cop_id, c.name) for c in mine))
                    return
            await turn.respond.reply(NO_COP if turn.cop_id is None else UNKNOWN_COP)
            return
        log.info("health cop_id=%s activity_id=%s", cop.cop_id, turn.request.activity_id)
        viewer = (turn.request.person.aad_id, turn.role)
        await turn.respond.reply(await build_card(turn.services, links, cop, viewer, turn.ahead.get(AHEAD)))

    @router.action("health.show", role=Role.SPONSOR)
    async def refresh_health(turn: Turn) -> None:
        cop = await turn.load_cop()
        if cop is None:
            await turn.tell(UNKNOWN_COP)
            return
        card = await build_card(turn.services, links, cop, (turn.request.person.aad_id, turn.role))
        if turn.request.kind == "action":
            turn.respond.answer_action(card)
        else:
            await turn.respond.reply(card)

    @router.on("channel_message")
    async def note_contribution(turn: Turn) -> None:
        person = turn.request.person
        if turn.cop_id and person.aad_id and turn.cop is not None:
            services = turn.services
            await history.record_contribution(
                services.store, services.settings.signing_key, turn.cop_id, person.aad_id, services.clock.now()
            )

    charts = TrendCharts()

    @links.producer(CHART_KIND, rate=CHART_RATE)
    async def chart(services: Services, params: Mapping[str, Any]) -> Download | None:
        cop_id = params.get("cop")
        if not isinstance(cop_id, str) or not cop_id:
            return None
        tz = ZoneInfo(services.settings.default_timezone)
        now = services.clock.now()
        since = history.day_key(now - timedelta(days=TREND_DAYS), tz)
        points = await history.trend(services.store, cop_id, since)
        if not points:
            return None
        png = await charts.png(cop_id, history.day_key(now, tz), points)
        return Download("image/png", "health-trend.png", png, cache_seconds=CHART_CLIENT_CACHE_S)

    async def export(services: Services, aad_id: str) -> Any:
        days = await history.export_contributions(services.store, services.settings.signing_key, aad_id)
        return {"days_you_posted_in_a_cop_channel": days} if days else None

    async def erase(services: Services, aad_id: str) -> None:
        await history.erase_contributions(services.store, services.settings.signing_key, aad_id)
        # after the contributions: a snapshot recounted in between would take them in again
        await snapshots.forget_person(services.store, services.settings.signing_key, aad_id)

    privacy.register("health.contributions", export, erase)
