"""The programme's practice areas: how the programme groups its CoPs (about ten), a setting the programme admins
manage (table ``programme``, partition ``settings``, row ``practice_areas``: the list as JSON, changed with its
ETag). A CoP names its area by id (``Cop.practice_area_id``), so renaming an area touches one row; an area
can be removed only while no CoP and no open proposal names it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.domain.codec import dumps, loads
from bot.domain.cops import Cop
from bot.domain.validation import BadInput, clean_text
from storage.base import AlreadyExists, NotFound, PreconditionFailed, TableStore

TABLE = "programme"
PARTITION = "settings"
ROW = "practice_areas"
NAME_MAX = 80
AREAS_MAX = 30
UNSET = "Not set"


@dataclass(frozen=True)
class PracticeArea:
    area_id: str
    name: str


def _load(text: object) -> list[PracticeArea]:
    out: list[PracticeArea] = []
    for item in loads(text, []):
        if isinstance(item, dict) and isinstance(item.get("id"), str) and isinstance(item.get("name"), str):
            out.append(PracticeArea(item["id"], item["name"]))
    return out


def clean_name(value: object, areas: Sequence[PracticeArea], *, keep: str = "") -> str:
    name = " ".join(clean_text(value, "Practice area name", NAME_MAX, required=True).split())
    if any(a.name.lower() == name.lower() and a.area_id != keep for a in areas):
        raise BadInput(f"There is already a practice area called {name}.")
    return name


def area_name(cop: Cop, areas: Iterable[PracticeArea]) -> str:
    """The CoP's practice area as shown: the programme's area, else what was typed before the list existed."""
    if cop.practice_area_id:
        found = next((a.name for a in areas if a.area_id == cop.practice_area_id), "")
        if found:
            return found
    return cop.practice_area.strip()


class PracticeAreaRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def all(self) -> list[PracticeArea]:
        try:
            row = await self._store.get(TABLE, PARTITION, ROW)
        except NotFound:
            return []
        return sorted(_load(row.get("areas")), key=lambda a: a.name.lower())

    async def _change(self, edit: Callable[[list[PracticeArea]], list[PracticeArea]]) -> list[PracticeArea]:
        for _ in range(5):
            try:
                row = await self._store.get(TABLE, PARTITION, ROW)
                current, etag = _load(row.get("areas")), row.etag
            except NotFound:
                current, etag = [], None
            changed = edit(current)
            data = {"areas": dumps([{"id": a.area_id, "name": a.name} for a in changed])}
            try:
                if etag is None:
                    await self._store.insert(TABLE, PARTITION, ROW, data)
                else:
                    await self._store.update(TABLE, PARTITION, ROW, data, etag=etag)
            except (PreconditionFailed, AlreadyExists, NotFound):
                continue
            return sorted(changed, key=lambda a: a.name.lower())
        raise PreconditionFailed("the practice areas kept changing")

    async def add(self, name: object) -> PracticeArea:
        made: list[PracticeArea] = []

        def edit(areas: list[PracticeArea]) -> list[PracticeArea]:
            if len(areas) >= AREAS_MAX:
                raise BadInput(f"The programme has {len(areas)} practice areas already, the most I keep.")
            area = PracticeArea(secrets.token_hex(4), clean_name(name, areas))
            made[:] = [area]
            return [*areas, area]

        await self._change(edit)
        return made[0]

    async def rename(self, area_id: str, name: object) -> PracticeArea:
        def edit(areas: list[PracticeArea]) -> list[PracticeArea]:
            if not any(a.area_id == area_id for a in areas):
                raise BadInput("That practice area no longer exists.")
            new = clean_name(name, areas, keep=area_id)
            return [PracticeArea(a.area_id, new) if a.area_id == area_id else a for a in areas]

        areas = await self._change(edit)
        return next(a for a in areas if a.area_id == area_id)

    async def remove(self, area_id: str, in_use: Callable[[str], bool]) -> PracticeArea:
        """Remove an area no CoP or proposal uses (``in_use`` says; raises BadInput otherwise)."""
        gone: list[PracticeArea] = []

        def edit(areas: list[PracticeArea]) -> list[PracticeArea]:
            found = next((a for a in areas if a.area_id == area_id), None)
            if found is None:
                raise BadInput("That practice area no longer exists.")
            if in_use(area_id):
                raise BadInput(f"{found.name} is still used by a CoP or a proposal; move them to another area first.")
            gone[:] = [found]
            return [a for a in areas if a.area_id != area_id]

        await self._change(edit)
        return gone[0]


# -- the programme view's roll-up by practice area ------------------------------------------------------------
class _Row(Protocol):
    """What the roll-up reads of a programme row (bot/health/summary.py)."""

    @property
    def cop_id(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def core(self) -> int: ...
    @property
    def wider(self) -> int: ...
    @property
    def events_term(self) -> int | None: ...
    @property
    def lunch_and_learns_term(self) -> int | None: ...
    @property
    def open_queries(self) -> int | None: ...
    @property
    def ratings(self) -> tuple[tuple[str, str], ...]: ...


@dataclass(frozen=True)
class AreaRollup:
    name: str
    cops: int
    launched: int
    core: int
    wider: int
    events_term: int
    lunch_and_learns_term: int
    open_queries: int
    red: int  # health areas rated red, over the area's CoPs


def roll_up(rows: Sequence[_Row], area_of: Mapping[str, str]) -> list[AreaRollup]:
    """One line per practice area (``area_of``: CoP id -> area name; CoPs without one under "Not set", last)."""
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        groups.setdefault(area_of.get(row.cop_id) or UNSET, []).append(row)
    out = [
        AreaRollup(
            name=name,
            cops=len(group),
            launched=sum(1 for r in group if r.status == "launched"),
            core=sum(r.core for r in group),
            wider=sum(r.wider for r in group),
            events_term=sum(r.events_term or 0 for r in group),
            lunch_and_learns_term=sum(r.lunch_and_learns_term or 0 for r in group),
            open_queries=sum(r.open_queries or 0 for r in group),
            red=sum(1 for r in group for _, rating in r.ratings if rating == "red"),
        )
        for name, group in groups.items()
    ]
    return sorted(out, key=lambda a: (a.name == UNSET, a.name.lower()))
