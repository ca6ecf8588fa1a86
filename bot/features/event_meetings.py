"""Teams meetings for online events (``COPBOT_TEAMS_MEETINGS``): made, moved and removed through Microsoft Graph
(:mod:`bot.teams.graph_meetings`) off the turn, so a slow or refusing Graph never delays or blocks the event.

Creating an event that asks for a meeting stores it as ``requested`` and answers at once; a background task asks
Graph for a meeting organised by the lead who created it, stores its id and join link on the event (the channel
card and the calendar file then carry the link; the card is updated in place) and tells the lead privately
either way — with the reason when Graph refused (permission, policy, throttling, an outage), so they can paste a
link with Edit. Editing the time or title moves the meeting; cancelling the event removes it; failures of those
are told to the lead too. Every message to the lead goes through the outbox with a key per event and outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.core.turn import AppTokens, Person
from bot.domain.cops import Cop
from bot.domain.events import Event, EventRepo
from bot.teams.graph_meetings import GRAPH_SCOPE, GraphMeetings, MeetingError
from cards.elements import notice
from storage.base import StorageError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

Refresh = Callable[["Services", Event], Awaitable[None]]


def graph(services: Services) -> GraphMeetings:
    proactive = services.proactive

    async def token() -> str:
        if not isinstance(proactive, AppTokens):
            raise MeetingError(401, "this setup of CoP Bot has no identity for Microsoft Graph")
        return await proactive.app_token(GRAPH_SCOPE)

    return GraphMeetings(services.settings.graph_url, token, services.settings.connector_timeout)


async def _tell(services: Services, cop: Cop, event: Event, key: str, text: str, reference: Mapping[str, Any]) -> None:
    """A private note to the lead who organises the event."""
    if not event.created_by:
        return
    lead = next((p for p in cop.leads if p.aad_id == event.created_by), None)
    user_id = lead.user_id if lead is not None else ""
    if not user_id:
        return
    person = Person(user_id, event.created_by, event.created_by_name)
    await services.outbox.enqueue(
        f"meeting|{cop.cop_id}|{event.event_id}|{key}|{event.created_by}",
        dict(cop.home_reference) or dict(reference),
        notice(text, title="Teams meeting"),
        services.clock.now(),
        cop_id=cop.cop_id,
        personal_for=person,
    )


def make_later(services: Services, cop: Cop, event: Event, reference: Mapping[str, Any], refresh: Refresh) -> None:
    services.background.start(f"meeting-make:{event.event_id}", _make(services, cop, event, dict(reference), refresh))


async def _make(services: Services, cop: Cop, event: Event, reference: dict[str, Any], refresh: Refresh) -> None:
    repo = EventRepo(services.store)
    title = event.title[:120]
    try:
        meeting = await graph(services).create(event.created_by, event.title, event.start, event.end)
    except MeetingError as error:
        log.warning(
            "no Teams meeting for an event cop_id=%s event=%s status=%d", cop.cop_id, event.event_id, error.status
        )
        try:
            changed = await repo.set_meeting(cop.cop_id, event.event_id, f"failed: {error.reason}")
            if changed is not None:
                await refresh(services, changed)
            await _tell(
                services,
                cop,
                event,
                "failed",
                f"I couldn't make the Teams meeting for **{title}**: {error.reason}. The event is announced; use "
                "Edit on its card to add a meeting link.",
                reference,
            )
        except StorageError:
            log.warning("could not record a failed Teams meeting cop_id=%s event=%s", cop.cop_id, event.event_id)
        return
    try:
        changed = await repo.set_meeting(cop.cop_id, event.event_id, "ready", meeting.meeting_id, meeting.join_url)
    except StorageError:
        log.warning("could not store a Teams meeting cop_id=%s event=%s", cop.cop_id, event.event_id)
        return
    if changed is None:  # the event went away meanwhile: the meeting must not outlive it
        await _quietly_cancel(services, event.created_by, meeting.meeting_id)
        return
    await refresh(services, changed)
    await _tell(
        services,
        cop,
        changed,
        "ready",
        f"The Teams meeting for **{title}** is ready: its join link is on the announcement and in the calendar file.",
        reference,
    )


def move_later(services: Services, cop: Cop, event: Event, reference: Mapping[str, Any]) -> None:
    services.background.start(f"meeting-move:{event.event_id}", _move(services, cop, event, dict(reference)))


async def _move(services: Services, cop: Cop, event: Event, reference: dict[str, Any]) -> None:
    try:
        await graph(services).update(event.created_by, event.meeting_id, event.title, event.start, event.end)
    except MeetingError as error:
        await _tell(
            services,
            cop,
            event,
            f"move-failed-{event.sequence}",
            f"I couldn't move the Teams meeting of **{event.title[:120]}** to the new time: {error.reason}. Change it "
            "in Teams or Outlook, or paste a new link with Edit.",
            reference,
        )


def cancel_later(services: Services, cop: Cop, event: Event, reference: Mapping[str, Any]) -> None:
    services.background.start(f"meeting-cancel:{event.event_id}", _cancel(services, cop, event, dict(reference)))


async def _cancel(services: Services, cop: Cop, event: Event, reference: dict[str, Any]) -> None:
    try:
        await graph(services).cancel(event.created_by, event.meeting_id)
    except MeetingError as error:
        await _tell(
            services,
            cop,
            event,
            "cancel-failed",
            f"**{event.title[:120]}** is cancelled, but I couldn't remove its Teams meeting: {error.reason}. Delete it "
            "in Teams or Outlook.",
            reference,
        )


async def _quietly_cancel(services: Services, organiser: str, meeting_id: str) -> None:
    try:
        await graph(services).cancel(organiser, meeting_id)
    except MeetingError:
        log.warning("a Teams meeting of a removed event is left behind")
