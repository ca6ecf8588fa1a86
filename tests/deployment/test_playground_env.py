"""The Playground's bot runs unauthenticated whatever identity a developer's shell holds (deployment/playground)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import Settings
from deployment.playground import Options, bot_env

TENANT_ID = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
TENANT = {"tenantId": TENANT_ID, "currentUser": {"aadObjectId": "sam-object-id"}}
APP_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
# What a developer who also deploys the bot may have exported: both SDKs' identity settings and more.
SHELL = {
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__AUTHTYPE": "ClientSecret",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "a-real-secret",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT_ID,
    "CONNECTIONSMAP__0__SERVICEURL": "*",
    "CONNECTIONSMAP__0__CONNECTION": "SERVICE_CONNECTION",
    "AGENTAPPLICATION__USERAUTHORIZATION__HANDLERS__GRAPH__SETTINGS__AZUREBOTOAUTHCONNECTIONNAME": "graph",
    "MICROSOFT_APP_ID": APP_ID,
    "MICROSOFT_APP_PASSWORD": "a-real-secret",
    "MICROSOFT_APP_TYPE": "SingleTenant",
    "COPBOT_SDK": "botbuilder",
    "COPBOT_STORAGE": "azure",
    "AZURE_TABLES_ACCOUNT_URL": "https://copbotst.table.core.windows.net/",
    "AZURE_CLIENT_ID": APP_ID,
}


@pytest.fixture
def shell(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SHELL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COPBOT_PLAYGROUND_UNRELATED", "x")
    monkeypatch.setenv("LANG", "C.UTF-8")


@pytest.mark.usefixtures("shell")
def test_the_shells_identity_does_not_reach_the_playgrounds_bot(tmp_path: Path) -> None:
    env = bot_env(Options(data_dir=tmp_path), TENANT)
    leaked = sorted(n for n in env if n.startswith(("CONNECTIONS", "AGENTAPPLICATION", "MICROSOFT_", "AZURE_")))
    assert not leaked, f"the Playground's bot would see {leaked}"
    # the bot's own settings come from the launcher alone
    assert "COPBOT_SDK" not in env
    assert "COPBOT_PLAYGROUND_UNRELATED" not in env
    assert env["COPBOT_STORAGE"] == "sqlite"
    assert env["LANG"] == "C.UTF-8"  # everything else is passed on
    settings = Settings.from_env(env)
    assert not settings.authenticated
    assert settings.sdk == "agents"
    assert settings.storage == "sqlite"
    assert settings.host == "127.0.0.1"


@pytest.mark.usefixtures("shell")
def test_the_launcher_can_still_set_what_it_strips(tmp_path: Path) -> None:
    """extra_env is the launcher's own choice (e.g. the seam under test), applied after the shell is filtered."""
    env = bot_env(Options(data_dir=tmp_path, extra_env={"COPBOT_SDK": "botbuilder"}), TENANT)
    assert env["COPBOT_SDK"] == "botbuilder"
    assert "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID" not in env
