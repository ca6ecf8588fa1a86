"""Personal-data registry: each feature says how to export and erase what it stores about a person.

``my data`` calls every exporter; ``forget me`` calls every eraser. A feature that stores anything keyed by or
naming a person MUST register here (see features' ``register``), so no table is forgotten.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.services import Services

Exporter = Callable[["Services", str], Awaitable[Any]]  # (services, aad_id) -> JSON-able data
Eraser = Callable[["Services", str], Awaitable[None]]  # (services, aad_id) -> erase / anonymise


@dataclass(frozen=True)
class DataSource:
    name: str
    export: Exporter
    erase: Eraser


class PrivacyRegistry:
    def __init__(self) -> None:
        self._sources: dict[str, DataSource] = {}

    def register(self, name: str, export: Exporter, erase: Eraser) -> None:
        if name in self._sources:
            raise ValueError(f"personal data source {name!r} registered twice")
        self._sources[name] = DataSource(name, export, erase)

    @property
    def sources(self) -> list[DataSource]:
        return list(self._sources.values())
