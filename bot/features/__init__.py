"""One module per capability. Each exposes ``register(router, links, privacy)``; the order here is the order
of help. ``links`` registers download kinds, ``privacy`` the feature's personal-data exporter and eraser."""

from __future__ import annotations

import importlib

from bot.jobs.scheduler import DueWork
from bot.routing.roles import resolve_role
from bot.routing.router import Router
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry

FEATURES: tuple[str, ...] = (
    "bot.features.help",
    "bot.features.membership",
    "bot.features.setup",
    "bot.features.directory",
    "bot.features.events",
    "bot.features.compose_search",
    "bot.features.projects",
    "bot.features.resources",
    "bot.features.faq",
    "bot.features.faq_manage",
    "bot.features.queries",
    "bot.features.digest",
    "bot.features.delivery_report",
    "bot.features.governance",
    "bot.features.records",
    "bot.features.practice_areas",
    "bot.features.proposals",
    "bot.features.health",
    "bot.features.survey",
    "bot.features.programme",
    "bot.features.programme_note",
    "bot.features.audit",
    "bot.features.imports",
    "bot.features.invitations",
    "bot.features.privacy",
)


def build_router(links: Links | None = None, privacy: PrivacyRegistry | None = None) -> Router:
    """A router with every feature's commands, actions and events registered (and their download kinds)."""
    links = links if links is not None else Links()
    privacy = privacy if privacy is not None else PrivacyRegistry()
    router = Router()
    router.set_role_resolver(resolve_role)
    for name in FEATURES:
        importlib.import_module(name).register(router, links, privacy)
    return router


def build_due_work() -> DueWork:
    """Every feature's scheduled work: each module's ``async def run_due(services, now)``, under its name."""
    registry = DueWork()
    for name in FEATURES:
        function = getattr(importlib.import_module(name), "run_due", None)
        if callable(function):
            registry.add(name.rsplit(".", 1)[-1], function)
    return registry
