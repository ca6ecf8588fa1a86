"""The one storage interface: a small async protocol shaped like Azure Table Storage.

Every repository is written once against :class:`TableStore`; SQLite (embedded default) and Azure Tables
(production) implement it and must behave identically, which ``tests/storage/contract.py`` checks.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, runtime_checkable

# Property values a store accepts. Datetimes must be timezone-aware; they come back as aware UTC.
Value = str | int | float | bool | datetime | bytes

MAX_BATCH = 100
MAX_PROPERTIES = 252  # 255 minus PartitionKey, RowKey, Timestamp
MAX_STRING_CHARS = 32 * 1024  # 64 KiB of UTF-16
MAX_ENTITY_BYTES = 1024 * 1024
MAX_KEY_CHARS = 512  # 1 KiB of UTF-16
MAX_INT64 = 2**63 - 1
MIN_DATETIME = datetime(1601, 1, 1, tzinfo=UTC)  # Edm.DateTime starts here
RESERVED_NAMES = frozenset({"PartitionKey", "RowKey", "Timestamp", "etag"})
KEY_NAMES = frozenset({"PartitionKey", "RowKey"})  # a query filter may compare these with strings


# Lone surrogates are refused too: they cannot be sent as UTF-8, so encode_key() escapes them.
_FORBIDDEN_KEY_CHARS = re.compile(r"[/\\#?\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_PROPERTY_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,62}$")


class StorageError(Exception):
    """Base class of every error a store raises; backends translate their own errors into these."""


class NotFound(StorageError):
    """The entity (or table) does not exist."""


class AlreadyExists(StorageError):
    """insert() found an entity with the same keys."""


class PreconditionFailed(StorageError):
    """The ETag given to update()/delete() no longer matches: somebody else wrote first."""


class InvalidKey(StorageError, ValueError):
    """A partition or row key contains / \\ # ? or control characters, or is too long."""


class InvalidEntity(StorageError, ValueError):
    """Too many properties, a reserved or malformed property name, or an unsupported value."""


class EntityTooLarge(InvalidEntity):
    """A string property over 32 K characters or an entity over 1 MiB."""


class BatchTooLarge(StorageError, ValueError):
    """More than 100 operations, or operations on more than one partition or on the same row twice."""


class Unavailable(StorageError):
    """The backend could not be reached; the caller may retry later. Nothing was written."""


@dataclass(frozen=True, slots=True)
class Row:
    """One stored entity: its keys, its properties and the ETag to use for conditional writes."""

    partition_key: str
    row_key: str
    data: Mapping[str, Value]
    etag: str

    def __getitem__(self, name: str) -> Value:
        return self.data[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.data.get(name, default)


Op = Literal["eq", "ne", "gt", "ge", "lt", "le"]


@dataclass(frozen=True, slots=True)
class Where:
    """One comparison of a query filter; a filter is a conjunction of these. Values are always bound as
    parameters, never formatted into query text. ``name`` may be "PartitionKey", "RowKey" or any property
    name (keys compare only with strings)."""

    name: str
    op: Op
    value: Value


@dataclass(frozen=True, slots=True)
class BatchOp:
    """One operation of an atomic batch on a single partition."""

    kind: Literal["insert", "upsert", "update", "delete"]
    row_key: str
    data: Mapping[str, Value] = field(default_factory=dict)
    etag: str | None = None


@runtime_checkable
class TableStore(Protocol):
    """Async, Azure-Tables-shaped storage. Tables are created on first use."""

    async def get(self, table: str, partition_key: str, row_key: str) -> Row:
        """Return the entity or raise NotFound."""

    async def insert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        """Create the entity; raise AlreadyExists if the keys are taken."""

    async def upsert(self, table: str, partition_key: str, row_key: str, data: Mapping[str, Value]) -> Row:
        """Create or replace the entity (all properties replaced)."""

    async def update(
        self,
        table: str,
        partition_key: str,
        row_key: str,
        data: Mapping[str, Value],
        *,
        etag: str | None = None,
    ) -> Row:
        """Replace an existing entity; NotFound if missing, PreconditionFailed if ``etag`` no longer matches."""

    async def delete(self, table: str, partition_key: str, row_key: str, *, etag: str | None = None) -> None:
        """Delete an entity; NotFound if missing, PreconditionFailed if ``etag`` no longer matches."""

    async def query(
        self,
        table: str,
        partition_key: str | None,
        where: Sequence[Where] = (),
        *,
        limit: int | None = None,
    ) -> list[Row]:
        """Entities of one partition (or of the whole table when ``partition_key`` is None) matching every
        condition, ordered by (PartitionKey, RowKey)."""

    async def batch(self, table: str, partition_key: str, ops: Sequence[BatchOp]) -> list[Row | None]:
        """Apply all operations atomically (all or none); returns the written rows (None for deletes).
        Raises BatchTooLarge before sending anything when the batch breaks the rules."""

    async def ping(self) -> None:
        """Raise Unavailable unless the backend answers."""

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""


def encode_key(text: str) -> str:
    """Turn any user-supplied text into a valid, reversible-where-short key.

    ``% / \\ # ?`` and control characters become ``%XX``; keys that would exceed the limit keep a prefix and
    a SHA-256 suffix so they stay unique.
    """
    out: list[str] = []
    for ch in text:
        if ch == "%" or _FORBIDDEN_KEY_CHARS.match(ch):
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append(ch)
    encoded = "".join(out)
    if _utf16_units(encoded) > MAX_KEY_CHARS:
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        budget = MAX_KEY_CHARS - len(digest) - 1
        prefix: list[str] = []
        for ch in encoded:
            budget -= 2 if ord(ch) > 0xFFFF else 1
            if budget < 0:
                break
            prefix.append(ch)
        encoded = "".join(prefix) + "~" + digest
    return encoded


def _utf16_units(text: str) -> int:
    """Length as the service counts it: characters outside the BMP take two UTF-16 code units."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def decode_key(key: str) -> str:
    """Inverse of :func:`encode_key` for keys that were not shortened."""
    raw = bytearray()
    i = 0
    while i < len(key):
        if key[i] == "%" and re.fullmatch(r"[0-9A-F]{2}", key[i + 1 : i + 3]):
            raw.append(int(key[i + 1 : i + 3], 16))
            i += 3
        else:
            raw.extend(key[i].encode("utf-8", "surrogatepass"))
            i += 1
    return raw.decode("utf-8", "surrogatepass")


def check_table(table: str) -> None:
    # fullmatch, not match: "$" would let a trailing newline through.
    if not isinstance(table, str) or not _TABLE_NAME.fullmatch(table):
        raise InvalidEntity(f"invalid table name {table!r}")


def check_key(key: str, what: str = "key") -> None:
    if not isinstance(key, str):
        raise InvalidKey(f"{what} must be a string")
    if _utf16_units(key) > MAX_KEY_CHARS:
        raise InvalidKey(f"{what} longer than {MAX_KEY_CHARS} UTF-16 code units")
    if _FORBIDDEN_KEY_CHARS.search(key):
        raise InvalidKey(f"{what} contains / \\ # ? or a control character; use encode_key()")


def _check_value(name: str, value: Value) -> int:
    """Refuse what Azure Tables cannot store; return the value's approximate size in bytes."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, float):
        # NaN and infinities neither compare nor fit SQLite's JSON, so neither backend takes them.
        if not math.isfinite(value):
            raise InvalidEntity(f"property {name!r} is not a finite number")
        return 8
    if isinstance(value, int):
        if not -MAX_INT64 - 1 <= value <= MAX_INT64:
            raise InvalidEntity(f"property {name!r} does not fit in 64 bits")
        return 8
    if isinstance(value, str):
        # The service limit is in UTF-16 code units: characters outside the BMP count twice.
        units = _utf16_units(value)
        if units > MAX_STRING_CHARS:
            raise EntityTooLarge(f"property {name!r} has {units} UTF-16 units; at most {MAX_STRING_CHARS}")
        return 2 * units
    if isinstance(value, bytes):
        if len(value) > 64 * 1024:
            raise EntityTooLarge(f"property {name!r} has {len(value)} bytes; at most 65536")
        return len(value)
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidEntity(f"property {name!r} is a naive datetime")
        try:
            utc = value.astimezone(UTC)
        except OverflowError:
            raise InvalidEntity(f"property {name!r} is out of range in UTC") from None
        if utc < MIN_DATETIME:
            raise InvalidEntity(f"property {name!r} is before {MIN_DATETIME:%Y-%m-%d}")
        return 8
    raise InvalidEntity(f"property {name!r} has unsupported type {type(value).__name__}")


def check_entity(data: Mapping[str, Value]) -> None:
    """Apply Azure Tables' limits before any backend sees the data, so both backends refuse identically."""
    if not isinstance(data, Mapping):
        raise InvalidEntity("entity data must be a mapping")
    if len(data) > MAX_PROPERTIES:
        raise InvalidEntity(f"{len(data)} properties; at most {MAX_PROPERTIES}")
    size = 0
    for name, value in data.items():
        if not isinstance(name, str) or name in RESERVED_NAMES or not _PROPERTY_NAME.fullmatch(name):
            raise InvalidEntity(f"invalid property name {name!r}")
        size += 2 * len(name) + _check_value(name, value)
    if size > MAX_ENTITY_BYTES:
        raise EntityTooLarge(f"entity is about {size} bytes; at most {MAX_ENTITY_BYTES}")


def check_where(where: Sequence[Where]) -> None:
    for cond in where:
        if cond.name not in KEY_NAMES and (
            not isinstance(cond.name, str) or cond.name in RESERVED_NAMES or not _PROPERTY_NAME.fullmatch(cond.name)
        ):
            raise InvalidEntity(f"invalid filter property {cond.name!r}")
        if cond.op not in ("eq", "ne", "gt", "ge", "lt", "le"):
            raise InvalidEntity(f"invalid filter operator {cond.op!r}")
        if cond.name in KEY_NAMES and not isinstance(cond.value, str):
            raise InvalidEntity(f"{cond.name} can only be compared with a string")
        _check_value(cond.name, cond.value)
        # SQLite keeps bytes as base64, whose order is not the bytes' order.
        if isinstance(cond.value, bytes) and cond.op not in ("eq", "ne"):
            raise InvalidEntity(f"bytes property {cond.name!r} can only be compared with eq or ne")


def to_utc(data: Mapping[str, Value]) -> dict[str, Value]:
    """A copy of validated data with every datetime as a plain aware UTC datetime (what reads return)."""
    return {name: _utc(v) if isinstance(v, datetime) else v for name, v in data.items()}


def _utc(value: datetime) -> datetime:
    u = value.astimezone(UTC)
    # Rebuild so subclasses (e.g. the Azure SDK's TablesEntityDatetime) become plain datetimes.
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC)


def check_row(table: str, partition_key: str, row_key: str, data: Mapping[str, Value] | None = None) -> None:
    """Validate the arguments of a single-entity operation; every backend calls this first."""
    check_table(table)
    check_key(partition_key, "partition key")
    check_key(row_key, "row key")
    if data is not None:
        check_entity(data)


def check_query(table: str, partition_key: str | None, where: Sequence[Where], limit: int | None) -> None:
    check_table(table)
    if partition_key is not None:
        check_key(partition_key, "partition key")
    check_where(where)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidEntity(f"limit must be a positive integer, not {limit!r}")


def check_batch(partition_key: str, ops: Sequence[BatchOp]) -> None:
    if not ops:
        raise BatchTooLarge("empty batch")
    if len(ops) > MAX_BATCH:
        raise BatchTooLarge(f"{len(ops)} operations; at most {MAX_BATCH}")
    check_key(partition_key, "partition key")
    seen: set[str] = set()
    for op in ops:
        check_key(op.row_key, "row key")
        if op.row_key in seen:
            raise BatchTooLarge(f"row {op.row_key!r} appears twice in one batch")
        seen.add(op.row_key)
        if op.kind not in ("insert", "upsert", "update", "delete"):
            raise InvalidEntity(f"unknown batch operation {op.kind!r}")
        if op.kind != "delete":
            check_entity(op.data)
