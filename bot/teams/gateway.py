"""What the app needs from a Teams SDK, and the setting that picks one (``COPBOT_SDK``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from bot.core.config import Settings
from bot.core.turn import JSON, Person, Proactive, Reply, Request, Responder

TokenSource = Callable[[str], str]  # oauth scope -> access token (blocking; run in a worker thread). Tests stub it.
OnRequest = Callable[[Request, Responder], Awaitable[None]]


class Authenticated(Protocol):
    """An activity whose request passed authentication (what is inside belongs to the seam)."""

    @property
    def payload(self) -> Mapping[str, Any]: ...


class Gateway(Proactive, Protocol):
    """Incoming turns and proactive sends, over one SDK."""

    async def authenticate(self, body: Mapping[str, Any], auth_header: str) -> Authenticated:
        """Parse and authenticate one activity. Raises ValueError for activities we cannot use, AuthError for
        missing or invalid credentials (without any network call when the header is malformed) and
        IdentityUnavailable when the identity endpoint cannot be reached in time."""

    async def run(self, authenticated: Any, on_request: OnRequest) -> tuple[int, JSON | None]:
        """Run one activity that :meth:`authenticate` of this gateway returned (``Any``: each seam's own
        :class:`Authenticated`); returns (HTTP status, invoke body or None)."""

    async def send(self, reference: Mapping[str, Any], message: Reply, *, mention: Person | None = None) -> str: ...

    async def update(self, reference: Mapping[str, Any], activity_id: str, message: Reply) -> None: ...

    async def open_personal_chat(self, reference: Mapping[str, Any], person: Person) -> JSON: ...

    async def app_token(self, scope: str) -> str:
        """The bot's own access token for another resource (e.g. Microsoft Graph); IdentityUnavailable when the
        bot has no identity (local mode) or the identity platform cannot be reached in time."""

    async def close(self) -> None:
        """Close connector sessions."""


def open_gateway(
    settings: Settings, now: Callable[[], datetime], *, token_source: TokenSource | None = None
) -> Gateway:
    """The seam ``settings.sdk`` names; each is imported only when chosen (botbuilder is an optional extra)."""
    if settings.sdk == "botbuilder":
        try:
            from bot.teams.botbuilder_seam import BotbuilderGateway
        except ImportError as error:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "COPBOT_SDK=botbuilder needs the botbuilder extra: pip install -e '.[botbuilder]'"
            ) from error
        return BotbuilderGateway(settings, now, token_source=token_source)
    from bot.teams.agents_seam import AgentsGateway

    return AgentsGateway(settings, now, token_source=token_source)
