"""Settings come from the environment in one place and refuse bad values with a clear message."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.core.config import DEFAULT_TERMS, Settings, SettingsError, terms_notice


def test_defaults_are_the_embedded_local_setup() -> None:
    settings = Settings.from_env({})
    assert settings.storage == "sqlite"
    assert settings.host == "127.0.0.1"
    assert settings.port == 3978
    assert settings.sqlite_path == Path(".data/copbot.sqlite3")
    assert settings.default_timezone == "Europe/London"
    assert settings.enforce_one_core is True
    assert not settings.authenticated
    assert len(settings.signing_key) >= 32
    assert settings.model_dir == Path("var/models/all-MiniLM-L6-v2")


def test_lists_and_flags_are_parsed() -> None:
    settings = Settings.from_env(
        {
            "COPBOT_PROGRAMME_ADMINS": " a, b ,,c",
            "COPBOT_ALLOWED_TENANTS": "t1",
            "COPBOT_ENFORCE_ONE_CORE": "no",
            "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000001",
        }
    )
    assert settings.programme_admins == frozenset({"a", "b", "c"})
    assert settings.allowed_tenants == frozenset({"t1"})
    assert settings.enforce_one_core is False
    assert settings.authenticated


def test_the_turn_limit_has_a_default_and_is_read() -> None:
    assert Settings.from_env({}).max_concurrent_turns == 24
    assert Settings.from_env({"COPBOT_MAX_CONCURRENT_TURNS": "64"}).max_concurrent_turns == 64


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"COPBOT_STORAGE": "mongo"}, "COPBOT_STORAGE"),
        ({"COPBOT_STORAGE": "azure"}, "AZURE_STORAGE_CONNECTION_STRING"),
        ({"COPBOT_PORT": "http"}, "COPBOT_PORT"),
        ({"COPBOT_PORT": "70000"}, "COPBOT_PORT"),
        ({"COPBOT_TIMEZONE": "Mars/Olympus"}, "COPBOT_TIMEZONE"),
        ({"COPBOT_ENFORCE_ONE_CORE": "maybe"}, "COPBOT_ENFORCE_ONE_CORE"),
        ({"COPBOT_SIGNING_KEY": "short"}, "COPBOT_SIGNING_KEY"),
        ({"MICROSOFT_APP_TYPE": "Weird"}, "MICROSOFT_APP_TYPE"),
        ({"COPBOT_SDK": "botkit"}, "COPBOT_SDK"),
        ({"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__AUTHTYPE": "Password"}, "AUTHTYPE"),
        ({"COPBOT_CONNECTOR_TIMEOUT": "0"}, "COPBOT_CONNECTOR_TIMEOUT"),
        ({"COPBOT_CONNECTOR_TIMEOUT": "soon"}, "COPBOT_CONNECTOR_TIMEOUT"),
        ({"COPBOT_MAX_CONCURRENT_TURNS": "0"}, "COPBOT_MAX_CONCURRENT_TURNS"),
        ({"COPBOT_MAX_CONCURRENT_TURNS": "many"}, "COPBOT_MAX_CONCURRENT_TURNS"),
    ],
)
def test_bad_values_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


PREFIX = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"


def test_the_agents_sdk_names_carry_the_bot_identity() -> None:
    settings = Settings.from_env(
        {
            PREFIX + "CLIENTID": " app-1 ",
            PREFIX + "CLIENTSECRET": "s3cret",
            PREFIX + "TENANTID": "tenant-9",
            PREFIX + "AUTHTYPE": "ClientSecret",
            "MICROSOFT_APP_ID": "ignored-when-the-new-name-is-set",
            "COPBOT_CONNECTOR_TIMEOUT": "2.5",
        }
    )
    assert (settings.app_id, settings.app_password, settings.app_tenant_id) == ("app-1", "s3cret", "tenant-9")
    assert settings.auth_type == "ClientSecret"
    assert settings.app_type == "SingleTenant"  # what the botbuilder seam calls a registration in one tenant
    assert settings.sdk == "agents"
    assert settings.connector_timeout == 2.5
    certificate = Settings.from_env(
        {PREFIX + "CLIENTID": "a", PREFIX + "AUTHTYPE": "Certificate", PREFIX + "CERTPFXFILE": "/run/bot.pfx"}
    )
    assert (certificate.auth_type, certificate.cert_pfx_file) == ("Certificate", "/run/bot.pfx")
    federated = Settings.from_env(
        {PREFIX + "CLIENTID": "a", PREFIX + "AUTHTYPE": "FederatedCredentials", PREFIX + "FEDERATEDCLIENTID": "mi"}
    )
    assert (federated.auth_type, federated.federated_client_id) == ("FederatedCredentials", "mi")


def test_the_botbuilder_names_still_work() -> None:
    settings = Settings.from_env(
        {
            "MICROSOFT_APP_ID": "app-2",
            "MICROSOFT_APP_PASSWORD": "pw",
            "MICROSOFT_APP_TYPE": "UserAssignedMSI",
            "MICROSOFT_APP_TENANT_ID": "t",
            "COPBOT_SDK": "BotBuilder",
        }
    )
    assert (settings.app_id, settings.app_password, settings.app_tenant_id) == ("app-2", "pw", "t")
    assert settings.auth_type == "UserManagedIdentity"
    assert settings.app_type == "UserAssignedMSI"
    assert settings.sdk == "botbuilder"
    assert Settings.from_env({"MICROSOFT_APP_ID": "a"}).app_type == "MultiTenant"
    assert Settings.from_env({PREFIX + "AUTHTYPE": "UserManagedIdentity"}).app_type == "UserAssignedMSI"


def test_a_multi_tenant_secret_gets_tokens_from_the_bot_framework_tenant() -> None:
    from bot.teams.agents_auth import auth_configuration

    config = auth_configuration(Settings.from_env({PREFIX + "CLIENTID": "a", PREFIX + "CLIENTSECRET": "s"}))
    assert config.TENANT_ID == "botframework.com"
    assert config.VALIDATE_ISSUER is True
    assert config.ISSUERS == ["https://api.botframework.com"]
    assert config.ANONYMOUS_ALLOWED is False
    managed = auth_configuration(
        Settings.from_env(
            {PREFIX + "CLIENTID": "a", PREFIX + "AUTHTYPE": "UserManagedIdentity", PREFIX + "TENANTID": "t"}
        )
    )
    assert (managed.TENANT_ID, str(managed.AUTH_TYPE.value)) == ("t", "UserManagedIdentity")
    assert auth_configuration(Settings.from_env({})).ANONYMOUS_ALLOWED is True


def test_model_dir_comes_from_the_environment() -> None:
    assert Settings.from_env({"COPBOT_MODEL_DIR": " /opt/models/minilm "}).model_dir == Path("/opt/models/minilm")
    assert Settings.from_env({"COPBOT_MODEL_DIR": ""}).model_dir == Path("var/models/all-MiniLM-L6-v2")
    assert Settings.from_env({"COPBOT_MODEL_DIR": "off"}).model_dir is None


def test_terms_that_run_out_are_warned_about() -> None:
    terms = ((date(2026, 9, 28), date(2026, 12, 11)), (date(2027, 1, 11), date(2027, 3, 26)))
    assert terms_notice(terms, date(2026, 11, 23)) is None  # four months left
    soon = terms_notice(terms, date(2027, 2, 1))
    assert soon is not None
    assert "ends on 2027-03-26" in soon
    ended = terms_notice(terms, date(2027, 4, 1))
    assert ended is not None
    assert "ended on 2027-03-26" in ended
    assert "is off" in ended
    assert terms_notice((), date(2026, 11, 23)) is not None
    assert terms_notice(DEFAULT_TERMS, date(2026, 11, 23)) is None
