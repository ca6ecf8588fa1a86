"""Maps command words and card-action verbs to handlers, checks the caller's role first, and runs the
middleware chain.

Commands are matched on whole words from the start of the text (longest command first), card actions on
the ``verb`` field of the card data; never by substring.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core import messages
from bot.core.turn import Person, PlaceKind, Request, Responder, Role
from bot.domain.cops import Cop, cop_repo
from bot.domain.members import Membership, MembershipRepo, PersonState
from bot.security.sealing import check_action

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)

ALL_PLACES: frozenset[PlaceKind] = frozenset({"personal", "channel", "groupChat"})


class Refusal(Exception):
    """Ends a turn with a clear answer and nothing changed: raised by a handler (or :meth:`Turn.require_cop`),
    answered by the router with :meth:`Turn.tell`."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass
class Turn:
    """What a handler receives: the request, the way to answer, the services, and who and where the caller is.

    The role resolver (bot/routing/roles.py) fills ``role``, ``cop_id`` and what it read to decide them, so a
    handler reuses those rows instead of reading them again: ``cop`` (the row for ``cop_id``; None when that
    CoP is not set up), ``person_state`` (the caller's memberships, when they were read) and ``all_cops``
    (every active CoP, when the resolver listed them in personal chat).
    """

    request: Request
    respond: Responder
    services: Services
    role: Role = Role.ANYONE
    cop_id: str | None = None  # the CoP this turn is about (the team's CoP in a channel), if any
    args: str = ""  # text after the command words
    cop: Cop | None = None
    person_state: PersonState | None = None
    all_cops: list[Cop] | None = None
    action_cop: str | None = None  # a portable button's CoP: the role is resolved for it, not for the team
    refused: str | None = None  # the resolver's reason to refuse a card action (e.g. a CoP of another tenant)
    dedupe_claimed: bool = False  # the redelivery middleware claimed this activity (released if the turn fails)
    # reads a command's early work started as the activity arrived (see Early), by name, for its handler to pick up
    ahead: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    # the role resolution started while the redelivery claim is made (Router.start_role), until resolve_role takes it
    role_ahead: asyncio.Future[tuple[Role, str | None]] | None = None

    @property
    def person(self) -> Person:
        return self.request.person

    async def tell(self, text: str) -> None:
        """A short text answer that works for messages and for Action.Execute invokes alike."""
        if self.request.kind == "action":
            self.respond.answer_action(message=text)
        else:
            await self.respond.reply(text)

    async def load_cop(self, cop_id: str | None = None) -> Cop | None:
        """The CoP ``cop_id`` names (default: this turn's), reusing the row role resolution read."""
        wanted = cop_id or self.cop_id
        if not wanted:
            return None
        if self.cop is not None and self.cop.cop_id == wanted:
            return self.cop
        found = await cop_repo(self.services).get(wanted)
        if wanted == self.cop_id:
            self.cop = found
        return found

    async def require_cop(self, missing: str = messages.NO_COP_HERE, *, active: bool = False) -> Cop:
        """This turn's CoP, or a :class:`Refusal` with ``missing`` ("not set up here", "which CoP?")."""
        cop = await self.load_cop()
        if cop is None or (active and not cop.active):
            raise Refusal(missing)
        return cop

    async def load_all_cops(self) -> list[Cop]:
        """Every active CoP, reusing the list role resolution read (this process's copy: see CopCache)."""
        if self.all_cops is None:
            self.all_cops = await cop_repo(self.services).all_cached()
        return self.all_cops

    async def load_person_state(self) -> PersonState:
        """The caller's stored memberships, reusing the read role resolution made."""
        if self.person_state is None:
            self.person_state = await MembershipRepo(self.services.store).person(self.person.aad_id)
        return self.person_state

    @property
    def memberships(self) -> list[Membership] | None:
        """The caller's memberships, oldest first, when role resolution read them (else None: not read)."""
        return None if self.person_state is None else self.person_state.sorted_memberships()


Handler = Callable[[Turn], Awaitable[None]]
# work a command may start before the turn's storage round trips (the redelivery claim, the role check), on its text
# after the command words: e.g. encoding a question, or reading what the scorecard shows (Turn.ahead). No side effect
# a duplicate or refused activity could leave, and nothing the caller could not see once their role is checked.
Early = Callable[[Turn, str], None]
Middleware = Callable[[Turn, Callable[[], Awaitable[None]]], Awaitable[None]]
RoleResolver = Callable[[Turn], Awaitable[tuple[Role, str | None]]]
EventHandler = Callable[[Turn], Awaitable[None]]


def retrieved(task: asyncio.Future[Any]) -> None:
    """Mark a task's failure as seen; whoever awaits the task gets it (a turn that stopped early never does)."""
    if not task.cancelled():
        task.exception()


@dataclass(frozen=True)
class Command:
    words: tuple[str, ...]
    handler: Handler
    help: str
    role: Role
    places: frozenset[PlaceKind]
    usage: str = ""
    early: Early | None = None

    @property
    def name(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class Action:
    verb: str
    handler: Handler
    role: Role
    # handling the same activity twice has the same effect as once, so a redelivery needs no claim (a round trip)
    idempotent: bool = False
    # the button works wherever it is shared (a message extension's card): in any chat or team of the CoP's tenant
    portable: bool = False


class Router:
    """Registry of commands, card actions and lifecycle events; built per app, never at import time."""

    def __init__(self) -> None:
        self._commands: dict[tuple[str, ...], Command] = {}
        self._actions: dict[str, Action] = {}
        self._events: dict[str, list[EventHandler]] = {}
        self._middleware: list[Middleware] = []
        self._fallback: Handler | None = None
        self._fallback_early: Early | None = None
        self._role_resolver: RoleResolver | None = None

    # -- registration -------------------------------------------------------------------------------
    def command(
        self,
        name: str,
        *,
        help: str,  # noqa: A002 - the natural name for a command's help text
        role: Role = Role.ANYONE,
        places: Iterable[PlaceKind] = ALL_PLACES,
        usage: str = "",
        early: Early | None = None,
    ) -> Callable[[Handler], Handler]:
        """``early``: started with the text after the command words as the activity arrives, before any storage
        round trip (see :data:`Early`)."""
        words = tuple(name.lower().split())
        if not words:
            raise ValueError("empty command name")

        def register(handler: Handler) -> Handler:
            if words in self._commands:
                raise ValueError(f"command {name!r} registered twice")
            self._commands[words] = Command(words, handler, help, role, frozenset(places), usage, early)
            return handler

        return register

    def action(
        self, verb: str, *, role: Role = Role.ANYONE, idempotent: bool = False, portable: bool = False
    ) -> Callable[[Handler], Handler]:
        """``idempotent=True``: the handler may safely run twice for one activity (e.g. "set my RSVP to X"), so
        the redelivery middleware skips its claim write for this verb. ``portable=True``: the button acts for the
        presser in the CoP its sealed data names wherever the card was shared (another team's channel, a group
        chat), with the role resolved for that CoP; without it, a button of CoP A pressed in CoP B's team is
        refused."""

        def register(handler: Handler) -> Handler:
            if verb in self._actions:
                raise ValueError(f"action {verb!r} registered twice")
            self._actions[verb] = Action(verb, handler, role, idempotent, portable)
            return handler

        return register

    def on(self, kind: str) -> Callable[[EventHandler], EventHandler]:
        """Lifecycle events: installed, uninstalled, members_added, members_removed, channel_message, files (a
        personal message carrying files), action_accepted (a card action that passed its seal and role checks,
        just before its handler)."""

        def register(handler: EventHandler) -> EventHandler:
            self._events.setdefault(kind, []).append(handler)
            return handler

        return register

    def fallback(self, *, early: Early | None = None) -> Callable[[Handler], Handler]:
        """Runs for text that is not a command (free-text questions); ``early`` as for :meth:`command`."""

        def register(handler: Handler) -> Handler:
            self._fallback, self._fallback_early = handler, early
            return handler

        return register

    def use(self, middleware: Middleware) -> None:
        self._middleware.append(middleware)

    def set_role_resolver(self, resolver: RoleResolver) -> None:
        self._role_resolver = resolver

    # -- lookup -------------------------------------------------------------------------------------
    @property
    def commands(self) -> list[Command]:
        return sorted(self._commands.values(), key=lambda c: c.words)

    @property
    def action_verbs(self) -> list[str]:
        return sorted(self._actions)

    def is_idempotent(self, verb: str) -> bool:
        action = self._actions.get(verb)
        return action is not None and action.idempotent

    def is_portable(self, verb: str) -> bool:
        action = self._actions.get(verb)
        return action is not None and action.portable

    def match_command(self, text: str) -> tuple[Command, str] | None:
        lowered = [w.lower() for w in text.split(None, 3)[:3]]  # commands are at most three words
        for size in range(min(len(lowered), 3), 0, -1):
            command = self._commands.get(tuple(lowered[:size]))
            if command is not None:
                rest = text.split(None, size)
                return command, rest[size] if len(rest) > size else ""
        return None

    def commands_for(self, role: Role, place: PlaceKind) -> list[Command]:
        return [c for c in self.commands if c.role <= role and place in c.places]

    # -- dispatch -----------------------------------------------------------------------------------
    def _start_early(self, turn: Turn) -> None:
        """Start the early work of the command this message will run, if it has any (see :data:`Early`)."""
        request = turn.request
        if request.kind != "message" or request.action is not None or request.submitted:
            return
        if request.place.kind != "personal" and not request.mentioned_bot:
            return
        text = request.text.strip()
        matched = self.match_command(text)
        early, args = (matched[0].early, matched[1]) if matched is not None else (self._fallback_early, text)
        if early is not None and (args or matched is not None):  # free text without text has nothing to start
            early(turn, args)

    async def dispatch(self, turn: Turn) -> None:
        self._start_early(turn)

        async def run(index: int) -> None:
            if index < len(self._middleware):
                await self._middleware[index](turn, lambda: run(index + 1))
            else:
                try:
                    await self._route(turn)
                except Refusal as refusal:
                    log.info("refused activity_id=%s cop_id=%s", turn.request.activity_id, turn.cop_id)
                    await turn.tell(refusal.reply)

        await run(0)

    def start_role(self, turn: Turn) -> None:
        """Begin resolving the caller's role now, so that its reads overlap the redelivery claim's round trip (the
        dedupe middleware calls this as it claims); :meth:`resolve_role` then waits for it. The resolver only
        reads, so a duplicate delivery that stops at the claim leaves nothing behind."""
        if self._role_resolver is None or turn.role_ahead is not None:
            return
        self._note_action_cop(turn)
        started = asyncio.ensure_future(self._role_resolver(turn))
        started.add_done_callback(retrieved)  # a turn that stops at the claim never awaits it
        turn.role_ahead = started

    async def resolve_role(self, turn: Turn) -> None:
        ahead, turn.role_ahead = turn.role_ahead, None
        if ahead is not None:
            turn.role, turn.cop_id = await ahead
        elif self._role_resolver is not None:
            turn.role, turn.cop_id = await self._role_resolver(turn)

    def _note_action_cop(self, turn: Turn) -> None:
        """A portable button's CoP is the one its data names: the role is resolved for it (Action.portable)."""
        request = turn.request
        action = self._actions.get(request.action.verb) if request.action is not None else None
        if action is not None and action.portable and request.action is not None:
            named_cop = request.action.data.get("cop_id")
            if isinstance(named_cop, str) and 0 < len(named_cop) <= 512:
                turn.action_cop = named_cop

    async def _route(self, turn: Turn) -> None:
        request = turn.request
        action = self._actions.get(request.action.verb) if request.action is not None else None
        self._note_action_cop(turn)
        await self.resolve_role(turn)
        if request.action is not None:
            refused = check_action(
                request.action.verb, request.action.data, turn.services.signer, turn.services.clock.now()
            )
            if refused is not None:
                log.info("refused card action verb=%s activity_id=%s", request.action.verb[:40], request.activity_id)
                await turn.tell(refused)
                return
            refusal = turn.refused
            if refusal is not None:
                log.info(
                    "refused a card action of another tenant verb=%s activity_id=%s",
                    request.action.verb[:40],
                    request.activity_id,
                )
                await turn.tell(refusal)
                return
            named = request.action.data.get("cop_id")
            portable = action is not None and action.portable
            if request.place.team_id and named and named != request.place.team_id and not portable:
                # a genuine button of CoP A pressed (or replayed) in CoP B's team: the role was resolved for B
                log.info(
                    "refused a card action of another CoP verb=%s activity_id=%s cop_id=%s",
                    request.action.verb[:40],
                    request.activity_id,
                    turn.cop_id,
                )
                await turn.tell(messages.OTHER_COP)
                return
            if action is None:
                await turn.tell(messages.UNKNOWN_ACTION)
                return
            if turn.role < action.role:
                await turn.tell(messages.NOT_ALLOWED.format(who=messages.ROLE_NAMES[action.role]))
                return
            for hook in self._events.get("action_accepted", []):  # e.g. counting presses of a sent card's buttons
                await hook(turn)
            await action.handler(turn)
            return
        if request.kind == "message":
            if request.submitted and not request.text.strip():
                # an Action.Submit without a verb (every button the bot makes has one) and no text: someone pressed
                # a button and waits, in a channel too, where a Submit carries no @mention
                log.info("card submit with nothing to act on activity_id=%s", request.activity_id)
                await turn.respond.reply(messages.EMPTY_SUBMIT)
                return
            if request.files and request.place.is_personal and self._events.get("files"):
                for handler in self._events["files"]:  # a file sent in personal chat (e.g. a CSV to import)
                    await handler(turn)
                return
            if request.place.kind != "personal" and not request.mentioned_bot and not request.submitted:
                for handler in self._events.get("channel_message", []):
                    await handler(turn)
                return
            matched = self.match_command(request.text)
            if matched is None:
                if self._fallback is not None and request.text.strip():
                    turn.args = request.text.strip()
                    await self._fallback(turn)
                else:
                    await turn.respond.reply(
                        messages.UNKNOWN_COMMAND if request.text.strip() else messages.EMPTY_MESSAGE
                    )
                return
            command, turn.args = matched
            if request.place.kind not in command.places:
                await turn.respond.reply(
                    messages.WRONG_PLACE.format(
                        command=command.name,
                        places=" or ".join(messages.PLACE_NAMES[p] for p in sorted(command.places)),
                    )
                )
                return
            if turn.role < command.role:
                await turn.respond.reply(messages.NOT_ALLOWED.format(who=messages.ROLE_NAMES[command.role]))
                return
            log.info("command %s activity_id=%s cop_id=%s", command.name, request.activity_id, turn.cop_id)
            await command.handler(turn)
            return
        for handler in self._events.get(request.kind, []):
            await handler(turn)
