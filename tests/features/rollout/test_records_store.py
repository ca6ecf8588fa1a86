"""The records repository on SQLite and on Azurite: records and actions per CoP, open actions due across CoPs,
closing, and erasure by identity."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.domain.cops import PersonRef
from bot.domain.records import Action, Record, RecordRepo
from storage.base import TableStore

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
LEAD = PersonRef("aad-1", "29:1", "Alice Adams")
CORA = PersonRef("aad-11", "29:11", "Cora Core")
ALINA = PersonRef("aad-12", "29:12", "Alina")  # shares a prefix of Alice's name: never touched by her erasure


def record(cop_id: str, record_id: str, kind: str, day: date, attendees: tuple[PersonRef, ...]) -> Record:
    held = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return Record(record_id, cop_id, kind, day, held, "", None, attendees, "Notes", LEAD, NOW)  # type: ignore[arg-type]


def action(cop_id: str, action_id: str, owner: PersonRef, due: date) -> Action:
    return Action(action_id, cop_id, "r00000000001", f"Do {action_id}", owner, due, "open", NOW, LEAD)


async def test_records_and_actions_round_trip(store: TableStore) -> None:
    repo = RecordRepo(store)
    await repo.add(
        record("19:a@thread.tacv2", "r00000000001", "core_meeting", date(2026, 11, 20), (CORA, ALINA)),
        [action("19:a@thread.tacv2", "a00000000001", CORA, date(2026, 11, 25))],
    )
    await repo.add(
        record("19:b@thread.tacv2", "r00000000002", "lead_sponsor", date(2026, 10, 1), (LEAD,)),
        [action("19:b@thread.tacv2", "a00000000002", ALINA, date(2026, 12, 1))],
    )
    [mine] = await repo.of_cop("19:a@thread.tacv2")
    assert (mine.kind, mine.day, mine.attendees) == ("core_meeting", date(2026, 11, 20), (CORA, ALINA))
    due = await repo.open_actions_due(date(2026, 11, 25))
    assert [a.action_id for a in due] == ["a00000000001"]  # across CoPs, only what is due by then
    assert len(await repo.open_actions_due(date(2026, 12, 1))) == 2
    await repo.mark_reminded(due[0])
    assert [a.action_id for a in await repo.open_actions_due(date(2026, 12, 1))] == ["a00000000002"]
    closed = await repo.close("19:a@thread.tacv2", "a00000000001", LEAD, NOW)
    assert closed is not None
    assert closed.status == "closed"
    assert closed.closed_by == LEAD
    assert await repo.actions_of("19:a@thread.tacv2") == []
    assert len(await repo.actions_of("19:a@thread.tacv2", open_only=False)) == 1

    records, actions = await repo.rows_of_person(CORA.aad_id)
    assert [r.record_id for r in records] == ["r00000000001"]
    assert [a.action_id for a in actions] == ["a00000000001"]
    assert await repo.erase_person(CORA.aad_id) == 2
    [after] = await repo.of_cop("19:a@thread.tacv2")
    assert after.attendees == (ALINA,)
    [owned] = await repo.actions_of("19:a@thread.tacv2", open_only=False)
    assert owned.owner.name == "former member"
    assert await repo.rows_of_person(CORA.aad_id) == ([], [])
    [untouched] = await repo.of_cop("19:b@thread.tacv2")
    assert untouched.attendees == (LEAD,)
