"""Storage: one async, Azure-Tables-shaped interface (:class:`TableStore`) with SQLite and Azure backends.

The backends are imported lazily so that importing the package does not load the Azure SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import (
    MAX_BATCH,
    AlreadyExists,
    BatchOp,
    BatchTooLarge,
    EntityTooLarge,
    InvalidEntity,
    InvalidKey,
    NotFound,
    PreconditionFailed,
    Row,
    StorageError,
    TableStore,
    Unavailable,
    Value,
    Where,
    decode_key,
    encode_key,
)

if TYPE_CHECKING:
    from .azure import AzureTableStore
    from .sqlite import SqliteStore

__all__ = [
    "MAX_BATCH",
    "AlreadyExists",
    "AzureTableStore",
    "BatchOp",
    "BatchTooLarge",
    "EntityTooLarge",
    "InvalidEntity",
    "InvalidKey",
    "NotFound",
    "PreconditionFailed",
    "Row",
    "SqliteStore",
    "StorageError",
    "TableStore",
    "Unavailable",
    "Value",
    "Where",
    "decode_key",
    "encode_key",
]


def __getattr__(name: str) -> Any:
    if name == "SqliteStore":
        from .sqlite import SqliteStore

        return SqliteStore
    if name == "AzureTableStore":
        from .azure import AzureTableStore

        return AzureTableStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
