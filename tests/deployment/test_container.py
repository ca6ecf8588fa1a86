"""What can be checked offline about the container and the Azure template (no Docker daemon, no Bicep compiler).

- The Dockerfile's HEALTHCHECK command really probes /healthz: it is run here, as written, against a local
  stand-in server on 127.0.0.1 (healthy → exit 0, unhealthy → non-zero).
- The app settings main.bicep gives the Web App are ones the bot reads, and bot.config.Settings accepts them.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "deployment" / "Dockerfile").read_text(encoding="utf-8")
BICEP = (ROOT / "deployment" / "azure" / "main.bicep").read_text(encoding="utf-8")


def _instruction(name: str) -> str:
    """The (line-continued) text of the last Dockerfile instruction called ``name``."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = [line.strip() for line in joined.splitlines() if line.strip().upper().startswith(name + " ")]
    assert lines, f"no {name} in deployment/Dockerfile"
    return lines[-1][len(name) + 1 :].strip()


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


def test_bicep_app_settings_are_read_by_the_bot() -> None:
    settings = _app_settings()
    config = (ROOT / "bot" / "config.py").read_text(encoding="utf-8")
    # read by App Service itself and by azure-identity (DefaultAzureCredential), not by bot/config.py
    platform = {"WEBSITES_PORT", "WEBSITES_ENABLE_APP_SERVICE_STORAGE", "AZURE_CLIENT_ID"}
    for name in settings:
        assert name in platform or f'"{name}"' in config, f"main.bicep sets {name}, which bot/config.py never reads"
    assert settings["MICROSOFT_APP_TYPE"] == "'UserAssignedMSI'"
    assert settings["COPBOT_STORAGE"] == "'azure'"
    assert settings["MICROSOFT_APP_ID"] == settings["AZURE_CLIENT_ID"] == "identity.properties.clientId"
    assert settings["COPBOT_SIGNING_KEY"] == "signingKey"
    assert re.search(r"@secure\(\)\s*@minLength\(32\)\s*param signingKey string", BICEP)


def test_settings_accept_what_the_bicep_configures() -> None:
    stand_ins = {
        "MICROSOFT_APP_ID": "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b",
        "MICROSOFT_APP_TYPE": "UserAssignedMSI",
        "MICROSOFT_APP_TENANT_ID": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
        "COPBOT_STORAGE": "azure",
        "AZURE_TABLES_ACCOUNT_URL": "https://copbotstabc.table.core.windows.net/",
        "COPBOT_HOST": "0.0.0.0",
        "COPBOT_PORT": "3978",
        "COPBOT_PUBLIC_URL": "https://copbot-abc.azurewebsites.net",
        "COPBOT_SIGNING_KEY": "k" * 48,
        "COPBOT_ALLOWED_TENANTS": "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5",
        "COPBOT_PROGRAMME_ADMINS": "",
    }
    assert set(stand_ins) <= set(_app_settings())
    settings = Settings.from_env(stand_ins)
    assert settings.app_type == "UserAssignedMSI"
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
