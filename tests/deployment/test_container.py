"""What can be checked offline about the container and the Azure template (no Docker daemon, no Bicep compiler).

- The Dockerfile's HEALTHCHECK command really probes /healthz: it is run here, as written, against a local
  stand-in server on 127.0.0.1 (healthy → exit 0, unhealthy → non-zero).
- The app settings main.bicep gives the Web App are ones the bot reads, and bot.core.config.Settings accepts them: the
  bot's identity in the Microsoft 365 Agents SDK's names (a user-assigned managed identity) and COPBOT_SDK=agents.
- The image installs the Agents SDK, and botbuilder only when built with COPBOT_EXTRAS=botbuilder.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from microsoft_agents.hosting.core.authorization.auth_types import AuthTypes

from bot.core.config import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deployment" / "Dockerfile").read_text(encoding="utf-8")
BICEP = (ROOT / "deployment" / "azure" / "main.bicep").read_text(encoding="utf-8")


def _instruction(name: str) -> str:
    """The (line-continued) text of the last Dockerfile instruction called ``name``."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip().upper().startswith(name + " ")]
    assert lines, f"no {name} in deployment/Dockerfile"
    return lines[-1][len(name) + 1 :].strip()


def test_image_installs_the_agents_sdk_and_botbuilder_only_on_request() -> None:
    assert re.search(r'^ARG COPBOT_EXTRAS=""$', DOCKERFILE, re.M), "the default image must not carry botbuilder"
    match = re.search(r"pip install (\S+)", DOCKERFILE)
    assert match is not None
    # what /bin/sh makes of the install argument, with and without the build argument
    for extras, installed in (("", "."), ("botbuilder", ".[botbuilder]")):
        result = subprocess.run(
            ["sh", "-c", f'set -- {match.group(1)}; printf "%s\\n" "$@"'],
            env={"COPBOT_EXTRAS": extras, "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert result.stdout.splitlines() == [installed]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(dep.startswith("microsoft-agents-hosting-aiohttp") for dep in project["dependencies"])
    assert not any(dep.startswith("botbuilder") for dep in project["dependencies"])
    assert "botbuilder" in project["optional-dependencies"]


def test_dockerfile_basics() -> None:
    assert re.search(r"^FROM python:3\.12-slim\b", DOCKERFILE, re.M)
    assert "pip install ." in DOCKERFILE
    user = _instruction("USER")
    assert user not in ("root", "0"), "the container must not run as root"
    assert _instruction("EXPOSE") == "3978"
    assert "COPBOT_HOST=0.0.0.0" in DOCKERFILE
    assert json.loads(_instruction("CMD")) == ["python", "-m", "bot"]
    for path in re.findall(r"^COPY (\w+) ", DOCKERFILE, re.M):
        assert (ROOT / path).exists(), f"Dockerfile copies {path}, which is not in the repository"


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        return


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_healthcheck_command_probes_healthz(health_server: ThreadingHTTPServer, status: int, healthy: bool) -> None:
    healthcheck = _instruction("HEALTHCHECK")
    command = json.loads(healthcheck[healthcheck.index("CMD ") + 4 :])
    assert command[:2] == ["python", "-c"], "the health check must need nothing but python's standard library"
    _Health.status = status
    port = str(health_server.server_address[1])
    env = {"COPBOT_PORT": port, "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, *command[1:]], env=env, capture_output=True, timeout=30, check=False)
    assert (result.returncode == 0) is healthy, result.stderr.decode()


def _app_settings() -> dict[str, str]:
    block = BICEP[BICEP.index("appSettings: [") : BICEP.index("]", BICEP.index("appSettings: ["))]
    names = re.findall(r"name: '([A-Z0-9_]+)'", block)
    values = re.findall(r"value: (.+)", block)
    assert len(names) == len(values)
    return dict(zip(names, values, strict=True))


# The bot's identity in the Agents SDK's names (bot/core/config.py reads MICROSOFT_APP_* only as fallbacks).
IDENTITY = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"
# read by App Service itself and by azure-identity (DefaultAzureCredential), not by bot/core/config.py
PLATFORM = {"WEBSITES_PORT", "WEBSITES_ENABLE_APP_SERVICE_STORAGE", "AZURE_CLIENT_ID"}
CLIENT_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
TENANT_ID = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
# What the Bicep's app settings look like once deployed (the managed identity's client id, the tenant, ...).
STAND_INS = {
    "COPBOT_SDK": "agents",
    IDENTITY + "CLIENTID": CLIENT_ID,
    IDENTITY + "AUTHTYPE": "UserManagedIdentity",
    IDENTITY + "TENANTID": TENANT_ID,
    "COPBOT_STORAGE": "azure",
    "AZURE_TABLES_ACCOUNT_URL": "https://copbotstabc.table.core.windows.net/",
    "COPBOT_HOST": "0.0.0.0",
    "COPBOT_PORT": "3978",
    "COPBOT_PUBLIC_URL": "https://copbot-abc.azurewebsites.net",
    "COPBOT_SIGNING_KEY": "k" * 48,
    "COPBOT_SURVEY_MARKER_KEY": "m" * 48,
    "COPBOT_ALLOWED_TENANTS": TENANT_ID,
    "COPBOT_PROGRAMME_ADMINS": "",
}


def _read_by_settings(name: str, config: str) -> bool:
    """Whether bot/core/config.py reads ``name``: it names it, or leaving it out of the deployed settings changes what
    Settings.from_env makes of them (or makes it refuse them). The second covers names it builds from a prefix."""
    if f'"{name}"' in config:
        return True
    without = {key: value for key, value in STAND_INS.items() if key != name}
    try:
        return Settings.from_env(without) != Settings.from_env(STAND_INS)
    except SettingsError:
        return True


def test_bicep_app_settings_are_read_by_the_bot() -> None:
    settings = _app_settings()
    config = (ROOT / "bot" / "core" / "config.py").read_text(encoding="utf-8")
    for name in settings:
        assert name in PLATFORM or _read_by_settings(name, config), f"main.bicep sets {name}, which the bot never reads"
    assert settings["COPBOT_SDK"] == "'agents'"
    assert settings[IDENTITY + "AUTHTYPE"] == "'UserManagedIdentity'"
    assert AuthTypes(STAND_INS[IDENTITY + "AUTHTYPE"]) is AuthTypes.user_managed_identity  # the SDK's spelling
    assert settings["COPBOT_STORAGE"] == "'azure'"
    # one identity: the bot's app id, the one azure-identity uses for storage, and the Azure Bot's msaAppId
    assert settings[IDENTITY + "CLIENTID"] == settings["AZURE_CLIENT_ID"] == "identity.properties.clientId"
    assert "msaAppId: identity.properties.clientId" in BICEP
    assert settings[IDENTITY + "TENANTID"] == "identity.properties.tenantId"
    assert "msaAppTenantId: identity.properties.tenantId" in BICEP
    # the bot reads the Agents SDK's names first, so the old ones would only be a second place to get it wrong
    assert not [name for name in settings if name.startswith("MICROSOFT_APP_")]
    assert IDENTITY + "CLIENTSECRET" not in settings, "a managed identity needs no secret"
    assert settings["COPBOT_SIGNING_KEY"] == "signingKey"
    assert re.search(r"@secure\(\)\s*@minLength\(32\)\s*param signingKey string", BICEP)


def test_settings_accept_what_the_bicep_configures() -> None:
    assert set(STAND_INS) == set(_app_settings()) - PLATFORM
    settings = Settings.from_env(STAND_INS)
    assert settings.sdk == "agents"
    assert settings.authenticated
    assert settings.app_id == CLIENT_ID
    assert settings.auth_type == "UserManagedIdentity"
    assert settings.app_tenant_id == TENANT_ID
    assert settings.storage == "azure"
    assert settings.host == "0.0.0.0"
    assert settings.public_url == "https://copbot-abc.azurewebsites.net"


def test_bicep_uses_the_verified_role_ids_and_locks_down_storage() -> None:
    assert "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3" in BICEP  # Storage Table Data Contributor
    assert "7f951dda-4ed3-4680-a7ca-43fe172d538d" in BICEP  # AcrPull
    assert "allowSharedKeyAccess: false" in BICEP
    assert "minimumTlsVersion: 'TLS1_2'" in BICEP
    assert "supportsHttpsTrafficOnly: true" in BICEP
    assert "healthCheckPath: '/healthz'" in BICEP
    assert "msaAppType: 'UserAssignedMSI'" in BICEP
    assert "endpoint: 'https://${hostName}/api/messages'" in BICEP
    assert "channelName: 'MsTeamsChannel'" in BICEP
    params = json.loads((ROOT / "deployment" / "azure" / "main.parameters.json").read_text(encoding="utf-8"))
    assert "signingKey" not in params["parameters"], "secrets belong on the command line, not in a committed file"
