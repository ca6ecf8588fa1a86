"""Cards for what happened before and outside the bot: record a past activity, log a meeting held elsewhere with
its actions, the open actions, an action's due-day reminder and the lead-sponsor meeting reminder."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from bot.core.turn import JSON, Card
from bot.domain.cops import PersonRef
from bot.domain.records import (
    ACTION_MAX,
    ACTIONS_PER_MEETING,
    ATTENDANCE_MAX,
    KINDS,
    MEETING_KINDS,
    NOTES_MAX,
    TITLE_MAX,
    Action,
    Record,
)
from cards.elements import (
    card,
    container,
    execute,
    facts,
    heading,
    input_choice,
    input_date,
    input_number,
    input_text,
    safe,
    text,
)

RECORDS_SHOWN = 15
PAST_KINDS = ("lunch_and_learn", "core_meeting", "workshop", "social", "lead_sponsor")


def _day(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b %Y}"


def record_event_card(cop_id: str, cop_name: str, today: date, values: Mapping[str, str] | None = None) -> Card:
    v = values or {}
    body: list[JSON] = [
        heading(f"Record a past activity: {safe(cop_name, 120)}"),
        text(
            "For a Lunch and Learn, core meeting, workshop or social that already happened. Nothing is announced; "
            "it counts in the health scorecard and the programme view. Plan a future event with **event new**.",
            subtle=True,
            size="small",
        ),
        input_choice(
            "kind",
            label="What was it?",
            choices=[(KINDS[k], k) for k in PAST_KINDS],
            value=v.get("kind", "lunch_and_learn"),
            required=True,
        ),
        input_date("date", label="Date", value=v.get("date", today.isoformat()), required=True),
        input_text("title", label="Title", value=v.get("title", ""), max_length=TITLE_MAX),
        input_number("attendance", label="How many attended", low=0, high=ATTENDANCE_MAX),
        input_text("notes", label="Notes", value=v.get("notes", ""), multiline=True, max_length=NOTES_MAX),
    ]
    return card(
        body,
        [execute("Record", "record.save", {"cop_id": cop_id}, style="positive")],
        summary=f"Record a past activity for {cop_name[:60]}",
    )


def record_meeting_card(
    cop_id: str, cop_name: str, today: date, people: Sequence[PersonRef], values: Mapping[str, str] | None = None
) -> Card:
    v = values or {}
    choices = [(safe(p.name or "(unnamed)", 80), p.aad_id) for p in people]
    body: list[JSON] = [
        heading(f"Log a meeting: {safe(cop_name, 120)}"),
        text(
            "A core members' meeting or a lead\N{EN DASH}sponsor meeting held outside the bot. Each action's owner "
            "gets a reminder from me on its due day.",
            subtle=True,
            size="small",
        ),
        input_choice(
            "kind",
            label="Meeting",
            choices=[(KINDS[k], k) for k in MEETING_KINDS],
            value=v.get("kind", "lead_sponsor"),
            required=True,
        ),
        input_date("date", label="Date", value=v.get("date", today.isoformat()), required=True),
    ]
    if choices:
        body.append(input_choice("attendees", label="Who attended", choices=choices, multi=True))
    body.append(input_text("notes", label="Notes", value=v.get("notes", ""), multiline=True, max_length=NOTES_MAX))
    for n in range(1, ACTIONS_PER_MEETING + 1):
        items: list[JSON] = [
            input_text(f"action{n}", label=f"Action {n}", max_length=ACTION_MAX, placeholder="What was agreed")
        ]
        if choices:
            items.append(input_choice(f"owner{n}", label=f"Action {n}: owner", choices=choices))
        items.append(input_date(f"due{n}", label=f"Action {n}: due"))
        body.append(container(items, separator=True))
    return card(
        body,
        [execute("Log meeting", "record.meeting", {"cop_id": cop_id}, style="positive")],
        summary=f"Log a meeting for {cop_name[:60]}",
    )


def recorded_card(record: Record, actions: Sequence[Action]) -> Card:
    rows = [("What", KINDS[record.kind]), ("Date", _day(record.day))]
    if record.title:
        rows.append(("Title", safe(record.title, TITLE_MAX)))
    if record.attendance is not None:
        rows.append(("Attended", str(record.attendance)))
    if record.attendees:
        rows.append(("Who attended", ", ".join(safe(p.name, 80) for p in record.attendees)))
    body: list[JSON] = [heading("Recorded"), facts(rows)]
    if record.notes:
        body.append(text(safe(record.notes, NOTES_MAX)))
    for a in actions:
        body.append(
            text(f"• {safe(a.text, ACTION_MAX)} ({safe(a.owner.name, 80)}, due {_day(a.due)})", spacing="small")
        )
    body.append(text("It counts in the health scorecard and the programme view.", subtle=True, size="small"))
    return card(body, summary=f"Recorded: {KINDS[record.kind]} on {record.day.isoformat()}")


def actions_card(cop_id: str, cop_name: str, actions: Sequence[Action], today: date) -> Card:
    body: list[JSON] = [heading(f"Open actions: {safe(cop_name, 120)}")]
    if not actions:
        body.append(text("No open actions. Log a meeting and its actions with **record meeting**."))
    for a in actions[:30]:
        late = " · **overdue**" if a.due < today else ""
        body.append(
            container(
                [
                    text(safe(a.text, ACTION_MAX)),
                    text(f"{safe(a.owner.name, 80)} · due {_day(a.due)}{late}", subtle=True, size="small"),
                    {
                        "type": "ActionSet",
                        "actions": [execute("Mark done", "action.close", {"cop_id": cop_id, "id": a.action_id})],
                    },
                ],
                separator=True,
            )
        )
    if len(actions) > 30:
        body.append(text(f"… and {len(actions) - 30} more.", subtle=True))
    return card(body, summary=f"{len(actions)} open actions in {cop_name[:60]}")


def records_card(cop_id: str, cop_name: str, records: Sequence[Record], message: str = "") -> Card:
    """The most recent records, newest first, each with a button to remove one entered by mistake."""
    body: list[JSON] = [heading(f"Recorded: {safe(cop_name, 120)}")]
    if message:
        body.append(text(safe(message, 300), color="good"))
    if not records:
        body.append(text("Nothing recorded yet. Use **record event** or **record meeting**."))
    for r in records[:RECORDS_SHOWN]:
        what = f"{_day(r.day)} · {KINDS[r.kind]}" + (f" · {safe(r.title, TITLE_MAX)}" if r.title else "")
        body.append(
            container(
                [
                    text(what),
                    text(f"recorded by {safe(r.by.name, 80)}", subtle=True, size="small"),
                    {
                        "type": "ActionSet",
                        "actions": [execute("Remove", "record.remove", {"cop_id": cop_id, "id": r.record_id})],
                    },
                ],
                separator=True,
            )
        )
    if len(records) > RECORDS_SHOWN:
        body.append(text(f"… and {len(records) - RECORDS_SHOWN} older ones.", subtle=True))
    return card(body, summary=f"Recorded in {cop_name[:60]}")


def action_reminder_card(cop_id: str, cop_name: str, action: Action) -> Card:
    body = [
        heading("An action is due today"),
        text(safe(action.text, ACTION_MAX)),
        facts([("CoP", safe(cop_name, 120)), ("Due", _day(action.due))]),
    ]
    return card(
        body,
        [execute("Mark done", "action.close", {"cop_id": cop_id, "id": action.action_id}, style="positive")],
        summary=f"{cop_name[:60]}: an action is due today",
    )


def lead_sponsor_due_card(cop_name: str, last: datetime | None, weeks: int, tz: ZoneInfo) -> Card:
    if last is None:
        said = "No lead\N{EN DASH}sponsor meeting is recorded yet."
    else:
        said = f"The last lead\N{EN DASH}sponsor meeting was on {_day(last.astimezone(tz).date())}."
    body = [
        heading(f"Time to meet the sponsor: {safe(cop_name, 120)}"),
        text(said),
        text(
            f"The programme's guidance: leads meet the sponsor at least every {weeks} weeks. Book it with "
            "**event new**, or log a meeting held elsewhere with **record meeting**.",
        ),
    ]
    return card(body, summary=f"{cop_name[:60]}: the lead-sponsor meeting is due")


def examples() -> Iterable[tuple[str, Card]]:
    today = date(2026, 11, 23)
    people = (PersonRef("aad-1", "29:1", "Alice Adams"), PersonRef("aad-2", "29:2", "Eve <Sponsor>"))
    record = Record(
        "0123456789ab",
        "19:c@thread.tacv2",
        "lead_sponsor",
        date(2026, 11, 2),
        datetime(2026, 11, 2, 12, tzinfo=UTC),
        "",
        None,
        people,
        "Agreed the spring plan.",
        people[0],
        datetime(2026, 11, 3, tzinfo=UTC),
    )
    action = Action(
        "ba9876543210",
        "19:c@thread.tacv2",
        record.record_id,
        "Draft the terms of reference",
        people[0],
        date(2026, 11, 30),
        "open",
        datetime(2026, 11, 3, tzinfo=UTC),
        people[0],
    )
    yield "record-event", record_event_card("19:c@thread.tacv2", "Data and Insight", today)
    yield "record-meeting", record_meeting_card("19:c@thread.tacv2", "Data and Insight", today, people)
    yield "recorded", recorded_card(record, [action])
    yield "actions", actions_card("19:c@thread.tacv2", "Data and Insight", [action], today)
    yield "actions-none", actions_card("19:c@thread.tacv2", "Data and Insight", [], today)
    yield "records", records_card("19:c@thread.tacv2", "Data and Insight", [record], "Removed one record.")
    yield "records-none", records_card("19:c@thread.tacv2", "Data and Insight", [])
    yield "action-reminder", action_reminder_card("19:c@thread.tacv2", "Data and Insight", action)
    yield (
        "lead-sponsor-due",
        lead_sponsor_due_card("Data and Insight", datetime(2026, 10, 1, 12, tzinfo=UTC), 6, ZoneInfo("Europe/London")),
    )
