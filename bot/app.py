"""The aiohttp application: ``create_app(settings)`` wires settings, storage, the SDK seam and the router."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
from aiohttp import web

from bot.answers.encoder import LazyEncoder
from bot.answers.prebuilt import FILE_NAME as PREBUILT_VECTORS
from bot.answers.prebuilt import PrebuiltEncoder
from bot.answers.ranker import Encoder
from bot.core.clock import Clock, SystemClock
from bot.core.config import Settings, SettingsError, terms_notice
from bot.core.turn import Request, Responder
from bot.domain.cops import CopCache
from bot.features import build_due_work, build_router
from bot.features.event_notices import settle as settle_event_updates
from bot.features.faq import close_indexes
from bot.health.marking import MarkingStore, Marks
from bot.http_log import MalformedRequests
from bot.jobs.background import Background, settle_background
from bot.jobs.outbox import Outbox
from bot.jobs.pacing import DeliveryPolicy
from bot.jobs.scheduler import start_scheduler, stop_scheduler
from bot.report.routes import register as register_report
from bot.routing import middleware
from bot.routing.router import Turn
from bot.security.links import Links
from bot.security.privacy import PrivacyRegistry
from bot.security.sealing import SealingResponder
from bot.security.signing import Signer
from bot.services import Services
from bot.teams import AuthError, DeliveryError, Gateway, IdentityUnavailable, TokenSource, open_gateway
from bot.teams.activity import tenant_of
from bot.teams.claims import TEAMS_CHANNEL
from storage.base import StorageError, TableStore

log = logging.getLogger(__name__)

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
GATEWAY: web.AppKey[Gateway] = web.AppKey("gateway")
TURNS: web.AppKey[asyncio.Semaphore] = web.AppKey("turns", asyncio.Semaphore)  # activities worked on at once
Hook = Callable[[Services], Awaitable[None]]
STARTUP_HOOKS: web.AppKey[list[Hook]] = web.AppKey("startup_hooks", list)
CLEANUP_HOOKS: web.AppKey[list[Hook]] = web.AppKey("cleanup_hooks", list)

# Activity types the Bot Framework defines; anything else is refused as malformed.
KNOWN_TYPES = frozenset(
    {
        "message", "conversationUpdate", "invoke", "event", "installationUpdate", "messageReaction", "typing",
        "endOfConversation", "messageUpdate", "messageDelete", "contactRelationUpdate", "deleteUserData", "trace",
        "handoff", "command", "commandResult", "suggestion",
    }
)  # fmt: skip
NEEDS_PARTIES = frozenset({"message", "conversationUpdate", "invoke", "installationUpdate", "messageReaction"})


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_store(settings: Settings) -> TableStore:
    if settings.storage == "azure":
        from storage.azure import AzureTableStore

        if settings.azure_connection_string:
            return AzureTableStore.from_connection_string(settings.azure_connection_string)
        from azure.identity.aio import DefaultAzureCredential

        return AzureTableStore.from_account_url(settings.azure_account_url, DefaultAzureCredential())
    from storage.sqlite import SqliteStore

    return SqliteStore(settings.sqlite_path)


# No activity Teams sends comes near this (a card submitted in a value is about a dozen levels deep); much deeper
# bodies make json.loads, the SDK's model and the recursive walks over card data (limits, sealing) raise
# RecursionError, so they are refused before any of them runs.
MAX_JSON_DEPTH = 64
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_AS_STEPS = bytes.maketrans(b"[]{}", b"\x01\xff\x01\xff")  # +1 and -1 as int8


def _nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` opens more than ``limit`` arrays or objects inside one another (brackets
    inside strings do not count). Text that is not JSON is left for the parser to refuse.

    Runs on the event loop before authentication, so no step loops in Python: strings out, everything but
    brackets out, then the running depth's maximum (about 2 ms for a full 256 KB body of brackets)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # every ordinary activity: no scan at all
    steps = _JSON_STRING.sub(b"", raw).translate(_AS_STEPS, _NOT_BRACKETS)
    if not steps:
        return False
    return int(np.cumsum(np.frombuffer(steps, dtype=np.int8), dtype=np.int32).max()) > limit


# A JSON string may spell a lone UTF-16 surrogate (``"\ud800"``); json.loads keeps it, but it is not text: no
# reply, stored reference or log line holding one can be encoded as UTF-8 (the SDK fails serialising the reply
# deep inside a handler). Teams never sends one, so such a body is refused with the other malformed ones.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _holds_lone_surrogate(raw: bytes, payload: Any) -> bool:
    """Whether the parsed ``payload`` holds a lone surrogate anywhere, keys included (a pair, ``\\ud83d\\ude42``,
    is parsed into one character and is fine). Only bodies that spell a surrogate escape at all are encoded."""
    if _SURROGATE_ESCAPE.search(raw) is None:
        return False
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _bad(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _malformed(payload: Any) -> str | None:
    """Why an activity cannot be processed, or None. Checked before the SDK sees it."""
    if not isinstance(payload, dict):
        return "the body must be a JSON object"
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        return "the activity has no type"
    if kind not in KNOWN_TYPES:
        return f"unsupported activity type {kind[:40]!r}"
    if kind in NEEDS_PARTIES:
        for part in ("from", "conversation", "recipient"):
            value = payload.get(part)
            if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
                return f"the activity has no '{part}' id"
        if not isinstance(payload.get("serviceUrl"), str) or not payload["serviceUrl"].startswith(
            ("http://", "https://")
        ):
            return "the activity has no valid serviceUrl"
    for name in ("text", "id", "name", "replyToId", "channelId"):
        if name in payload and payload[name] is not None and not isinstance(payload[name], str):
            return f"'{name}' must be a string"
    for name in ("entities", "membersAdded", "membersRemoved", "attachments"):
        if name in payload and payload[name] is not None and not isinstance(payload[name], list):
            return f"'{name}' must be a list"
    if "channelData" in payload and payload["channelData"] is not None and not isinstance(payload["channelData"], dict):
        return "'channelData' must be an object"
    return None


async def handle_messages(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    gateway = request.app[GATEWAY]
    settings = services.settings
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        return _bad(413, f"the body is larger than {settings.max_body_bytes} bytes")
    if "json" not in request.content_type:
        return _bad(415, "the body must be application/json")
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _bad(413, f"the body is larger than {settings.max_body_bytes} bytes")
    if _nested_deeper_than(raw, MAX_JSON_DEPTH):
        log.info("refused a body nested deeper than %d levels remote=%s", MAX_JSON_DEPTH, request.remote)
        return _bad(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _bad(400, "the body is not valid JSON")
    except RecursionError:  # a backstop: the depth check above refuses such bodies first
        log.info("refused a body too deeply nested to parse remote=%s", request.remote)
        return _bad(400, f"the body is nested deeper than {MAX_JSON_DEPTH} levels")
    problem = _malformed(payload)
    if problem is None and _holds_lone_surrogate(raw, payload):
        problem = "the body holds a lone surrogate, which is not text"
    if problem:
        return _bad(400, problem)
    try:
        authenticated = await gateway.authenticate(payload, request.headers.get("Authorization", ""))
    except AuthError as error:
        log.info("refused an unauthenticated request remote=%s reason=%s", request.remote, error)
        return _bad(401, "missing or invalid credentials")
    except IdentityUnavailable as error:
        log.warning("cannot check credentials: the identity endpoint is unreachable (%s)", error)
        response = _bad(503, "cannot check credentials right now; try again shortly")
        response.headers["Retry-After"] = "5"
        return response
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        log.info("refused a malformed activity: %s", error)
        return _bad(400, "the activity is malformed")
    channel = payload.get("channelId")
    if channel != TEAMS_CHANNEL:
        # Web Chat and Direct Line are on by default on an Azure Bot; this bot is for Teams only, and its
        # tenant checks trust Teams' channel data
        log.warning(
            "refused an activity from a channel other than Teams channel=%s activity_id=%s",
            str(channel)[:32],
            str(payload.get("id", ""))[:64],
        )
        return _bad(403, "this bot only answers Microsoft Teams")
    tenant = tenant_of(payload)
    if settings.allowed_tenants and tenant not in settings.allowed_tenants:
        log.warning(
            "refused an activity from a tenant that is not allowed tenant=%s activity_id=%s",
            tenant[:64],
            str(payload.get("id", ""))[:64],
        )
        return _bad(403, "this tenant is not allowed to use this bot")

    async def on_request(turn_request: Request, responder: Responder) -> None:
        turn = Turn(request=turn_request, respond=SealingResponder(responder, services), services=services)
        await services.router.dispatch(turn)

    # messages and other activities wait while COPBOT_MAX_CONCURRENT_TURNS are worked on; a card's invoke does not:
    # Teams waits only a few seconds for its answer, which needs no connector call that could keep a slot busy
    turns = request.app[TURNS] if payload.get("type") != "invoke" else contextlib.nullcontext()
    try:
        async with turns:
            status, body = await gateway.run(authenticated, on_request)
    except IdentityUnavailable as error:
        log.warning("cannot reply: the token service is unreachable (%s)", error)
        response = _bad(503, "cannot reach the identity service right now; try again shortly")
        response.headers["Retry-After"] = "5"
        return response
    except DeliveryError as error:  # handlers catch their own; this is the seam failing before a handler ran
        log.warning("cannot answer: the Bot Connector failed activity_id=%s (%s)", str(payload.get("id"))[:64], error)
        response = _bad(503, "cannot reach the Bot Connector right now; try again shortly")
        response.headers["Retry-After"] = "5"
        return response
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        log.info("refused a malformed activity: %s", error)
        return _bad(400, "the activity is malformed")
    if body is not None:
        return web.json_response(body, status=status)
    return web.Response(status=status)


async def handle_files(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    return await services.links.serve(services, request.match_info["token"])


async def handle_healthz(_: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def handle_readyz(request: web.Request) -> web.Response:
    try:
        await request.app[SERVICES].store.ping()
    except StorageError as error:
        return web.json_response({"status": "storage unreachable", "detail": type(error).__name__}, status=503)
    return web.json_response({"status": "ready"})


def open_encoder(settings: Settings) -> Encoder | None:
    """The FAQ's sentence encoder, loaded on the first question; None (BM25 alone) when it is switched off or not
    fetched. A damaged model is reported when first used, and the FAQ falls back to BM25 then."""
    if settings.model_dir is None:
        return None
    if not (settings.model_dir / "config.json").is_file():
        log.warning("no sentence model in %s (run `make model`): the FAQ is ranked by BM25 alone", settings.model_dir)
        return None
    # the programme FAQ's vectors, written by `make model`, spare the first question ~3 s of encoding
    return PrebuiltEncoder(LazyEncoder(settings.model_dir), settings.model_dir / PREBUILT_VECTORS)


def create_app(
    settings: Settings,
    *,
    store: TableStore | None = None,
    clock: Clock | None = None,
    token_source: TokenSource | None = None,
    encoder: Encoder | None = None,
) -> web.Application:
    """Build the application. ``store`` and ``clock`` are injectable for tests; by default they come from
    settings and the system clock. ``token_source`` replaces the outgoing token fetch (tests pass a stub);
    ``encoder`` replaces the sentence encoder that ``settings.model_dir`` names (tests share one across apps)."""
    if not settings.authenticated and not is_loopback(settings.host):
        raise SettingsError(
            "the bot has no app id (CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID or MICROSOFT_APP_ID), so "
            "requests are not authenticated; that is only allowed on a loopback "
            f"host, not {settings.host!r}. Set the Bot Framework credentials or COPBOT_HOST=127.0.0.1."
        )
    clock = clock or SystemClock()
    MalformedRequests.install()
    app = web.Application(client_max_size=settings.max_body_bytes)
    gateway = open_gateway(settings, clock.now, token_source=token_source)
    raw_store = store if store is not None else open_store(settings)
    background = Background()
    # writes to a CoP's health sources mark its indicator snapshot stale (bot/health/marking.py)
    store_ = MarkingStore(raw_store, Marks(raw_store, background))
    signer = Signer(settings.signing_key)
    links = Links()
    privacy = PrivacyRegistry()
    router = build_router(links, privacy)
    middleware.install(router.use)
    cop_cache = CopCache(settings.cop_cache_seconds)  # shared by role resolution and every CoP write
    services = Services(
        settings=settings,
        store=store_,
        clock=clock,
        signer=signer,
        router=router,
        proactive=gateway,
        outbox=Outbox(store_, gateway, signer, policy=DeliveryPolicy.from_settings(settings), cop_cache=cop_cache),
        links=links,
        privacy=privacy,
        cop_cache=cop_cache,
        encoder=encoder if encoder is not None else open_encoder(settings),
        background=background,
        due_work=build_due_work(),
    )
    app[SERVICES] = services
    app[TURNS] = asyncio.Semaphore(settings.max_concurrent_turns)
    app[GATEWAY] = gateway
    startup: list[Hook] = [start_scheduler]  # a no-op unless settings.scheduler_enabled
    # cleanup runs in reverse: stop the scheduler first, then let pending announcement updates and the work turns
    # left running finish, then stop the FAQ's encoder thread
    cleanup: list[Hook] = [close_indexes, settle_background, settle_event_updates, stop_scheduler]
    app[STARTUP_HOOKS] = startup
    app[CLEANUP_HOOKS] = cleanup
    owns_store = store is None

    async def on_startup(app: web.Application) -> None:
        if not settings.authenticated:
            log.warning(
                "UNAUTHENTICATED MODE: no app id is set; anyone who can reach %s:%s can talk to the bot",
                settings.host,
                settings.port,
            )
        notice = terms_notice(settings.terms, clock.now().astimezone(settings.tz).date())
        if notice is not None:
            log.warning("%s", notice)
        for hook in app[STARTUP_HOOKS]:
            await hook(services)

    async def on_cleanup(app: web.Application) -> None:
        for hook in app[CLEANUP_HOOKS][::-1]:
            await hook(services)
        await gateway.close()
        if owns_store:
            await services.store.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.router.add_post("/api/messages", handle_messages)
    app.router.add_get("/healthz", handle_healthz)
    app.router.add_get("/readyz", handle_readyz)
    app.router.add_get("/files/{token}", handle_files)
    register_report(app, SERVICES)  # /report/...: the leadership report page, its CSVs and the Teams tab
    return app
