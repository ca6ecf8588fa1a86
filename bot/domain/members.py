"""People, their profiles and their CoP memberships, with the one-core-CoP rule held by storage.

Tables:
- ``people`` — partition = the person (encoded AAD id). Rows: ``profile``; ``core`` (exists iff the person is
  a core member somewhere; its ``cop_id`` says where); ``m|<cop>`` one per membership. A person's whole state
  is one partition, so joining, switching core and leaving are single atomic batches, and two processes racing
  core joins in two CoPs cannot both win: only one ``insert`` of ``core`` succeeds.
- ``roster`` — partition = the CoP; one row per member: the CoP-side index for counts and lists. It is derived
  from ``people`` and written after it, so a crash between the two is repaired by the next write.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from bot.domain.codec import dumps, loads
from storage.base import (
    AlreadyExists,
    BatchOp,
    NotFound,
    PreconditionFailed,
    Row,
    StorageError,
    TableStore,
    decode_key,
    encode_key,
)

PEOPLE = "people"
ROSTER = "roster"
Tier = Literal["core", "wider"]
TIERS: tuple[Tier, ...] = ("core", "wider")
ORG_AREAS: tuple[tuple[str, str], ...] = (
    ("central", "Central professional services function"),
    ("faculty", "Faculty or academic department"),
    ("vpo", "Vice-Provost office"),
    ("other", "Other"),
)


@dataclass(frozen=True)
class Profile:
    aad_id: str
    user_id: str
    name: str
    org_area: str = ""  # one of ORG_AREAS keys
    org_unit: str = ""  # free text: which function / department / office
    job_family: str = ""
    interests: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True)
class Membership:
    cop_id: str
    aad_id: str
    user_id: str
    name: str
    tier: Tier
    joined_at: datetime
    org_area: str = ""
    tier_changed_at: datetime | None = None
    was_wider: bool = False  # moved wider -> core at some point (sustainability indicator)


class CoreElsewhere(Exception):
    """The person is already a core member of another CoP and the rule is enforced."""

    def __init__(self, other_cop_id: str) -> None:
        super().__init__(other_cop_id)
        self.other_cop_id = other_cop_id


def _membership_key(cop_id: str) -> str:
    return "m|" + encode_key(cop_id)


def _membership_from_row(row: Row) -> Membership:
    get = row.get
    return Membership(
        cop_id=str(get("cop_id")),
        aad_id=str(get("aad_id")),
        user_id=str(get("user_id", "")),
        name=str(get("name", "")),
        tier="core" if get("tier") == "core" else "wider",
        joined_at=get("joined_at"),
        org_area=str(get("org_area", "")),
        tier_changed_at=get("tier_changed_at"),
        was_wider=bool(get("was_wider", False)),
    )


def _membership_data(m: Membership) -> dict[str, Any]:
    data: dict[str, Any] = {
        "cop_id": m.cop_id,
        "aad_id": m.aad_id,
        "user_id": m.user_id,
        "name": m.name,
        "tier": m.tier,
        "joined_at": m.joined_at,
        "org_area": m.org_area,
        "was_wider": m.was_wider,
    }
    if m.tier_changed_at is not None:
        data["tier_changed_at"] = m.tier_changed_at
    return data


def _profile_from_row(row: Row) -> Profile:
    get = row.get
    return Profile(
        aad_id=decode_key(row.partition_key),
        user_id=str(get("user_id", "")),
        name=str(get("name", "")),
        org_area=str(get("org_area", "")),
        org_unit=str(get("org_unit", "")),
        job_family=str(get("job_family", "")),
        interests=tuple(loads(get("interests"), [])),
        updated_at=get("updated_at"),
    )


def _profile_data(p: Profile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "user_id": p.user_id,
        "name": p.name,
        "org_area": p.org_area,
        "org_unit": p.org_unit,
        "job_family": p.job_family,
        "interests": dumps(list(p.interests)),
    }
    if p.updated_at is not None:
        data["updated_at"] = p.updated_at
    return data


@dataclass(frozen=True)
class PersonState:
    """Everything stored about one person, read in one partition query."""

    profile: Profile | None
    core_cop_id: str | None
    core_etag: str | None
    memberships: dict[str, tuple[Membership, str]]  # cop_id -> (membership, etag)

    def sorted_memberships(self) -> list[Membership]:
        """The memberships, oldest first."""
        return sorted((m for m, _ in self.memberships.values()), key=lambda m: m.joined_at)


def _release_core(state: PersonState, cop_id: str, now: datetime) -> BatchOp:
    """The batch op that stops ``cop_id`` being the person's core CoP. Under the relaxed rule the person may be
    core elsewhere too: then the claim moves there, so the claim row keeps naming a real core membership."""
    others = sorted(
        (m for c, (m, _) in state.memberships.items() if c != cop_id and m.tier == "core"), key=lambda m: m.joined_at
    )
    if others:
        return BatchOp("update", "core", {"cop_id": others[0].cop_id, "since": now}, state.core_etag)
    return BatchOp("delete", "core", {}, state.core_etag)


class MembershipRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    # -- reads ----------------------------------------------------------------------------------------
    async def person(self, aad_id: str) -> PersonState:
        rows = await self._store.query(PEOPLE, encode_key(aad_id))
        profile: Profile | None = None
        core: tuple[str, str] | None = None
        memberships: dict[str, tuple[Membership, str]] = {}
        for row in rows:
            if row.row_key == "profile":
                profile = _profile_from_row(row)
            elif row.row_key == "core":
                core = (str(row.get("cop_id")), row.etag)
            elif row.row_key.startswith("m|"):
                membership = _membership_from_row(row)
                memberships[membership.cop_id] = (membership, row.etag)
        return PersonState(profile, core[0] if core else None, core[1] if core else None, memberships)

    async def memberships_of(self, aad_id: str) -> list[Membership]:
        return (await self.person(aad_id)).sorted_memberships()

    async def membership(self, cop_id: str, aad_id: str) -> Membership | None:
        try:
            return _membership_from_row(await self._store.get(PEOPLE, encode_key(aad_id), _membership_key(cop_id)))
        except NotFound:
            return None

    async def members_of(self, cop_id: str) -> list[Membership]:
        rows = await self._store.query(ROSTER, encode_key(cop_id))
        return [_membership_from_row(row) for row in rows]

    async def profile(self, aad_id: str) -> Profile | None:
        try:
            return _profile_from_row(await self._store.get(PEOPLE, encode_key(aad_id), "profile"))
        except NotFound:
            return None

    # -- writes ---------------------------------------------------------------------------------------
    async def join(
        self,
        cop_id: str,
        profile: Profile,
        tier: Tier,
        now: datetime,
        *,
        enforce_one_core: bool = True,
        switch_core: bool = False,
        state: PersonState | None = None,
    ) -> tuple[Membership, str | None]:
        """Record (or change) a membership and save the profile, atomically in the person's partition.

        Returns the membership and the CoP that was demoted to wider (when ``switch_core``). Raises
        CoreElsewhere when joining as core while core elsewhere and neither switching nor relaxed.
        Retries on concurrent changes to the same person; the store's conditional writes decide races.
        """
        fresh = state is None
        for _ in range(5):
            if state is None:
                state, fresh = await self.person(profile.aad_id), True
            try:
                return await self._join_once(cop_id, profile, tier, now, enforce_one_core, switch_core, state)
            except CoreElsewhere:
                if fresh:
                    raise
                state = None  # the caller's snapshot may be stale: confirm before asking the person to choose
            except (PreconditionFailed, AlreadyExists, NotFound):
                state = None  # somebody else changed this person: read again and decide again
        raise PreconditionFailed("membership kept changing; try again")

    async def _join_once(
        self,
        cop_id: str,
        profile: Profile,
        tier: Tier,
        now: datetime,
        enforce: bool,
        switch_core: bool,
        state: PersonState,
    ) -> tuple[Membership, str | None]:
        pk = encode_key(profile.aad_id)
        ops: list[BatchOp] = [BatchOp("upsert", "profile", _profile_data(profile))]
        existing = state.memberships.get(cop_id)
        previous = existing[0] if existing else None
        demoted: Membership | None = None
        if tier == "core" and state.core_cop_id != cop_id:
            other = state.core_cop_id
            if other is not None and other in state.memberships and enforce and not switch_core:
                raise CoreElsewhere(other)
            if other is not None and other in state.memberships and switch_core:
                old, old_etag = state.memberships[other]
                demoted = replace(old, tier="wider", tier_changed_at=now)
                ops.append(BatchOp("update", _membership_key(other), _membership_data(demoted), old_etag))
            if other is None:
                ops.append(BatchOp("insert", "core", {"cop_id": cop_id, "since": now}))
            elif switch_core or other not in state.memberships:
                ops.append(BatchOp("update", "core", {"cop_id": cop_id, "since": now}, state.core_etag))
            # relaxed rule and staying core elsewhere: the "core" row keeps pointing at the first core CoP
        elif tier == "wider" and state.core_cop_id == cop_id:
            ops.append(_release_core(state, cop_id, now))
        membership = Membership(
            cop_id=cop_id,
            aad_id=profile.aad_id,
            user_id=profile.user_id,
            name=profile.name,
            tier=tier,
            joined_at=previous.joined_at if previous else now,
            org_area=profile.org_area,
            tier_changed_at=now
            if previous and previous.tier != tier
            else (previous.tier_changed_at if previous else None),
            was_wider=bool(previous and (previous.was_wider or (previous.tier == "wider" and tier == "core"))),
        )
        if existing:
            ops.append(BatchOp("update", _membership_key(cop_id), _membership_data(membership), existing[1]))
        else:
            ops.append(BatchOp("insert", _membership_key(cop_id), _membership_data(membership)))
        await self._store.batch(PEOPLE, pk, ops)
        await self._store.upsert(ROSTER, encode_key(cop_id), encode_key(profile.aad_id), _membership_data(membership))
        if demoted is not None:
            await self._store.upsert(
                ROSTER, encode_key(demoted.cop_id), encode_key(profile.aad_id), _membership_data(demoted)
            )
        return membership, demoted.cop_id if demoted else None

    async def leave(self, cop_id: str, aad_id: str, now: datetime) -> Membership | None:
        """Remove a membership (and the core claim if it was the core CoP). Returns what was removed."""
        for _ in range(5):
            state = await self.person(aad_id)
            existing = state.memberships.get(cop_id)
            if existing is None:
                await self._drop_roster(cop_id, aad_id)
                return None
            ops = [BatchOp("delete", _membership_key(cop_id), {}, existing[1])]
            if state.core_cop_id == cop_id:
                ops.append(_release_core(state, cop_id, now))
            try:
                await self._store.batch(PEOPLE, encode_key(aad_id), ops)
            except (PreconditionFailed, NotFound):
                continue
            await self._drop_roster(cop_id, aad_id)
            return existing[0]
        raise PreconditionFailed("membership kept changing; try again")

    async def _drop_roster(self, cop_id: str, aad_id: str) -> None:
        with contextlib.suppress(NotFound):
            await self._store.delete(ROSTER, encode_key(cop_id), encode_key(aad_id))

    async def update_profile(self, profile: Profile) -> None:
        """Save the profile and carry name and organisational area into every membership (and the rosters,
        which count by area), atomically in the person's partition."""
        for _ in range(5):
            state = await self.person(profile.aad_id)
            ops = [BatchOp("upsert", "profile", _profile_data(profile))]
            changed: list[Membership] = []
            for cop_id, (membership, etag) in state.memberships.items():
                if (membership.org_area, membership.name, membership.user_id) == (
                    profile.org_area,
                    profile.name,
                    profile.user_id,
                ):
                    continue
                updated = replace(membership, org_area=profile.org_area, name=profile.name, user_id=profile.user_id)
                ops.append(BatchOp("update", _membership_key(cop_id), _membership_data(updated), etag))
                changed.append(updated)
            try:
                await self._store.batch(PEOPLE, encode_key(profile.aad_id), ops)
            except (PreconditionFailed, NotFound):
                continue
            for membership in changed:
                await self._store.upsert(
                    ROSTER, encode_key(membership.cop_id), encode_key(profile.aad_id), _membership_data(membership)
                )
            return
        raise PreconditionFailed("profile kept changing; try again")

    async def erase_person(self, aad_id: str) -> list[str]:
        """Delete everything stored about a person here; returns the CoPs they were in."""
        state = await self.person(aad_id)
        for cop_id in state.memberships:
            await self._drop_roster(cop_id, aad_id)
        for row in await self._store.query(PEOPLE, encode_key(aad_id)):
            try:
                await self._store.delete(PEOPLE, row.partition_key, row.row_key)
            except StorageError:
                continue
        return list(state.memberships)
