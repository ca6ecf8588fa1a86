"""Teams meetings for online events, made through Microsoft Graph as the bot's own app.

``POST /users/{organiser}/onlineMeetings`` creates a meeting for the lead who creates the event (the organiser),
``PATCH`` moves or renames it with the event, ``DELETE`` removes it when the event is cancelled. That needs the
application permission ``OnlineMeetings.ReadWrite.All`` and a Teams application access policy granted to the
organisers (deployment/README.md, "Teams meetings for online events"); without them Graph answers 403 and the
lead is told so and pastes a link instead. Graph's HTTP API is called with aiohttp (the app's HTTP client) and
the bot's own token for Graph (from the Teams seam, so every identity type the bot supports works); the Graph SDK
would add a second HTTP stack and Kiota for three calls.

Failures never block an event: :class:`MeetingError` carries a sentence for the lead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
SUBJECT_MAX = 255


class MeetingError(Exception):
    """Graph could not make, change or remove the meeting; ``reason`` says why, for the lead."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"Microsoft Graph answered {status}: {reason}")
        self.status = status
        self.reason = reason


def _reason(status: int) -> str:
    if status == 401:
        return "Microsoft Graph did not accept CoP Bot's sign-in"
    if status == 403:
        return (
            "this tenant has not allowed CoP Bot to create Teams meetings for you (an administrator grants "
            "OnlineMeetings.ReadWrite.All and an application access policy)"
        )
    if status == 404:
        return "Microsoft Graph does not know you as a Teams user"
    if status == 429:
        return "Microsoft Graph is busy right now (throttled)"
    if status >= 500:
        return "Microsoft Graph failed"
    return f"Microsoft Graph refused the request ({status})"


@dataclass(frozen=True)
class OnlineMeeting:
    meeting_id: str
    join_url: str


def _body(subject: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {
        "subject": subject[:SUBJECT_MAX],
        "startDateTime": start.isoformat(),
        "endDateTime": end.isoformat(),
    }


class GraphMeetings:
    def __init__(self, base_url: str, token: Callable[[], Awaitable[str]], timeout_s: float) -> None:
        self._base = base_url.rstrip("/")
        self._token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def create(self, organiser_aad: str, subject: str, start: datetime, end: datetime) -> OnlineMeeting:
        path = f"/users/{quote(organiser_aad, safe='')}/onlineMeetings"
        data = await self._call("POST", path, _body(subject, start, end))
        join_url = str(data.get("joinWebUrl") or data.get("joinUrl") or "")
        meeting_id = str(data.get("id") or "")
        if not join_url.startswith("https://") or not meeting_id:
            raise MeetingError(502, "Microsoft Graph made the meeting but gave no join link")
        return OnlineMeeting(meeting_id, join_url)

    async def update(self, organiser_aad: str, meeting_id: str, subject: str, start: datetime, end: datetime) -> None:
        path = f"/users/{quote(organiser_aad, safe='')}/onlineMeetings/{quote(meeting_id, safe='')}"
        await self._call("PATCH", path, _body(subject, start, end))

    async def cancel(self, organiser_aad: str, meeting_id: str) -> None:
        path = f"/users/{quote(organiser_aad, safe='')}/onlineMeetings/{quote(meeting_id, safe='')}"
        try:
            await self._call("DELETE", path, None)
        except MeetingError as error:
            if error.status != 404:  # already gone: what cancelling wanted
                raise

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            token = await self._token()
        except Exception as error:  # any identity failure: the lead hears it, the event goes on
            log.warning("no token for Microsoft Graph error=%s", type(error).__name__)
            raise MeetingError(401, "CoP Bot could not sign in to Microsoft Graph") from None
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with (
                aiohttp.ClientSession(timeout=self._timeout) as session,
                session.request(method, self._base + path, json=body, headers=headers) as response,
            ):
                if response.status >= 400:
                    log.warning("Microsoft Graph refused method=%s status=%d", method, response.status)
                    raise MeetingError(response.status, _reason(response.status))
                if response.status == 204 or method == "DELETE":
                    return {}
                data = await response.json(content_type=None)
                return data if isinstance(data, dict) else {}
        except TimeoutError:
            log.warning("Microsoft Graph did not answer in time method=%s", method)
            raise MeetingError(0, "Microsoft Graph did not answer in time") from None
        except (aiohttp.ClientError, OSError, ValueError) as error:
            log.warning("Microsoft Graph unreachable method=%s error=%s", method, type(error).__name__)
            raise MeetingError(0, "Microsoft Graph could not be reached") from None
