"""The report's HTTP routes, registered by ``create_app`` (bot/app.py):

- ``GET /report/{token}``: the page, for a signed link from the ``programme`` or ``health`` card;
- ``GET /report/{token}/data.csv?table=<key>``: one of its tables as CSV (formula-safe, bot/features/programme.py);
- ``GET /report/tab``: the Teams personal tab's page, which signs in with Teams and fetches
- ``GET /report/api/page`` with ``Authorization: Bearer <tab token>``: the report's HTML for that person;
- ``GET /report/static/<file>``: the pages' stylesheet and scripts, and the Teams JavaScript SDK as installed from
  npm (``@microsoft/teams-js`` in package.json; nothing is loaded from a CDN).

Every route takes ``cop=<id>`` to narrow the report to one of the viewer's CoPs; another CoP is refused (403).
Refusals are short pages (401 forged or expired, 403 no report for this person, 503 storage or identity service
unreachable), never a 500.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from bot.features.programme import safe_cell
from bot.report import auth
from bot.report.access import Viewer, still_holds, viewer_of
from bot.report.data import Table, gather
from bot.report.page import STATIC, document, message_page, report_body
from bot.services import Services
from bot.teams.identity import IdentityUnavailable
from storage.base import StorageError

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
STATIC_FILES: dict[str, tuple[Path, str]] = {
    "report.css": (HERE / "static" / "report.css", "text/css"),
    "report.js": (HERE / "static" / "report.js", "text/javascript"),
    "tab.js": (HERE / "static" / "tab.js", "text/javascript"),
}
CSV_GRANT_TTL = timedelta(hours=1)  # the tab's download links: as long as a sitting with the report
COP_MAX = 512
TAB_TOKENS: web.AppKey[auth.TabTokens] = web.AppKey("report_tab_tokens", auth.TabTokens)
# Teams (web, desktop and mobile) and Microsoft 365 hosts that may frame the personal tab
TEAMS_FRAMES = (
    "https://teams.microsoft.com https://*.teams.microsoft.com https://*.teams.microsoft.us "
    "https://*.cloud.microsoft https://*.office.com https://outlook.office.com"
)


def _policy(frames: str) -> str:
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        f"base-uri 'none'; form-action 'none'; frame-ancestors {frames}"
    )


def _headers(frames: str = "'none'") -> dict[str, str]:
    return {
        "Content-Security-Policy": _policy(frames),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",  # the signed link is in the address
        "X-Content-Type-Options": "nosniff",
    }


def _page(status: int, title: str, text: str) -> web.Response:
    return web.Response(status=status, text=message_page(title, text), content_type="text/html", headers=_headers())


def _narrow(viewer: Viewer, request: web.Request) -> Viewer | None:
    """The viewer narrowed to ``cop=`` when given (None: not one of theirs)."""
    cop = request.query.get("cop", "")
    if not cop:
        return viewer
    if len(cop) > COP_MAX:
        return None
    return viewer.narrowed(cop)


async def _viewer_of_link(services: Services, token: str) -> tuple[Viewer, auth.LinkGrant] | web.Response:
    try:
        grant = auth.read_grant(services, token)
    except auth.LinkRefused as refused:
        log.info("refused a report link (%s)", refused)
        if refused.expired:
            return _page(401, "This link has expired", "Ask CoP Bot for a new one: programme, or health.")
        return _page(401, "This link is not valid", "Open the report from the link CoP Bot gave you.")
    viewer = await viewer_of(services, grant.aad_id)
    if viewer is None or not still_holds(viewer, grant.role):
        log.info("refused a report link: the role it was made for no longer holds role=%s", grant.role)
        return _page(403, "No report for you here", "The report is for the programme team, sponsors and leads.")
    return viewer, grant


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(c) for c in table.columns])
    for row in table.rows:
        writer.writerow([v if isinstance(v, int | float) else safe_cell(v) for v in row])
    return out.getvalue().encode("utf-8-sig")  # the BOM makes Excel read UTF-8 names correctly


def _guarded(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def run(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except StorageError as error:
            log.warning("report unavailable: storage failed (%s)", type(error).__name__)
            response = _page(503, "The report is not available right now", "Please try again in a minute.")
            response.headers["Retry-After"] = "30"
            return response

    return run


def register(app: web.Application, services_key: web.AppKey[Services]) -> None:
    async def link_page(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        token = request.match_info["token"]
        found = await _viewer_of_link(services, token)
        if isinstance(found, web.Response):
            return found
        viewer, _ = found
        narrowed = _narrow(viewer, request)
        if narrowed is None:
            return _page(403, "Not one of your CoPs", "The report covers only the CoPs you lead or sponsor.")
        report = await gather(services, narrowed)
        chosen = request.query.get("cop") or None
        suffix = f"&cop={_quote(chosen)}" if chosen else ""
        body = report_body(
            report,
            lambda key: f"/report/{token}/data.csv?table={key}{suffix}",
            services.settings.tz,
            cops=viewer.cops if len(viewer.cops) > 1 else (),
            chosen=chosen,
        )
        log.info("report page served role=%s cops=%d", viewer.role, report.cops)
        html = document(f"CoP report: {report.scope}", body)
        return web.Response(text=html, content_type="text/html", headers=_headers())

    async def link_csv(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        found = await _viewer_of_link(services, request.match_info["token"])
        if isinstance(found, web.Response):
            return found
        narrowed = _narrow(found[0], request)
        if narrowed is None:
            return _page(403, "Not one of your CoPs", "The report covers only the CoPs you lead or sponsor.")
        key = request.query.get("table", "")
        report = await gather(services, narrowed)
        table = report.table(key)
        if table is None:
            return _page(404, "No such table", "Choose a table's download link on the report.")
        stamp = f"{services.clock.now():%Y-%m-%d}"
        log.info("report csv served table=%s role=%s", key, narrowed.role)
        return web.Response(
            body=to_csv(table),
            content_type="text/csv",
            charset="utf-8",
            headers={**_headers(), "Content-Disposition": f'attachment; filename="cop-report-{key}-{stamp}.csv"'},
        )

    async def tab_page(request: web.Request) -> web.StreamResponse:
        body = '<p id="signin" role="status">Signing you in with Teams…</p><div id="report"></div>'
        html = document("CoP report", body, scripts=(f"{STATIC}/teams.js", f"{STATIC}/report.js", f"{STATIC}/tab.js"))
        return web.Response(text=html, content_type="text/html", headers=_headers(TEAMS_FRAMES))

    async def tab_api(request: web.Request) -> web.StreamResponse:
        services = request.app[services_key]
        tokens = request.app[TAB_TOKENS]
        try:
            identity = await tokens.identify(request.headers.get("Authorization", ""))
        except auth.TokenRefused as refused:
            log.info("refused a report tab token (%s)", refused)
            return _text(401, "Sign-in failed: reopen the tab.")
        except IdentityUnavailable:
            response = _text(503, "Cannot check your sign-in right now; try again shortly.")
            response.headers["Retry-After"] = "5"
            return response
        viewer = await viewer_of(services, identity.aad_id)
        if viewer is None:
            return _text(403, "The report is for the programme team, sponsors and leads.")
        narrowed = _narrow(viewer, request)
        if narrowed is None:
            return _text(403, "That CoP is not one you lead or sponsor.")
        report = await gather(services, narrowed)
        grant = auth.sign_grant(services, identity.aad_id, viewer.role, CSV_GRANT_TTL)
        chosen = request.query.get("cop") or None
        suffix = f"&cop={_quote(chosen)}" if chosen else ""
        body = report_body(
            report,
            lambda key: f"/report/{grant}/data.csv?table={key}{suffix}",
            services.settings.tz,
            cops=viewer.cops if len(viewer.cops) > 1 else (),
            chosen=chosen,
        )
        log.info("report tab served role=%s cops=%d", viewer.role, report.cops)
        return web.Response(text=body, content_type="text/html", headers=_headers())

    async def static(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        # the Teams JavaScript SDK as npm installed it (COPBOT_TEAMS_JS), the rest from this package
        teams_js = (request.app[services_key].settings.teams_js, "text/javascript")
        found = teams_js if name == "teams.js" else STATIC_FILES.get(name)
        if found is None:
            raise web.HTTPNotFound()
        path, content_type = found
        if not path.is_file():
            log.warning("report file missing name=%s (the Teams JavaScript SDK: `make node`, COPBOT_TEAMS_JS)", name)
            raise web.HTTPNotFound()
        return web.Response(
            body=path.read_bytes(),
            content_type=content_type,
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    app[TAB_TOKENS] = auth.TabTokens(app[services_key].settings)
    app.router.add_get("/report/tab", tab_page)
    app.router.add_get("/report/api/page", _guarded(tab_api))
    app.router.add_get("/report/static/{name}", static)
    app.router.add_get("/report/{token}", _guarded(link_page))
    app.router.add_get("/report/{token}/data.csv", _guarded(link_csv))


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain", headers=_headers())


def _quote(value: str) -> str:
    return quote(value, safe="")
