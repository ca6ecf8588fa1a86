"""Since when each CoP has been red in each health area (table ``healthred``, one partition per CoP, one row per
area title holding the day the area was first seen red). The weekly programme note updates it: an area seen red
keeps its first day, an area seen any other colour loses its row. So "red for a whole term" means seen red at every
weekly check since before a term that has ended began (a week without a check does not break the streak; a CoP
first checked in the middle of a term qualifies from the next whole term).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.health.terms import Term
from storage.base import NotFound, TableStore, encode_key

TABLE = "healthred"


async def update(
    store: TableStore, cop_id: str, ratings: Sequence[tuple[str, str]], now: datetime
) -> dict[str, datetime]:
    """Record this check's ratings (area title, rating) and return {area title: red since} for the red ones."""
    pk = encode_key(cop_id)
    known = {row.row_key: row for row in await store.query(TABLE, pk)}
    out: dict[str, datetime] = {}
    for title, rating in ratings:
        key = encode_key(title)
        row = known.get(key)
        if rating == "red":
            if row is None:
                await store.upsert(TABLE, pk, key, {"area": title, "since": now})
                out[title] = now
            else:
                out[title] = row["since"]  # type: ignore[assignment]
        elif row is not None:
            with contextlib.suppress(NotFound):  # another instance's check removed it first
                await store.delete(TABLE, pk, key)
    return out


async def current(store: TableStore, cop_id: str, red_now: Sequence[str]) -> dict[str, datetime]:
    """{area title: red since} for the areas red now whose streak is recorded (without recording this look)."""
    rows = await store.query(TABLE, encode_key(cop_id))
    known = {str(row.get("area", "")): row["since"] for row in rows}
    return {title: known[title] for title in red_now if isinstance(known.get(title), datetime)}  # type: ignore[misc]


def red_whole_term(since: Mapping[str, datetime], terms: Sequence[Term], now: datetime, tz: ZoneInfo) -> list[str]:
    """The areas red since before a term that has ended (by ``now``) began."""
    ended = [t for t in terms if t.end(tz) <= now]
    return sorted(title for title, first in since.items() if any(first <= t.start(tz) for t in ended))
