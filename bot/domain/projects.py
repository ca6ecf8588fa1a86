"""CoP projects and their outputs: what a CoP set out to do, who leads and takes part, dated updates and, at the
end, the outcome (what changed, who uses it, a case study and links), plus the members following each project.

Table ``projects``, partition = the CoP id (encoded):
- ``p|<project id>``: the project, its people (Entra id, Teams id, name), its updates (the newest
  :data:`MAX_UPDATES` kept, in the row) and its outcome;
- ``f|<project id>|<aad id>``: one row per follower (who gets a personal notice when the status changes or the
  outcome is recorded).

Writes are read-modify-write with the row's ETag (:meth:`ProjectRepo.change`), so two leads editing at once never
lose each other's change.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any, Literal

from bot.domain.codec import dumps, loads
from bot.domain.cops import PersonRef
from bot.domain.validation import BadInput, chosen_people, clean_text
from bot.domain.web_links import clean_links
from bot.security.erasure import name_pattern, replace_whole
from storage.base import AlreadyExists, NotFound, PreconditionFailed, Row, TableStore, Where, encode_key

TABLE = "projects"
PROJECT = "p|"
FOLLOW = "f|"
Status = Literal["proposed", "running", "paused", "finished"]
STATUSES: dict[str, str] = {"proposed": "Proposed", "running": "Running", "paused": "Paused", "finished": "Finished"}
TITLE_MAX = 120
GOAL_MAX = 1000
UPDATE_MAX = 500
MAX_UPDATES = 25  # the newest kept in the project's row
CHANGED_MAX = 1000
USERS_MAX = 300
CASE_STUDY_MAX = 4000
LINKS_MAX = 5
PEOPLE_MAX = 30
MAX_PER_COP = 200


@dataclass(frozen=True)
class Update:
    at: datetime
    by_aad: str
    by_name: str
    text: str

    def as_json(self) -> dict[str, str]:
        return {"at": self.at.isoformat(), "by_aad": self.by_aad, "by_name": self.by_name, "text": self.text}


@dataclass(frozen=True)
class Outcome:
    changed: str
    users: str
    case_study: str
    links: tuple[str, ...]
    recorded_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "users": self.users,
            "case_study": self.case_study,
            "links": list(self.links),
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True)
class Project:
    cop_id: str
    project_id: str
    title: str
    goal: str = ""
    status: Status = "proposed"
    leads: tuple[PersonRef, ...] = ()
    participants: tuple[PersonRef, ...] = ()
    start: date | None = None
    end: date | None = None
    updates: tuple[Update, ...] = ()  # oldest first
    outcome: Outcome | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    etag: str = ""

    def is_lead(self, aad_id: str) -> bool:
        return bool(aad_id) and any(p.aad_id == aad_id for p in self.leads)

    def names(self, aad_id: str) -> bool:
        return bool(aad_id) and any(p.aad_id == aad_id for p in (*self.leads, *self.participants))

    @property
    def has_impact(self) -> bool:
        """Finished with its outcome recorded: what the health scorecard's Impact area counts."""
        return self.status == "finished" and self.outcome is not None


@dataclass(frozen=True)
class Details:
    """What the project form edits."""

    title: str
    goal: str
    status: Status
    start: date | None
    end: date | None


@dataclass(frozen=True)
class Follower:
    cop_id: str
    project_id: str
    aad_id: str
    user_id: str
    name: str


def new_project_id() -> str:
    return secrets.token_hex(6)


def is_project_id(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 12 and all(c in "0123456789abcdef" for c in value)


def _day(value: Any, label: str) -> date | None:
    text = clean_text(value, label, 10)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadInput(f"{label} must be a date (YYYY-MM-DD).") from None


def status_from(value: Any) -> Status:
    text = clean_text(value, "Status", 20)
    if text not in STATUSES:
        raise BadInput("Please choose the status from the list.")
    return text  # type: ignore[return-value]  # checked against STATUSES above


def details_from(data: Any) -> Details:
    """The project form's fields, or BadInput naming what is wrong (nothing is stored then)."""
    title = clean_text(data.get("title"), "Title", TITLE_MAX, required=True)
    goal = clean_text(data.get("goal"), "Goal", GOAL_MAX, multiline=True)
    status = status_from(data.get("status") or "proposed")
    start, end = _day(data.get("start"), "Start date"), _day(data.get("end"), "End date")
    if start is not None and end is not None and end < start:
        raise BadInput("The end date is before the start date.")
    return Details(title, goal, status, start, end)


def outcome_from(data: Any, now: datetime) -> Outcome:
    changed = clean_text(data.get("changed"), "What changed", CHANGED_MAX, multiline=True, required=True)
    users = clean_text(data.get("users"), "Who uses it", USERS_MAX, multiline=True)
    case_study = clean_text(data.get("case_study"), "Case study", CASE_STUDY_MAX, multiline=True)
    links = clean_links(data.get("links"), "Links", LINKS_MAX)
    return Outcome(changed, users, case_study, links, now)


def update_text_from(data: Any) -> str:
    return clean_text(data.get("note"), "Update", UPDATE_MAX, multiline=True, required=True)


def people_from(value: Any, known: dict[str, PersonRef], label: str) -> tuple[PersonRef, ...]:
    """People chosen on the form: only people the card offered (members of this CoP), at most ``PEOPLE_MAX``."""
    return chosen_people(value, known, label, PEOPLE_MAX)


# -- rows -----------------------------------------------------------------------------------------------------


def _people_json(people: Sequence[PersonRef]) -> str:
    return dumps([p.as_json() for p in people])


def _people(text: Any) -> tuple[PersonRef, ...]:
    found = (PersonRef.from_json(item) for item in loads(text, []))
    return tuple(p for p in found if p is not None)


def _when(text: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _updates(text: Any) -> tuple[Update, ...]:
    out: list[Update] = []
    for item in loads(text, []):
        at = _when(item.get("at")) if isinstance(item, dict) else None
        if at is not None:
            out.append(Update(at, str(item.get("by_aad", "")), str(item.get("by_name", "")), str(item.get("text", ""))))
    return tuple(out)


def _outcome(text: Any) -> Outcome | None:
    item = loads(text, None)
    if not isinstance(item, dict):
        return None
    at = _when(item.get("recorded_at"))
    if at is None:
        return None
    links = item.get("links")
    return Outcome(
        str(item.get("changed", "")),
        str(item.get("users", "")),
        str(item.get("case_study", "")),
        tuple(str(x) for x in links) if isinstance(links, list) else (),
        at,
    )


def _to_row(p: Project) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind_": "project",
        "cop_id": p.cop_id,
        "project_id": p.project_id,
        "title": p.title,
        "goal": p.goal,
        "status": p.status,
        "leads": _people_json(p.leads),
        "participants": _people_json(p.participants),
        "start": p.start.isoformat() if p.start else "",
        "end": p.end.isoformat() if p.end else "",
        "updates": dumps([u.as_json() for u in p.updates]),
        "outcome": dumps(p.outcome.as_json()) if p.outcome else "",
        "finished_with_outcome": p.has_impact,
    }
    if p.created_at is not None:
        data["created_at"] = p.created_at
    if p.updated_at is not None:
        data["updated_at"] = p.updated_at
    return data


def _from_row(row: Row) -> Project:
    get = row.get
    status = get("status", "proposed")
    start, end = str(get("start", "")), str(get("end", ""))
    return Project(
        cop_id=str(get("cop_id", "")),
        project_id=str(get("project_id", "")),
        title=str(get("title", "")),
        goal=str(get("goal", "")),
        status=status if status in STATUSES else "proposed",
        leads=_people(get("leads")),
        participants=_people(get("participants")),
        start=date.fromisoformat(start) if start else None,
        end=date.fromisoformat(end) if end else None,
        updates=_updates(get("updates")),
        outcome=_outcome(get("outcome")),
        created_at=get("created_at"),
        updated_at=get("updated_at"),
        etag=row.etag,
    )


def _follow_key(project_id: str, aad_id: str) -> str:
    return f"{FOLLOW}{project_id}|{encode_key(aad_id)}"


def with_update(project: Project, update: Update) -> Project:
    return replace(project, updates=(*project.updates, update)[-MAX_UPDATES:])


class TooMany(Exception):
    """The CoP already has :data:`MAX_PER_COP` projects."""


class Busy(Exception):
    """The project kept changing under us; nothing was written."""


class ProjectRepo:
    def __init__(self, store: TableStore) -> None:
        self._store = store

    async def of_cop(self, cop_id: str) -> list[Project]:
        rows = await self._store.query(
            TABLE, encode_key(cop_id), [Where("RowKey", "ge", PROJECT), Where("RowKey", "lt", "p}")]
        )
        return [_from_row(row) for row in rows]

    async def get(self, cop_id: str, project_id: str) -> Project | None:
        try:
            return _from_row(await self._store.get(TABLE, encode_key(cop_id), PROJECT + project_id))
        except NotFound:
            return None

    async def create(self, project: Project) -> Project:
        if len(await self.of_cop(project.cop_id)) >= MAX_PER_COP:
            raise TooMany
        try:
            row = await self._store.insert(
                TABLE, encode_key(project.cop_id), PROJECT + project.project_id, _to_row(project)
            )
        except AlreadyExists:  # the same form sent twice: the first one stands
            found = await self.get(project.cop_id, project.project_id)
            if found is None:
                raise
            return found
        return _from_row(row)

    async def change(
        self, cop_id: str, project_id: str, now: datetime, edit: Callable[[Project], Project], attempts: int = 5
    ) -> tuple[Project, Project] | None:
        """Read-modify-write with the ETag: ``(before, after)``, None when the project is gone."""
        for _ in range(attempts):
            before = await self.get(cop_id, project_id)
            if before is None:
                return None
            after = replace(edit(before), updated_at=now)
            try:
                row = await self._store.update(
                    TABLE, encode_key(cop_id), PROJECT + project_id, _to_row(after), etag=before.etag
                )
            except PreconditionFailed:
                continue
            except NotFound:
                return None
            return before, _from_row(row)
        raise Busy

    # -- followers ------------------------------------------------------------------------------------------
    async def followers(self, cop_id: str, project_id: str) -> list[Follower]:
        prefix = f"{FOLLOW}{project_id}|"
        rows = await self._store.query(
            TABLE, encode_key(cop_id), [Where("RowKey", "ge", prefix), Where("RowKey", "lt", prefix[:-1] + "}")]
        )
        return [_follower(row) for row in rows]

    async def is_following(self, cop_id: str, project_id: str, aad_id: str) -> bool:
        try:
            await self._store.get(TABLE, encode_key(cop_id), _follow_key(project_id, aad_id))
        except NotFound:
            return False
        return True

    async def follow(self, cop_id: str, project_id: str, aad_id: str, user_id: str, name: str) -> None:
        data = {"kind_": "follow", "cop_id": cop_id, "project_id": project_id, "aad_id": aad_id, "user_id": user_id}
        await self._store.upsert(TABLE, encode_key(cop_id), _follow_key(project_id, aad_id), {**data, "name": name})

    async def unfollow(self, cop_id: str, project_id: str, aad_id: str) -> bool:
        try:
            await self._store.delete(TABLE, encode_key(cop_id), _follow_key(project_id, aad_id))
        except NotFound:
            return False
        return True

    # -- personal data (table scans: privacy requests only) -------------------------------------------------
    async def follows_of(self, aad_id: str) -> list[Follower]:
        rows = await self._store.query(TABLE, None, [Where("aad_id", "eq", aad_id)])
        return [_follower(row) for row in rows if row.get("kind_") == "follow"]

    async def naming(self, aad_id: str) -> list[Project]:
        """Every project whose leads, participants or updates name the person (compared by Entra id, whole)."""
        rows = await self._store.query(TABLE, None, [Where("kind_", "eq", "project")])
        found = [_from_row(row) for row in rows]
        return [p for p in found if p.names(aad_id) or any(u.by_aad == aad_id for u in p.updates)]

    async def export_person(self, aad_id: str) -> dict[str, Any] | None:
        """What ``my data`` shows: the projects naming the person (as lead, participant, author of updates) and
        their follows; None when there are none."""
        named = await self.naming(aad_id)
        follows = await self.follows_of(aad_id)
        if not named and not follows:
            return None
        return {
            "projects": [
                {
                    "cop_id": p.cop_id,
                    "project_id": p.project_id,
                    "title": p.title,
                    "lead": p.is_lead(aad_id),
                    "taking_part": any(x.aad_id == aad_id for x in p.participants),
                    "your_updates": [{"at": u.at.isoformat(), "text": u.text} for u in p.updates if u.by_aad == aad_id],
                }
                for p in named
            ],
            "following": [{"cop_id": f.cop_id, "project_id": f.project_id} for f in follows],
        }

    async def erase_person(self, aad_id: str, now: datetime) -> int:
        """Take the person off every project (as lead or participant), keep their updates without their id or
        name (their name as a whole word in their own updates' text becomes "former member", as in the audit
        log), and delete their follows. The projects stay the CoP's. Returns rows touched."""
        if not aad_id:
            return 0
        touched = 0
        for follow in await self.follows_of(aad_id):
            touched += int(await self.unfollow(follow.cop_id, follow.project_id, aad_id))

        def without(p: Project) -> Project:
            names = {x.name for x in (*p.leads, *p.participants) if x.aad_id == aad_id}
            names |= {u.by_name for u in p.updates if u.by_aad == aad_id}
            pattern = name_pattern(names)

            def anonymous(u: Update) -> Update:
                return replace(u, by_aad="", by_name="", text=replace_whole(u.text, pattern))

            return replace(
                p,
                leads=tuple(x for x in p.leads if x.aad_id != aad_id),
                participants=tuple(x for x in p.participants if x.aad_id != aad_id),
                updates=tuple(anonymous(u) if u.by_aad == aad_id else u for u in p.updates),
            )

        for project in await self.naming(aad_id):
            if await self.change(project.cop_id, project.project_id, now, without) is not None:
                touched += 1
        return touched


def _follower(row: Row) -> Follower:
    get = row.get
    return Follower(
        str(get("cop_id", "")),
        str(get("project_id", "")),
        str(get("aad_id", "")),
        str(get("user_id", "")),
        str(get("name", "")),
    )
