"""The long-lived collaborators a handler may use, built once per app by ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.answers.ranker import Encoder
from bot.core.clock import Clock
from bot.core.config import Settings
from bot.core.turn import Proactive
from bot.domain.cops import CopCache
from bot.jobs.background import Background
from bot.jobs.outbox import Outbox
from bot.routing.router import Router
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.security.signing import Signer
from storage.base import TableStore


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
    # capability-specific singletons (caches, indexes, outbox, scheduler) keyed by feature name
    extras: dict[str, Any] = field(default_factory=dict)
