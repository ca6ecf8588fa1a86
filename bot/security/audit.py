"""Audit log of lead and admin actions (who, what, when), per CoP, newest first."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from storage.base import TableStore, encode_key

TABLE = "audit"
MAX_TS = 10**13


@dataclass(frozen=True)
class AuditEntry:
    cop_id: str
    at: datetime
    actor_aad_id: str
    actor_name: str
    action: str
    detail: str


async def record(
    store: TableStore,
    cop_id: str,
    at: datetime,
    actor_aad_id: str,
    actor_name: str,
    action: str,
    detail: str = "",
    *,
    subject_aad_id: str = "",
) -> None:
    """``subject_aad_id``: the person the action was about (a lead added or removed, a sponsor set), so that
    erasure finds the entry by their id, not by their name in ``detail``."""
    # row key sorts newest first: inverted milliseconds, then a random suffix against collisions
    row_key = f"{MAX_TS - int(at.timestamp() * 1000):013d}-{secrets.token_hex(6)}"
    await store.insert(
        TABLE,
        encode_key(cop_id or "programme"),
        row_key,
        {
            "at": at,
            "actor_aad_id": actor_aad_id,
            "actor_name": actor_name[:200],
            "action": action[:100],
            "detail": detail[:1000],
            **({"subject_aad_id": subject_aad_id} if subject_aad_id else {}),
        },
    )


async def recent(store: TableStore, cop_id: str, limit: int = 20) -> list[AuditEntry]:
    rows = await store.query(TABLE, encode_key(cop_id or "programme"), limit=limit)
    return [
        AuditEntry(
            cop_id,
            row["at"],  # type: ignore[arg-type]
            str(row.get("actor_aad_id", "")),
            str(row.get("actor_name", "")),
            str(row.get("action", "")),
            str(row.get("detail", "")),
        )
        for row in rows
    ]
