"""Events, RSVPs with capacity and waitlist, and feedback (table ``events``).

- ``records`` — the stored records (:class:`Event`, :class:`Rsvp`, :class:`Feedback`), their rows and limits;
- ``form`` — the event form's fields checked into a :class:`Draft`;
- ``rsvps`` — the group-committing RSVP writer;
- ``repository`` — :class:`EventRepo`: everything else that reads or writes the table;
- ``history`` — what governance, the health scorecard and the reminders read.

The names other packages use are re-exported here.
"""

from bot.domain.events.form import (
    Draft as Draft,
)
from bot.domain.events.form import (
    Invalid as Invalid,
)
from bot.domain.events.form import (
    form_values as form_values,
)
from bot.domain.events.form import (
    validate as validate,
)
from bot.domain.events.history import (
    Due as Due,
)
from bot.domain.events.history import (
    Ratings as Ratings,
)
from bot.domain.events.history import (
    due_messages as due_messages,
)
from bot.domain.events.history import (
    feedback_average as feedback_average,
)
from bot.domain.events.history import (
    last_core_meeting as last_core_meeting,
)
from bot.domain.events.history import (
    last_lead_sponsor_meeting as last_lead_sponsor_meeting,
)
from bot.domain.events.history import (
    lunch_and_learns_between as lunch_and_learns_between,
)
from bot.domain.events.history import (
    meeting_starts as meeting_starts,
)
from bot.domain.events.history import (
    summarise as summarise,
)
from bot.domain.events.records import (
    AUDIENCES as AUDIENCES,
)
from bot.domain.events.records import (
    CHOICES as CHOICES,
)
from bot.domain.events.records import (
    COMMENT_MAX as COMMENT_MAX,
)
from bot.domain.events.records import (
    KINDS as KINDS,
)
from bot.domain.events.records import (
    MAX_VIEWERS as MAX_VIEWERS,
)
from bot.domain.events.records import (
    STATUSES as STATUSES,
)
from bot.domain.events.records import (
    TABLE as TABLE,
)
from bot.domain.events.records import (
    Audience as Audience,
)
from bot.domain.events.records import (
    Choice as Choice,
)
from bot.domain.events.records import (
    Event as Event,
)
from bot.domain.events.records import (
    Feedback as Feedback,
)
from bot.domain.events.records import (
    Kind as Kind,
)
from bot.domain.events.records import (
    Rsvp as Rsvp,
)
from bot.domain.events.records import (
    Status as Status,
)
from bot.domain.events.records import (
    is_event_id as is_event_id,
)
from bot.domain.events.records import (
    new_event_id as new_event_id,
)
from bot.domain.events.repository import (
    EventRepo as EventRepo,
)
from bot.domain.events.rsvps import (
    Busy as Busy,
)
from bot.domain.events.rsvps import (
    RsvpOutcome as RsvpOutcome,
)
from bot.domain.events.rsvps import (
    Shared as Shared,
)
