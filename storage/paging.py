"""Reading a big table or partition page by page, each page its own storage call (so its own deadline), behind a
cursor that can be saved and resumed later.

A single ``query()`` without a limit reads every page under one operation deadline, so past some size it always
fails. :func:`pages` asks for ``page_size`` rows at a time after a ``(PartitionKey, RowKey)`` cursor; a caller
that has to stop (its time is up, storage went away) keeps the cursor of the last page it finished and starts
there next time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from storage.base import Row, TableStore, Where

PAGE_SIZE = 500
_SEP = "\x1f"  # never in a key (control characters are refused), so it splits a cursor unambiguously


@dataclass(frozen=True)
class Cursor:
    """The last row read: the next page starts after it. The empty cursor starts at the beginning."""

    partition_key: str = ""
    row_key: str = ""

    def __bool__(self) -> bool:
        return bool(self.partition_key or self.row_key)

    def dump(self) -> str:
        return f"{self.partition_key}{_SEP}{self.row_key}" if self else ""

    @classmethod
    def load(cls, text: object) -> Cursor:
        if not isinstance(text, str) or _SEP not in text:
            return cls()
        partition_key, _, row_key = text.partition(_SEP)
        return cls(partition_key, row_key)

    @classmethod
    def after(cls, row: Row) -> Cursor:
        return cls(row.partition_key, row.row_key)


async def pages(
    store: TableStore,
    table: str,
    partition_key: str | None,
    where: Sequence[Where] = (),
    *,
    start: Cursor = Cursor(),
    page_size: int = PAGE_SIZE,
) -> AsyncIterator[tuple[list[Row], Cursor]]:
    """Pages of the rows matching ``where`` (in one partition, or the whole table when ``partition_key`` is
    None) in key order after ``start``; each comes with the cursor to resume after it. Rows changed or deleted
    while reading do not disturb the order: the cursor is a key, not a position."""
    cursor = start
    # Within the cursor's partition first (or the one partition asked for), then the partitions after it.
    current = partition_key if partition_key is not None else (cursor.partition_key if cursor else None)
    while True:
        if current is not None:
            after = [Where("RowKey", "gt", cursor.row_key)] if cursor and cursor.partition_key == current else []
            rows = await store.query(table, current, [*after, *where], limit=page_size)
        else:
            after = [Where("PartitionKey", "gt", cursor.partition_key)] if cursor else []
            rows = await store.query(table, None, [*after, *where], limit=page_size)
        if rows:
            cursor = Cursor.after(rows[-1])
            yield rows, cursor
        if len(rows) == page_size:
            current = partition_key if partition_key is not None else cursor.partition_key
            continue
        if partition_key is not None or current is None:
            return
        # the rest of the cursor's partition is read: go on with the partitions after it
        current = None
        if not cursor:
            return
