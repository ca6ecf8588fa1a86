"""Builds the Teams app package (manifest.json + two icons) from the environment and the bot's router.

Run ``python -m deployment.manifest --out deployment/build/appPackage.zip`` (``make package`` does this) with:

- ``CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID`` (the Microsoft 365 Agents SDK's name, which the bot reads
  first) or ``MICROSOFT_APP_ID`` (the older Bot Framework name; ``make package`` passes this one), one of them
  required: the bot's Microsoft Entra app id (for the Bicep deployment, the client id of the user-assigned managed
  identity). Must be a GUID; when both are set they must name the same app.
- ``COPBOT_PUBLIC_URL`` (required): the https base URL the bot is reachable at, e.g. ``https://copbot.example.org``.
- ``COPBOT_APP_NAME`` (optional, default "CoP Bot", at most 30 characters) and ``COPBOT_APP_VERSION`` (optional,
  semver, default the Python package's version).
- ``COPBOT_TEAMS_APP_ID`` (optional GUID): the Teams app id, if it must differ from the bot id.
- ``COPBOT_DEVELOPER_NAME``, ``COPBOT_WEBSITE_URL``, ``COPBOT_PRIVACY_URL``, ``COPBOT_TERMS_URL`` (optional):
  the developer block Teams shows on the app's details page (https URLs).

The command lists are generated from :func:`bot.features.build_router`, so a command added by a feature shows up
in Teams' command menu without touching this file.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from bot.routing.router import Command, Router

HERE = Path(__file__).resolve().parent
ICON_DIR = HERE / "appPackage"
COLOR_ICON = "color.png"
OUTLINE_ICON = "outline.png"

# The newest numbered (not devPreview) schema that the npm package @microsoft/app-manifest ships; the tests
# validate against node_modules/@microsoft/app-manifest/build/json-schemas/teams/v<this>/MicrosoftTeams.schema.json.
MANIFEST_VERSION: Final = "1.30"
COPILOT_DISCLAIMER: Final = (
    "CoP Bot answers from the Communities of Practice programme's FAQ and your CoPs' own FAQs; when it is not sure, "
    "it passes your question to the people who know. It does not use generative AI."
)
SCHEMA_URL: Final = f"https://developer.microsoft.com/json-schemas/teams/v{MANIFEST_VERSION}/MicrosoftTeams.schema.json"
ACCENT_COLOR: Final = "#4B53BC"

# Teams' documented limits for bot command menus (stricter than the newest schema, which allows 12 commands and
# 128-character titles): at most 10 commands per list, titles up to 32 characters, descriptions up to 128.
MAX_COMMANDS: Final = 10
MAX_TITLE: Final = 32
MAX_DESCRIPTION: Final = 128

ManifestScope = Literal["personal", "team", "groupChat"]
# Manifest scope -> the router's place kind for messages arriving there.
SCOPE_PLACES: Final[Mapping[ManifestScope, Literal["personal", "channel", "groupChat"]]] = {
    "personal": "personal",
    "team": "channel",
    "groupChat": "groupChat",
}

# Resource-specific consent (RSC) permissions, granted per team / chat by its owner at install time.
# Each one is justified here and in deployment/README.md; drop one and the feature next to it degrades.
RSC_PERMISSIONS: Final[tuple[tuple[str, str], ...]] = (
    # Receive every channel message without an @mention: the unanswered-question tracker watches channels for
    # questions and for the first reply in their thread (DESIGN §3, health framework "queries receive responses").
    ("ChannelMessage.Read.Group", "watch CoP channels for unanswered questions and their first replies"),
    # Read the team's name and settings: link the Teams team to its CoP record and show the right name in digests.
    ("TeamSettings.Read.Group", "read the team's name and settings to link the team to its CoP"),
    # Read the team's roster: `leads add @x` / `sponsor set @x` resolve mentions to members, welcome cards and
    # escalations @mention the right people, member counts by tier are checked against the real roster.
    ("TeamMember.Read.Group", "read the team roster for leads/sponsor commands, mentions and member counts"),
    # Same as ChannelMessage.Read.Group for group chats (the bot is installable in group chats): questions asked
    # there without an @mention are tracked too. Without it, group chats only see messages that @mention the bot.
    ("ChatMessage.Read.Chat", "track questions asked in group chats the bot is added to"),
)

# Where the bot's app id is read from, in order: the Microsoft 365 Agents SDK's name, then the Bot Framework one.
APP_ID_VARIABLES: Final = ("CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID", "MICROSOFT_APP_ID")

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
_NIL_GUID = "00000000-0000-0000-0000-000000000000"


class ManifestError(ValueError):
    """The environment does not describe a packageable app (message says which variable and why)."""


def _guid(name: str, value: str) -> str:
    value = value.strip()
    if not _GUID.match(value) or value == _NIL_GUID:
        raise ManifestError(f"{name} must be a GUID like 00000000-1111-2222-3333-444444444444, not {value!r}")
    return value.lower()


def _app_id(env: Mapping[str, str]) -> str:
    """The bot's app id from the Agents SDK's variable or the older Bot Framework one (the bot reads the same two,
    in this order). Both set to different apps is refused: Teams would send the packaged bot tokens for one app,
    and the bot accepts only tokens whose audience is its own app id."""
    given = {name: env.get(name, "").strip() for name in APP_ID_VARIABLES}
    ids = {name: _guid(name, value) for name, value in given.items() if value}
    if not ids:
        names = " or ".join(APP_ID_VARIABLES)
        raise ManifestError(f"{names} is required: the bot's Microsoft Entra app id (a GUID)")
    if len(set(ids.values())) > 1:
        shown = " and ".join(f"{name}={value}" for name, value in ids.items())
        raise ManifestError(f"{shown} name different apps; set one of them, or both to the bot's app id")
    return next(iter(ids.values()))


def _https_url(name: str, value: str, *, base_only: bool = False) -> str:
    value = value.strip().rstrip("/")
    if not value:
        raise ManifestError(f"{name} is required: the https address of the bot, e.g. https://copbot.example.org")
    parts = urlsplit(value)
    if parts.scheme != "https":
        raise ManifestError(f"{name} must be an https:// URL (Teams only talks to bots over https), not {value!r}")
    if not parts.hostname or not _HOST.match(parts.hostname) or parts.username or parts.password:
        raise ManifestError(f"{name} must name a host, e.g. https://copbot.example.org, not {value!r}")
    if parts.query or parts.fragment or (base_only and parts.path not in ("", "/")):
        raise ManifestError(f"{name} must be a base URL without path, query or fragment, not {value!r}")
    return value


def _default_version() -> str:
    try:
        return metadata.version("copbot")
    except metadata.PackageNotFoundError:
        return "0.1.0"


@dataclass(frozen=True)
class AppSettings:
    app_id: str
    public_url: str
    teams_app_id: str
    name: str = "CoP Bot"
    version: str = "0.1.0"
    developer_name: str = "Communities of Practice"
    website_url: str = ""
    privacy_url: str = ""
    terms_url: str = ""

    @property
    def host(self) -> str:
        host = urlsplit(self.public_url).hostname
        assert host is not None  # checked in from_env
        return host

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AppSettings:
        app_id = _app_id(env)
        public_url = _https_url("COPBOT_PUBLIC_URL", env.get("COPBOT_PUBLIC_URL", ""), base_only=True)
        teams_app_id = env.get("COPBOT_TEAMS_APP_ID", "").strip()
        teams_app_id = _guid("COPBOT_TEAMS_APP_ID", teams_app_id) if teams_app_id else app_id
        name = env.get("COPBOT_APP_NAME", "").strip() or "CoP Bot"
        if len(name) > 30:
            raise ManifestError(f"COPBOT_APP_NAME must be at most 30 characters (Teams' short name), not {name!r}")
        version = env.get("COPBOT_APP_VERSION", "").strip() or _default_version()
        if not _SEMVER.match(version):
            raise ManifestError(f"COPBOT_APP_VERSION must be a semantic version like 1.2.3, not {version!r}")
        developer = env.get("COPBOT_DEVELOPER_NAME", "").strip() or "Communities of Practice"
        if len(developer) > 32:
            raise ManifestError(f"COPBOT_DEVELOPER_NAME must be at most 32 characters, not {developer!r}")
        website = _https_url("COPBOT_WEBSITE_URL", env.get("COPBOT_WEBSITE_URL", "") or public_url)
        privacy = _https_url("COPBOT_PRIVACY_URL", env.get("COPBOT_PRIVACY_URL", "") or website)
        terms = _https_url("COPBOT_TERMS_URL", env.get("COPBOT_TERMS_URL", "") or website)
        return cls(app_id, public_url, teams_app_id, name, version, developer, website, privacy, terms)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _priority(command: Command) -> tuple[int, int, str]:
    # Why this order: Teams shows at most 10 commands per scope, and most people who open the menu are ordinary
    # staff, so commands everyone may use come first, then members', sponsors', leads' and the programme team's
    # (the role order). Within a role, top-level commands ("faq") beat their sub-commands ("faq add"): the
    # top-level one usually lists or explains the rest. Leads see everything through `help` anyway.
    return (int(command.role), len(command.words), command.name)


def command_list(commands: Iterable[Command], scope: ManifestScope) -> list[dict[str, str]]:
    """The (at most 10) commands offered in ``scope``'s command menu, most useful first."""
    place = SCOPE_PLACES[scope]
    # A title longer than Teams' limit cannot be shown in the menu; such a command still works when typed.
    usable = [c for c in commands if place in c.places and len(c.name) <= MAX_TITLE]
    chosen = sorted(usable, key=_priority)[:MAX_COMMANDS]
    return [{"title": c.name, "description": _clip(_description(c), MAX_DESCRIPTION)} for c in chosen]


def _description(command: Command) -> str:
    text = command.help or command.name
    return f"{text} (e.g. {command.name} {command.usage})" if command.usage else text


def compose_extension(settings: AppSettings) -> dict[str, Any]:
    """The message extension: CoP Bot's searches (answers, CoPs, events) from the compose box of any chat or
    channel and the command box; each opens with defaults before anything is typed (``initialRun``)."""
    from bot.features.compose_search import QUERY_PARAMETER, SEARCH_COMMANDS

    commands = [
        {
            "id": command.id,
            "type": "query",
            "title": _clip(command.title, MAX_TITLE),
            "description": _clip(command.description, MAX_DESCRIPTION),
            "initialRun": True,
            "context": ["compose", "commandBox"],
            "parameters": [
                {
                    "name": QUERY_PARAMETER,
                    "title": _clip(command.parameter_title, MAX_TITLE),
                    "description": _clip(command.parameter_description, MAX_DESCRIPTION),
                    "inputType": "text",
                }
            ],
        }
        for command in SEARCH_COMMANDS
    ]
    return {"botId": settings.app_id, "canUpdateConfiguration": False, "commands": commands}


def sso_resource(settings: AppSettings) -> str:
    """The Application ID URI the tab asks Teams for a token to: ``api://<public host>/<app id>``."""
    return f"api://{settings.host}/{settings.app_id}"


def static_tabs(settings: AppSettings) -> list[dict[str, Any]]:
    """The personal app's tabs: the chat with the bot first (the reserved ``conversations`` id keeps it), then the
    report page (bot/report/), which signs in with Teams."""
    return [
        {"entityId": "conversations", "scopes": ["personal"]},
        {
            "entityId": "report",
            "name": "Report",
            "contentUrl": f"{settings.public_url}/report/tab",
            "scopes": ["personal"],
        },
    ]


def build_manifest(settings: AppSettings, router: Router) -> dict[str, Any]:
    commands = router.commands
    scopes: tuple[ManifestScope, ...] = ("personal", "team", "groupChat")
    command_lists = []
    for scope in scopes:
        entries = command_list(commands, scope)
        if entries:
            command_lists.append({"scopes": [scope], "commands": entries})
    return {
        "$schema": SCHEMA_URL,
        "manifestVersion": MANIFEST_VERSION,
        "version": settings.version,
        "id": settings.teams_app_id,
        "developer": {
            "name": settings.developer_name,
            "websiteUrl": settings.website_url,
            "privacyUrl": settings.privacy_url,
            "termsOfUseUrl": settings.terms_url,
        },
        "name": {"short": settings.name, "full": f"{settings.name}: Communities of Practice assistant"},
        "description": {
            "short": "Join Communities of Practice, get answers and keep each CoP healthy.",
            "full": (
                "CoP Bot runs a university's Communities of Practice inside Teams. Staff browse CoPs and join as "
                "core or wider members, ask questions (answered from the CoP's FAQ, or tracked until a person "
                "answers), RSVP to events and manage their own data. Leads manage FAQs, events, members, the "
                "weekly digest, the impact survey and governance; sponsors and the programme team see each CoP's "
                "health scorecard. In a CoP team the bot watches channels for questions nobody has answered yet."
            ),
        },
        "icons": {"color": COLOR_ICON, "outline": OUTLINE_ICON},
        "accentColor": ACCENT_COLOR,
        "bots": [
            {
                "botId": settings.app_id,
                "scopes": list(scopes),
                "supportsFiles": True,  # a lead sends a membership CSV in personal chat (import members)
                "isNotificationOnly": False,
                "commandLists": command_lists,
            }
        ],
        "composeExtensions": [compose_extension(settings)],
        # Microsoft 365 Copilot: the bot as a custom engine agent (public preview; the schema allows one), so people
        # can ask the programme's questions from Copilot chat where their tenant has Copilot; it is the same bot in
        # personal scope, answering as it does in its 1:1 chat
        "copilotAgents": {
            "customEngineAgents": [{"id": settings.app_id, "type": "bot", "disclaimer": {"text": COPILOT_DISCLAIMER}}]
        },
        "staticTabs": static_tabs(settings),
        "validDomains": [settings.host],
        # the report tab's single sign-on: the Application ID URI exposed on the bot's app registration
        # (deployment/README.md "Report tab sign-in"); also what resource-specific consent needs
        "webApplicationInfo": {"id": settings.app_id, "resource": sso_resource(settings)},
        "authorization": {
            "permissions": {
                "resourceSpecific": [{"name": name, "type": "Application"} for name, _ in RSC_PERMISSIONS],
            }
        },
        "defaultInstallScope": "team",
        "defaultGroupCapability": {"team": "bot", "groupchat": "bot"},
    }


def build_package(manifest: Mapping[str, Any], icon_dir: Path = ICON_DIR) -> bytes:
    """The zip Teams accepts: manifest.json and the two icons, all at the root of the archive."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        for icon in (COLOR_ICON, OUTLINE_ICON):
            archive.write(icon_dir / icon, arcname=icon)
    return buffer.getvalue()


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    from bot.features import build_router

    parser = argparse.ArgumentParser(description="Build the Teams app package for CoP Bot.")
    parser.add_argument("--out", type=Path, default=HERE / "build" / "appPackage.zip", help="zip file to write")
    parser.add_argument("--print", action="store_true", help="also print manifest.json")
    args = parser.parse_args(argv)
    try:
        settings = AppSettings.from_env(os.environ if env is None else env)
    except ManifestError as error:
        print(f"cannot build the Teams app package: {error}", file=sys.stderr)
        return 2
    manifest = build_manifest(settings, build_router())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(build_package(manifest))
    if args.print:
        print(json.dumps(manifest, indent=2, ensure_ascii=False))
    counts = ", ".join(f"{'/'.join(cl['scopes'])}: {len(cl['commands'])}" for cl in manifest["bots"][0]["commandLists"])
    print(f"wrote {args.out} (manifest v{MANIFEST_VERSION}, app {settings.version}, commands {counts})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
