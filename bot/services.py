"""The long-lived collaborators a handler may use, built once per app by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.answers.ranker import Encoder
from bot.core.clock import Clock
from bot.core.config import Settings
from bot.core.turn import Proactive
from bot.domain.cops import CopCache
from bot.jobs.background import Background
from bot.jobs.leases import PeriodsDone
from bot.jobs.outbox import Outbox
from bot.jobs.scheduler import DueWork
from bot.routing.router import Router
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.security.signing import Signer
from storage.base import TableStore

if TYPE_CHECKING:  # the modules below use Services themselves: they fill their field on first use
    from bot.core.expiring import ExpiringCopies
    from bot.domain.faq_indexes import FaqIndexes
    from bot.domain.projects import Project
    from bot.domain.resources import Resource
    from bot.features.event_notices import EventsRuntime
    from bot.health.providers import Sources
    from bot.jobs.leases import Leases
    from bot.jobs.scheduler import Scheduler


@dataclass
class Services:
    settings: Settings
    store: TableStore
    clock: Clock
    signer: Signer
    router: Router
    proactive: Proactive
    outbox: Outbox
    links: Links
    privacy: PrivacyRegistry
    # this process's short-lived copies of CoP rows for role resolution (COPBOT_COP_CACHE_SECONDS; 0 = off)
    cop_cache: CopCache = field(default_factory=CopCache)
    # the sentence encoder of the FAQ ranker; None: BM25 alone (no model directory, or it failed to load)
    encoder: Encoder | None = None
    # work the turns started and did not wait for (imports, invitation runs, Teams meetings, press counts)
    background: Background = field(default_factory=Background)
    # every feature's scheduled work (bot/features/__init__.py: build_due_work); the scheduler runs it each tick
    due_work: DueWork = field(default_factory=DueWork)
    # the latest period each scheduled job finished on this instance (saves a lease read per tick)
    periods_done: PeriodsDone = field(default_factory=PeriodsDone)

    # Made on first use by the module named (None until then); each is this process's own, never shared.
    leases: Leases | None = None  # bot/jobs/scheduler.py: this instance's lease owner
    scheduler: Scheduler | None = None  # bot/jobs/scheduler.py: running while the app is (COPBOT_SCHEDULER)
    faq_indexes: FaqIndexes | None = None  # bot/features/faq.py: each CoP's FAQ index, rebuilt on change
    events: EventsRuntime | None = None  # bot/features/events.py: RSVP queues and card refreshes in flight
    resource_copies: ExpiringCopies[list[Resource]] | None = None  # bot/features/resources.py
    project_copies: ExpiringCopies[list[Project]] | None = None  # bot/features/projects.py
    # where the health scorecard reads its facts (bot/health/providers.py); a test may supply its own
    health_sources: Sources | None = None
