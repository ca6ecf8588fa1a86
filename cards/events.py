"""Event cards: the form, the announcement with RSVP counts, the list, reminders and feedback."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.turn import JSON, Card
from bot.domain.events import AUDIENCES, KINDS, MAX_VIEWERS, Event, Rsvp, Status
from cards.elements import (
    action_set,
    card,
    container,
    execute,
    facts,
    heading,
    input_choice,
    input_date,
    input_number,
    input_text,
    input_time,
    input_toggle,
    open_url,
    safe,
    text,
)

ANSWER_TITLES: dict[str, str] = {"going": "Going", "maybe": "Maybe", "no": "Can't go"}
YOUR_ANSWER: dict[Status, str] = {
    "going": "You're going.",
    "waitlist": "The event is full, so you're on the waitlist. I'll tell you as soon as a place opens up.",
    "maybe": "You said maybe.",
    "no": "You said you can't go.",
}
REMINDER_LEAD: dict[str, str] = {"24h": "starts tomorrow", "1h": "starts in an hour"}


def when_text(event: Event) -> str:
    start, end = event.local_start, event.local_end
    day = start.strftime("%a %d %b %Y")
    if start.date() == end.date():
        span = f"{day}, {start:%H:%M}\N{EN DASH}{end:%H:%M}"
    else:
        span = f"{day} {start:%H:%M} \N{EN DASH} {end.strftime('%a %d %b %Y')} {end:%H:%M}"
    return f"{span} {start.tzname() or ''} ({event.tz})".replace("  ", " ")


def counts_text(event: Event) -> str:
    parts = [f"**{event.going}** going", f"**{event.maybe}** maybe", f"**{event.no}** can't go"]
    line = " · ".join(parts)
    if event.capacity is not None:
        left = max(0, event.capacity - event.going)
        line += f"  \n{left} of {event.capacity} places left"
        if event.waitlist:
            line += f" · **{event.waitlist}** on the waitlist"
    return line


def _details(event: Event) -> list[JSON]:
    pairs = [("When", when_text(event)), ("What", KINDS.get(event.kind, event.kind))]
    if event.place:
        pairs.append(("Where", safe(event.place, 200)))
    if event.link:
        pairs.append(("Online", "Join link below"))
    elif event.meeting_state == "requested":
        pairs.append(("Online", "Teams meeting being set up"))
    elif event.meeting_state.startswith("failed"):
        pairs.append(("Online", "the organiser will share the link"))
    pairs.append(("For", AUDIENCES.get(event.audience, event.audience)))
    if event.created_by_name:
        pairs.append(("Organiser", safe(event.created_by_name, 100)))
    body: list[JSON] = [facts(pairs)]
    if event.description:
        body.append(text(safe(event.description), spacing="medium"))
    return body


def announcement_card(
    event: Event,
    *,
    now: datetime,
    calendar_url: str = "",
    mine: Rsvp | None = None,
    personal: bool = False,
    lead: bool = False,
) -> Card:
    """The event card. ``personal`` is the clicking user's own view (their answer shown; a lead also gets
    Edit and Cancel); without it, the shared card everyone in the channel sees."""
    body: list[JSON] = [heading(safe(event.title, 120))]
    closed = event.closed_reason(now)
    if event.cancelled:
        body.append(text("This event has been cancelled.", color="attention", weight="bolder"))
    elif closed == "past":
        body.append(text("This event has started, so answers are closed.", subtle=True))
    body += _details(event)
    body.append(container([text(counts_text(event))], separator=True))
    ids = {"cop_id": event.cop_id, "id": event.event_id}
    if not personal and closed is None:
        # Teams refreshes the shared card for at most 60 listed people (``refresh`` below); anyone else sees their
        # own answer with this button (or the card menu's Refresh). In the body: Teams shows at most 5 actions
        body.append(action_set([execute("Show my answer", "event.view", ids)]))
    if personal:
        answer = YOUR_ANSWER[mine.status] if mine else "You haven't answered yet."
        body.append(text(answer, weight="bolder", color="good" if mine and mine.status == "going" else "default"))
    actions: list[JSON] = []
    if closed is None:
        for choice in ("going", "maybe", "no"):
            chosen = (
                personal
                and mine is not None
                and (mine.status == choice or (choice, mine.status) == ("going", "waitlist"))
            )
            actions.append(
                execute(
                    ANSWER_TITLES[choice], "event.rsvp", {**ids, "choice": choice}, style="positive" if chosen else None
                )
            )
    if event.link and not event.cancelled:
        actions.append(open_url("Join online", event.link))
    if calendar_url and not (event.cancelled and not personal):
        actions.append(open_url("Add to calendar", calendar_url))
    if personal and lead and closed is None:
        body.append(action_set([execute("Edit", "event.edit", ids), execute("Cancel event", "event.cancel", ids)]))
    result = card(body, actions, summary=f"{event.title[:60]}: {when_text(event)}")
    if not personal and closed is None:
        # Universal Actions: Teams re-asks the bot for these users' own view (their answer) when they see the card;
        # ``userIds`` are the latest responders' Teams ids (at most 60, the platform's limit); an empty list means
        # nobody automatically, everyone by the card menu's Refresh
        result.content["refresh"] = {
            "action": {"type": "Action.Execute", "verb": "event.view", "data": {"verb": "event.view", **ids}},
            "userIds": list(event.viewers[-MAX_VIEWERS:]),
        }
    return result


def event_form(
    cop_id: str,
    cop_name: str,
    values: Mapping[str, str],
    *,
    event_id: str,
    editing: bool = False,
    error: str = "",
    meetings: bool = False,
) -> Card:
    """The create / edit form; ``error`` is shown at the top and the user's values are kept. A new event's
    id is allocated when the form is made (and sealed into its button), so a double click creates it once.
    ``meetings``: the bot may make Teams meetings in this tenant (a new event offers one; otherwise the form says to
    paste a link)."""
    body: list[JSON] = [heading("Edit the event" if editing else "New event"), text(safe(cop_name, 120), subtle=True)]
    if error:
        body.append(text(safe(error, 300), color="attention", weight="bolder"))
    capacity = values.get("capacity", "")
    capacity_value = int(capacity) if capacity.isdigit() and len(capacity) < 7 else None
    body += [
        input_text("title", label="Title", value=values.get("title", ""), max_length=120, required=True),
        input_choice(
            "kind",
            label="Kind of event",
            choices=[(title, key) for key, title in KINDS.items()],
            value=values.get("kind", "") or "lunch_and_learn",
            required=True,
        ),
        input_date("date", label="Date", value=values.get("date", ""), required=True),
        input_time("start", label="Starts", value=values.get("start", ""), required=True),
        input_time("end", label="Ends", value=values.get("end", ""), required=True),
        input_text("tz", label="Time zone", value=values.get("tz", "") or "Europe/London", max_length=64),
        *_online_inputs(values, editing=editing, meetings=meetings),
        input_text("place", label="Place (room, building)", value=values.get("place", ""), max_length=200),
        input_number("capacity", label="Capacity (empty for no limit)", value=capacity_value, low=1, high=10000),
        input_choice(
            "audience",
            label="Who it is for",
            choices=[(title, key) for key, title in AUDIENCES.items()],
            value=values.get("audience", "") or "all",
            required=True,
        ),
        input_text(
            "description",
            label="Description",
            value=values.get("description", ""),
            multiline=True,
            max_length=2000,
        ),
    ]
    if editing:
        actions = [execute("Save changes", "event.save", {"cop_id": cop_id, "id": event_id}, style="positive")]
    else:
        actions = [execute("Create and announce", "event.create", {"cop_id": cop_id, "id": event_id}, style="positive")]
    return card(body, actions, summary="Edit the event" if editing else "New event")


def _online_inputs(values: Mapping[str, str], *, editing: bool, meetings: bool) -> list[JSON]:
    link = input_text(
        "link", label="Online link (Teams meeting, https://…)", value=values.get("link", ""), max_length=500
    )
    if editing:
        return [link]
    if meetings:
        toggle = input_toggle(
            "teams_meeting",
            title="Make a Teams meeting for it (its link goes on the announcement and the calendar file)",
            value=values.get("teams_meeting", "") == "true",
        )
        return [toggle, link]
    note = text(
        "CoP Bot can't make Teams meetings in this tenant: for an online event, paste the meeting's link.",
        subtle=True,
        spacing="small",
    )
    return [note, link]


def created_card(event: Event, where: str) -> Card:
    body = [
        heading("Event created"),
        text(f"**{safe(event.title, 120)}**, {when_text(event)}."),
        text(where, subtle=True),
    ]
    return card(body, summary="Event created")


def saved_card(event: Event, told: int) -> Card:
    told_text = f"I'm letting the {told} people going know." if told else "Nobody was going yet, so nobody to tell."
    return card(
        [heading("Event updated"), text(f"**{safe(event.title, 120)}**, {when_text(event)}."), text(told_text)],
        summary="Event updated",
    )


def cancel_confirm_card(event: Event) -> Card:
    ids = {"cop_id": event.cop_id, "id": event.event_id}
    body = [
        heading("Cancel this event?"),
        text(f"**{safe(event.title, 120)}**, {when_text(event)}."),
        text(f"{event.going} going and {event.waitlist} waiting will be told. This can't be undone.", subtle=True),
    ]
    return card(
        body,
        [
            execute("Yes, cancel it", "event.cancel.confirm", ids, style="destructive"),
            execute("Keep it", "event.view", ids),
        ],
        summary="Cancel this event?",
    )


def cancelled_card(event: Event, told: int) -> Card:
    return card(
        [
            heading("Event cancelled"),
            text(f"**{safe(event.title, 120)}** ({when_text(event)}) is cancelled."),
            text(f"I'm letting {told} people know." if told else "Nobody was going, so nobody to tell."),
        ],
        summary="Event cancelled",
    )


def change_notice(event: Event, *, calendar_url: str = "") -> Card:
    """To people going, when a lead edits the event."""
    body = [heading("An event you're going to has changed"), text(f"**{safe(event.title, 120)}**"), *_details(event)]
    actions = [open_url("Update my calendar", calendar_url)] if calendar_url else []
    return card(body, actions, summary=f"Changed: {event.title[:60]}")


def cancel_notice(event: Event, *, calendar_url: str = "") -> Card:
    body = [
        heading("Event cancelled"),
        text(f"**{safe(event.title, 120)}** ({when_text(event)}) has been cancelled by the organisers."),
    ]
    actions = [open_url("Remove from my calendar", calendar_url)] if calendar_url else []
    return card(body, actions, summary=f"Cancelled: {event.title[:60]}")


def promoted_notice(event: Event, *, calendar_url: str = "") -> Card:
    body = [
        heading("A place opened up: you're going"),
        text(f"You were on the waitlist for **{safe(event.title, 120)}**, {when_text(event)}. You now have a place."),
        text(
            "If you can't make it any more, open the event and choose Can't go so the next person gets it.", subtle=True
        ),
    ]
    actions = [open_url("Add to calendar", calendar_url)] if calendar_url else []
    return card(body, actions, summary=f"You're going: {event.title[:60]}")


def reminder_card(event: Event, what: str, *, calendar_url: str = "") -> Card:
    body = [
        heading(f"Reminder: {safe(event.title, 120)} {REMINDER_LEAD.get(what, 'is coming up')}"),
        *_details(event),
        text("Can't make it? Open the event and choose Can't go so someone else can have your place.", subtle=True),
    ]
    ids = {"cop_id": event.cop_id, "id": event.event_id}
    actions: list[JSON] = []
    if event.link:
        actions.append(open_url("Join online", event.link))
    actions.append(execute("Open the event", "event.view", ids))
    if calendar_url:
        actions.append(open_url("Add to calendar", calendar_url))
    return card(body, actions, summary=f"Reminder: {event.title[:60]}")


RATING_CHOICES = (
    ("5 - Excellent", "5"),
    ("4 - Good", "4"),
    ("3 - OK", "3"),
    ("2 - Poor", "2"),
    ("1 - Very poor", "1"),
)


def feedback_card(event: Event, *, error: str = "", rating: str = "", comment: str = "") -> Card:
    body: list[JSON] = [
        heading(f"How was {safe(event.title, 120)}?"),
        text(f"{when_text(event)}. Your rating helps the leads plan the next one.", subtle=True),
    ]
    if error:
        body.append(text(safe(error, 200), color="attention", weight="bolder"))
    body += [
        input_choice("rating", label="Your rating", choices=RATING_CHOICES, value=rating, expanded=True, required=True),
        input_text("comment", label="Anything to add? (optional)", value=comment, multiline=True, max_length=1000),
    ]
    ids = {"cop_id": event.cop_id, "id": event.event_id}
    return card(body, [execute("Send feedback", "event.feedback", ids, style="positive")], summary="How was it?")


def feedback_thanks(event: Event, rating: int) -> Card:
    return card(
        [
            heading("Thank you"),
            text(f"You rated **{safe(event.title, 120)}** {rating} out of 5. You can send it again to change it."),
        ],
        summary="Thanks for your feedback",
    )


@dataclass(frozen=True)
class Listed:
    """One row of the events list."""

    event: Event
    cop_name: str
    mine: Rsvp | None
    calendar_url: str = ""


def events_list_card(items: Sequence[Listed], *, show_cop: bool, lead_hint: bool) -> Card:
    body: list[JSON] = [heading("Upcoming events")]
    if not items:
        body.append(text("No upcoming events yet."))
        if lead_hint:
            body.append(text("Leads: type **event new** to create one.", subtle=True))
        return card(body, summary="No upcoming events")
    for item in items[:20]:
        event = item.event
        status = YOUR_ANSWER[item.mine.status] if item.mine else "You haven't answered yet."
        lines = [text(f"**{safe(event.title, 120)}**" + (" (cancelled)" if event.cancelled else ""))]
        if show_cop:
            lines.append(text(safe(item.cop_name, 120), subtle=True, spacing="none"))
        lines += [
            text(when_text(event), spacing="none"),
            text(f"{counts_text(event).splitlines()[0]}  \n{status}", spacing="small", subtle=True),
        ]
        ids = {"cop_id": event.cop_id, "id": event.event_id}
        buttons = [execute("Open", "event.view", ids)]
        if item.calendar_url and not event.cancelled:
            buttons.append(open_url("Add to calendar", item.calendar_url))
        lines.append(action_set(buttons))
        body.append(container(lines, separator=True))
    if len(items) > 20:
        body.append(text(f"…and {len(items) - 20} more.", subtle=True))
    return card(body, summary=f"{len(items)} upcoming events")


def choose_cop_card(cops: Iterable[tuple[str, str]]) -> Card:
    """For a lead of several CoPs starting an event in personal chat."""
    buttons = [execute(safe(name, 60), "event.form", {"cop_id": cop_id, "id": ""}) for cop_id, name in cops]
    return card([heading("New event"), text("Which CoP is the event for?"), action_set(buttons)], summary="Which CoP?")


# -- examples for the card catalogue ---------------------------------------------------------------------------


def _sample(**changes: Any) -> Event:
    start = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
    base = Event(
        cop_id="19:team-1@thread.tacv2",
        event_id="0123456789ab",
        title="Lunch and learn: *Power BI* tips <b>",
        kind="lunch_and_learn",
        start=start,
        end=start + timedelta(hours=1),
        tz="Europe/London",
        link="https://teams.microsoft.com/l/meetup-join/abc",
        place="Room 101, Main Building",
        capacity=20,
        audience="all",
        description="Bring your questions.\n- dashboards\n- sharing",
        created_by="aad-1",
        created_by_name="Alice Adams",
        going=18,
        maybe=3,
        no=2,
        waitlist=0,
        viewers=("29:user-2", "29:user-3"),
    )
    return replace(base, **changes)


def examples() -> Iterable[tuple[str, Card]]:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    event = _sample()
    mine = Rsvp(event.cop_id, event.event_id, "aad-2", "29:user-2", "Bo", "going", now)
    url = "https://copbot.example.ac.uk/files/token"
    yield "announcement", announcement_card(event, now=now, calendar_url=url)
    yield (
        "announcement-mine-lead",
        announcement_card(event, now=now, calendar_url=url, mine=mine, personal=True, lead=True),
    )
    full = _sample(going=20, waitlist=4)
    yield (
        "announcement-waitlisted",
        announcement_card(full, now=now, calendar_url=url, mine=replace(mine, status="waitlist"), personal=True),
    )
    yield "announcement-cancelled", announcement_card(_sample(cancelled=True), now=now, calendar_url=url)
    yield "form-new", event_form(event.cop_id, "Data and Insight", {"tz": "Europe/London"}, event_id="0123456789ab")
    yield (
        "form-new-with-meetings",
        event_form(event.cop_id, "Data and Insight", {"tz": "Europe/London"}, event_id="0123456789ab", meetings=True),
    )
    yield (
        "form-error",
        event_form(
            event.cop_id,
            "Data and Insight",
            {**event.form(), "end": "11:00"},
            event_id=event.event_id,
            editing=True,
            error="The end time must be after the start time.",
        ),
    )
    yield "created", created_card(event, "I'll post the announcement in the CoP's channel in a moment.")
    yield "saved", saved_card(event, 18)
    yield "cancel-confirm", cancel_confirm_card(event)
    yield "cancelled", cancelled_card(event, 18)
    yield "change-notice", change_notice(event, calendar_url=url)
    yield "cancel-notice", cancel_notice(event, calendar_url=url)
    yield "promoted", promoted_notice(event, calendar_url=url)
    yield "reminder-24h", reminder_card(event, "24h", calendar_url=url)
    yield "feedback", feedback_card(event)
    yield "feedback-error", feedback_card(event, error="Choose a rating from 1 to 5.", comment="Great")
    yield "feedback-thanks", feedback_thanks(event, 4)
    yield (
        "list",
        events_list_card(
            [Listed(event, "Data and Insight", mine, url), Listed(_sample(event_id="ba9876543210"), "Research", None)],
            show_cop=True,
            lead_hint=False,
        ),
    )
    yield "list-empty", events_list_card([], show_cop=False, lead_hint=True)
    yield "choose-cop", choose_cop_card([("19:a@thread.tacv2", "Data and Insight"), ("19:b@thread.tacv2", "Research")])
