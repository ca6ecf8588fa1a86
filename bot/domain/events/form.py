"""The event form: a card's fields checked and turned into a :class:`Draft` (or an :class:`Invalid` naming
the field)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.core.clock import named_zone
from bot.domain.events.records import (
    AUDIENCES,
    CAPACITY_MAX,
    DESCRIPTION_MAX,
    FURTHEST_AHEAD,
    KINDS,
    LINK_MAX,
    LONGEST_EVENT,
    PLACE_MAX,
    TITLE_MAX,
    Audience,
    Kind,
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_T = TypeVar("_T")


# -- the form -----------------------------------------------------------------------------------------------


EVENT_FIELDS = ("title", "kind", "start", "end", "tz", "link", "place", "capacity", "audience", "description")


@dataclass(frozen=True)
class Draft:
    """A validated event form: times are aware UTC, ``tz`` is where they are shown."""

    title: str
    kind: Kind
    start: datetime
    end: datetime
    tz: str
    link: str = ""
    place: str = ""
    capacity: int | None = None
    audience: Audience = "all"
    description: str = ""
    teams_meeting: bool = False  # make a Teams meeting for it (when the tenant allows; no link given)

    def event_fields(self) -> dict[str, Any]:
        """What an event takes from its form (all but whether to make a Teams meeting)."""
        return {name: getattr(self, name) for name in EVENT_FIELDS}


@dataclass(frozen=True)
class Invalid:
    """Why a form was refused; ``field`` names the input to fix."""

    reason: str
    field: str


FORM_FIELDS = (
    "title",
    "kind",
    "date",
    "start",
    "end",
    "tz",
    "link",
    "place",
    "capacity",
    "audience",
    "description",
    "teams_meeting",
)


def form_values(data: Mapping[str, Any]) -> dict[str, str]:
    """The form's inputs as trimmed strings (what to show again next to an error)."""
    values: dict[str, str] = {}
    for name in FORM_FIELDS:
        raw = data.get(name)
        if isinstance(raw, bool) or raw is None:
            values[name] = ""
        elif isinstance(raw, int | float | str):
            values[name] = str(raw).strip()[: DESCRIPTION_MAX + 1]
        else:
            values[name] = ""
    return values


def local_time(day: date, at: time, tz: ZoneInfo) -> datetime | None:
    """The aware moment of a wall-clock time, or None when clocks skip it (the spring-forward gap)."""
    moment = datetime.combine(day, at, tzinfo=tz)
    back = moment.astimezone(UTC).astimezone(tz)
    if back.replace(tzinfo=None) != moment.replace(tzinfo=None):
        return None
    return moment


def _parsed(pattern: re.Pattern[str], text: str, parse: Callable[[str], _T]) -> _T | None:
    """``parse(text)`` when the text has the expected shape and parses, else None."""
    if not pattern.match(text):
        return None
    try:
        return parse(text)
    except ValueError:
        return None


def validate(values: Mapping[str, str], now: datetime, default_tz: str = "Europe/London") -> Draft | Invalid:
    """Check a submitted event form; pure (takes ``now``)."""
    title = values.get("title", "")
    if len(title) < 3:
        return Invalid("Give the event a title of at least 3 characters.", "title")
    if len(title) > TITLE_MAX:
        return Invalid(f"The title is too long: at most {TITLE_MAX} characters.", "title")
    kind = values.get("kind", "")
    if kind not in KINDS:
        return Invalid("Choose what kind of event this is.", "kind")
    tz_name = values.get("tz", "") or default_tz
    tz = named_zone(tz_name)
    if tz is None:
        return Invalid(f"I don't know the time zone '{tz_name[:64]}'. Use a name like Europe/London.", "tz")
    day_text, start_text, end_text = values.get("date", ""), values.get("start", ""), values.get("end", "")
    day = _parsed(_DATE, day_text, date.fromisoformat)
    if day is None:
        return Invalid("Pick the date of the event.", "date")
    start_at = _parsed(_TIME, start_text, time.fromisoformat)
    if start_at is None:
        return Invalid("Give a start time (HH:MM).", "start")
    end_at = _parsed(_TIME, end_text, time.fromisoformat)
    if end_at is None:
        return Invalid("Give an end time (HH:MM).", "end")
    start = local_time(day, start_at, tz)
    if start is None:
        return Invalid(f"{start_text} doesn't exist on {day_text} in {tz_name}: the clocks go forward.", "start")
    # an end earlier in the day than the start means the event runs past midnight only if it says so: refuse
    end = local_time(day, end_at, tz)
    if end is None:
        return Invalid(f"{end_text} doesn't exist on {day_text} in {tz_name}: the clocks go forward.", "end")
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return Invalid("The end time must be after the start time.", "end")
    if end - start > LONGEST_EVENT:
        return Invalid("An event can last at most 7 days.", "end")
    if start <= now:
        return Invalid("That start time is in the past. Pick a time that is still to come.", "start")
    if start - now > FURTHEST_AHEAD:
        return Invalid("That is more than a year away. Pick a date within the next year.", "date")
    link = values.get("link", "")
    if link:
        if len(link) > LINK_MAX:
            return Invalid(f"The link is too long: at most {LINK_MAX} characters.", "link")
        parts = urlsplit(link)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in link):
            return Invalid("The online link must be a web address starting with https:// (or http://).", "link")
    place = values.get("place", "")
    if len(place) > PLACE_MAX:
        return Invalid(f"The place is too long: at most {PLACE_MAX} characters.", "place")
    teams_meeting = values.get("teams_meeting", "") == "true" and not link  # a pasted link wins
    if not link and not place and not teams_meeting:
        return Invalid("Say where it happens: an online link, a place, or both.", "place")
    capacity: int | None = None
    capacity_text = values.get("capacity", "")
    if capacity_text:
        try:
            number = float(capacity_text)
        except ValueError:
            return Invalid("Capacity must be a whole number of people, or empty for no limit.", "capacity")
        if not number.is_integer() or not 1 <= number <= CAPACITY_MAX:
            return Invalid(f"Capacity must be a whole number from 1 to {CAPACITY_MAX}, or empty.", "capacity")
        capacity = int(number)
    audience = values.get("audience", "") or "all"
    if audience not in AUDIENCES:
        return Invalid("Choose who the event is for.", "audience")
    description = values.get("description", "")
    if len(description) > DESCRIPTION_MAX:
        return Invalid(f"The description is too long: at most {DESCRIPTION_MAX} characters.", "description")
    return Draft(
        title=title,
        kind=kind,  # type: ignore[arg-type]
        start=start,
        end=end,
        tz=tz_name,
        link=link,
        place=place,
        capacity=capacity,
        audience=audience,  # type: ignore[arg-type]
        description=description,
        teams_meeting=teams_meeting,
    )
