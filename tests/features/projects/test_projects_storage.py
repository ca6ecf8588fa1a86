"""The project and resource repositories on both backends (SQLite and Azurite): partitions per CoP, follows kept
apart from projects, conditional writes that never lose a concurrent change, the erasure scans, and ranking."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.cops import PersonRef
from bot.domain.projects import MAX_UPDATES, Outcome, Project, ProjectRepo, Update, new_project_id, with_update
from bot.domain.resources import Resource, ResourceRepo, TooMany, new_resource_id, rank
from storage.base import TableStore

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
COP = OTHER = BO = ""
ALICE = AL = PersonRef("", "", "")


@pytest.fixture(autouse=True)
def fresh_ids() -> None:
    """Azurite is shared by every test of a run and these tables have fixed names: each test's rows carry ids
    of their own, so one test's scans never see another's rows."""
    global COP, OTHER, ALICE, AL, BO
    run = uuid.uuid4().hex[:10]
    COP, OTHER = f"19:cop-a-{run}@thread.tacv2", f"19:cop-b-{run}@thread.tacv2"
    ALICE = PersonRef(f"aad-alice-{run}", "29:alice", "Alice")
    AL = PersonRef(f"aad-al-{run}", "29:al", "Al")
    BO = f"aad-bo-{run}"


def project(cop: str = "", **changes: object) -> Project:
    base = Project(cop or COP, new_project_id(), "Templates", leads=(ALICE,), participants=(AL,), created_at=NOW)
    return replace(base, **changes)  # type: ignore[arg-type]


def resource(cop: str = "", **changes: object) -> Resource:
    base = Resource(
        cop or COP,
        new_resource_id(),
        "Report template",
        "https://e.org/t",
        "template",
        ("reporting",),
        "",
        AL.aad_id,
        "Al",
        NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


async def test_projects_and_follows_per_cop(store: TableStore) -> None:
    repo = ProjectRepo(store)
    first = await repo.create(project())
    await repo.create(project(OTHER))
    await repo.follow(COP, first.project_id, BO, "29:bo", "Bo")
    await repo.follow(COP, first.project_id, ALICE.aad_id, ALICE.user_id, ALICE.name)
    assert [p.project_id for p in await repo.of_cop(COP)] == [first.project_id]  # follow rows are not projects
    assert {f.aad_id for f in await repo.followers(COP, first.project_id)} == {BO, ALICE.aad_id}
    assert await repo.is_following(COP, first.project_id, BO)
    assert await repo.unfollow(COP, first.project_id, BO)
    assert not await repo.unfollow(COP, first.project_id, BO)
    again = await repo.create(replace(first, title="a second click"))
    assert again.title == "Templates"  # the same id twice: the first stands


async def test_concurrent_changes_both_land(store: TableStore) -> None:
    repo = ProjectRepo(store)
    p = await repo.create(project())

    def note(text: str) -> Update:
        return Update(NOW, ALICE.aad_id, ALICE.name, text)

    def adding(i: int) -> Callable[[Project], Project]:
        return lambda x: with_update(x, note(f"n{i}"))

    await asyncio.gather(*(repo.change(COP, p.project_id, NOW, adding(i)) for i in range(4)))
    after = await repo.get(COP, p.project_id)
    assert after is not None
    assert sorted(u.text for u in after.updates) == ["n0", "n1", "n2", "n3"]
    assert await repo.change(COP, "f" * 12, NOW, lambda x: x) is None


async def test_updates_keep_the_newest_and_the_outcome_round_trips(store: TableStore) -> None:
    repo = ProjectRepo(store)
    p = project()
    for i in range(MAX_UPDATES + 3):
        p = with_update(p, Update(NOW + timedelta(minutes=i), "aad-x", "X", f"u{i}"))
    outcome = Outcome("Reports in a day", "Finance", "A case study.", ("https://e.org/a",), NOW)
    stored = await repo.create(replace(p, status="finished", outcome=outcome))
    back = await repo.get(COP, stored.project_id)
    assert back is not None
    assert len(back.updates) == MAX_UPDATES
    assert back.updates[0].text == "u3"
    assert back.outcome == outcome
    assert back.has_impact


async def test_erasure_by_identity_never_by_name(store: TableStore) -> None:
    repo = ProjectRepo(store)
    p = await repo.create(project(updates=(Update(NOW, AL.aad_id, "Al", "Al and Alice met"),)))
    await repo.follow(COP, p.project_id, AL.aad_id, AL.user_id, AL.name)
    await repo.follow(COP, p.project_id, ALICE.aad_id, ALICE.user_id, ALICE.name)
    assert [x.project_id for x in await repo.naming(AL.aad_id)] == [p.project_id]
    assert [f.project_id for f in await repo.follows_of(AL.aad_id)] == [p.project_id]
    assert await repo.erase_person(AL.aad_id, NOW) == 2
    after = await repo.get(COP, p.project_id)
    assert after is not None
    assert after.leads == (ALICE,)
    assert after.participants == ()
    assert [(u.by_aad, u.text) for u in after.updates] == [("", "former member and Alice met")]
    assert [f.aad_id for f in await repo.followers(COP, p.project_id)] == [ALICE.aad_id]
    assert await repo.naming(AL.aad_id) == []


async def test_resources_add_remove_erase_and_limit(store: TableStore, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = ResourceRepo(store)
    mine = await repo.add(resource())
    await repo.add(resource(OTHER, shared_by=BO, shared_by_name="Bo"))
    assert [r.resource_id for r in await repo.of_cop(COP)] == [mine.resource_id]
    assert [r.cop_id for r in await repo.shared_by(AL.aad_id)] == [COP]
    assert await repo.forget_sharer(AL.aad_id) == 1
    back = await repo.get(COP, mine.resource_id)
    assert back is not None
    assert (back.shared_by, back.shared_by_name, back.title) == ("", "", "Report template")
    assert await repo.remove(COP, mine.resource_id)
    assert not await repo.remove(COP, mine.resource_id)
    monkeypatch.setattr("bot.domain.resources.MAX_PER_COP", 1)
    with pytest.raises(TooMany):
        await repo.add(resource(OTHER))


def test_ranking_weighs_titles_over_tags_over_the_why_line() -> None:
    by_title = resource(title="Budget planning guide", tags=(), why="")
    by_tag = resource(title="Spreadsheet", tags=("budget",), why="")
    by_why = resource(title="Calendar", tags=(), why="Helps with the budget season")
    other = resource(title="Onboarding", tags=("new starters",), why="")
    found = rank([other, by_why, by_tag, by_title], "budgets")
    assert [r.title for r, _ in found] == ["Budget planning guide", "Spreadsheet", "Calendar"]
    assert [r.title for r, _ in rank([by_why, by_tag], "budget", strong_only=True)] == ["Spreadsheet"]
    assert rank([by_title], "the and of") == []
