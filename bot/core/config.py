"""Typed settings, read from the environment in one place (see README "Configuration")."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

StorageKind = Literal["sqlite", "azure"]
SdkKind = Literal["agents", "botbuilder"]
AuthType = Literal["ClientSecret", "Certificate", "UserManagedIdentity", "FederatedCredentials"]
AUTH_TYPES: tuple[AuthType, ...] = ("ClientSecret", "Certificate", "UserManagedIdentity", "FederatedCredentials")
# The Agents SDK's own names for the bot's identity; the botbuilder names (MICROSOFT_APP_*) are read as fallbacks.
CONNECTION = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__"


class SettingsError(ValueError):
    """A configuration variable has an invalid value."""


def _csv(value: str) -> frozenset[str]:
    return frozenset(part.strip() for part in value.split(",") if part.strip())


def _bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{name} must be true or false, not {value!r}")


def _int(name: str, value: str, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, not {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return number


def _float(name: str, value: str, low: float, high: float) -> float:
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value!r}") from None
    if not low <= number <= high:  # also refuses NaN
        raise SettingsError(f"{name} must be between {low:g} and {high:g}")
    return number


Term = tuple[date, date]

# Relative to the working directory (the repository root under `make run`), like the SQLite file.
DEFAULT_MODEL_DIR = Path("var/models/all-MiniLM-L6-v2")


# The Teams JavaScript SDK the report tab loads from the bot, as `make node` installs it from package.json (npm).
DEFAULT_TEAMS_JS = Path("node_modules/@microsoft/teams-js/dist/umd/MicrosoftTeams.min.js")


def _model_dir(value: str) -> Path | None:
    if value.lower() in ("off", "none"):
        return None
    return Path(value) if value else DEFAULT_MODEL_DIR


# Typical UK university terms (first and last day); set COPBOT_TERMS to the institution's published dates.
DEFAULT_TERMS: tuple[Term, ...] = (
    (date(2025, 9, 29), date(2025, 12, 12)),
    (date(2026, 1, 12), date(2026, 3, 27)),
    (date(2026, 4, 27), date(2026, 6, 12)),
    (date(2026, 9, 28), date(2026, 12, 11)),
    (date(2027, 1, 11), date(2027, 3, 26)),
    (date(2027, 4, 26), date(2027, 6, 11)),
)


TERMS_NOTICE_DAYS = 60


def terms_notice(terms: Sequence[Term], today: date) -> str | None:
    """What to warn about at start when the configured terms run out within :data:`TERMS_NOTICE_DAYS` (or have):
    the governance check "no core meeting this term" needs the coming terms' dates. None when all is well."""
    if not terms:
        return "COPBOT_TERMS holds no terms: the governance check for a core meeting each term is off"
    last = max(term[1] for term in terms)
    if today > last:
        return (
            f"the last term in COPBOT_TERMS ended on {last.isoformat()}: the governance check for a core meeting each "
            "term is off until COPBOT_TERMS holds the coming terms' dates"
        )
    if (last - today).days <= TERMS_NOTICE_DAYS:
        return (
            f"the last term in COPBOT_TERMS ends on {last.isoformat()}: add the coming terms' dates before then, or "
            "the governance check for a core meeting each term stops"
        )
    return None


def parse_terms(name: str, value: str) -> tuple[Term, ...]:
    """``2026-09-28..2026-12-11,2027-01-11..2027-03-26``: comma-separated first..last days of each term."""
    terms: list[Term] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        first, sep, last = part.partition("..")
        try:
            term = (date.fromisoformat(first.strip()), date.fromisoformat(last.strip()))
        except ValueError:
            raise SettingsError(f"{name}: {part!r} is not FIRST..LAST with dates as YYYY-MM-DD") from None
        if not sep or term[1] < term[0]:
            raise SettingsError(f"{name}: {part!r} must be FIRST..LAST with LAST not before FIRST")
        terms.append(term)
    return tuple(sorted(terms))


@dataclass(frozen=True)
class Settings:
    # which SDK carries the Teams seam (bot/teams/): the Microsoft 365 Agents SDK, or the archived botbuilder
    sdk: SdkKind = "agents"
    # Bot identity; empty app id = unauthenticated local mode (loopback only)
    app_id: str = ""
    app_password: str = ""  # client secret (AUTHTYPE ClientSecret)
    app_tenant_id: str = ""
    app_type: Literal["MultiTenant", "SingleTenant", "UserAssignedMSI"] = "MultiTenant"  # botbuilder's name for it
    auth_type: AuthType = "ClientSecret"  # how the bot gets its own tokens (Agents SDK AUTHTYPE)
    cert_pfx_file: str = ""  # AUTHTYPE Certificate: the certificate file
    federated_client_id: str = ""  # AUTHTYPE FederatedCredentials: the managed identity that signs the assertion
    authority: str = ""  # the identity platform's authority URL; empty = the public cloud's, for the tenant
    # how long one Bot Connector call (a reply, a send, a roster page) may take before it counts as failed
    connector_timeout: float = 5.0
    # online events get a Teams meeting made through Microsoft Graph (needs OnlineMeetings.ReadWrite.All and an
    # application access policy; deployment/README.md); off: leads paste a meeting link
    teams_meetings: bool = False
    graph_url: str = "https://graph.microsoft.com/v1.0"  # tests point it at a fake Graph
    # identity endpoints: how long a key or token fetch may take before the request is refused (503)
    identity_timeout: float = 3.0
    openid_metadata_url: str = ""  # empty = the Bot Framework's public metadata (tests point it at a fake)
    # the report tab's sign-in tokens: Entra ID's OpenID metadata; empty = the public cloud's (tests point it at a fake)
    entra_metadata_url: str = ""
    # HTTP
    host: str = "127.0.0.1"
    port: int = 3978
    public_url: str = "http://127.0.0.1:3978"  # base of signed links (calendar files, exports)
    max_body_bytes: int = 256 * 1024
    # activities worked on at once; more wait in arrival order (bounds what turns in flight hold and keeps the
    # slowest answer near the typical one under a burst). Cards' invokes do not wait: Teams gives them ~5 s
    max_concurrent_turns: int = 24
    # storage
    storage: StorageKind = "sqlite"
    sqlite_path: Path = Path(".data/copbot.sqlite3")
    azure_connection_string: str = ""  # takes precedence over the account URL
    azure_account_url: str = ""  # with DefaultAzureCredential (managed identity) when no connection string
    # who may do what
    allowed_tenants: frozenset[str] = frozenset()  # empty = any tenant
    programme_admins: frozenset[str] = frozenset()  # AAD object ids of the programme team
    enforce_one_core: bool = True  # the programme's guidance recommends one core CoP; False relaxes it to a warning
    # how long this process may reuse a CoP row (leads, sponsor, active) when resolving roles; 0 = always read.
    # Writes on this instance are seen at once; a change made on another instance within this many seconds.
    cop_cache_seconds: float = 10.0
    # MB of memory the FAQ indexes of CoPs with entries of their own may hold in one instance
    # (bot/domain/faq_indexes.py)
    faq_index_mb: float = 16.0
    # time
    default_timezone: str = "Europe/London"
    # secrets for signed links and card tokens
    signing_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    # keys the impact survey's "already answered" markers; empty = the signing key (how markers were keyed before
    # this setting, so markers already stored stay valid until it is set). Rotation: deployment/README.md
    survey_marker_key: str = field(default="", repr=False)
    # scheduler on/off (tests drive jobs directly)
    scheduler_enabled: bool = True
    # outbox delivery: Teams allows about 50 requests/s per app per tenant and a few sends per second per thread
    outbox_rate_per_s: float = 50.0  # global token bucket of this instance (the flush loop runs on one instance)
    outbox_conversation_gap_s: float = 1.0  # at least this long between two sends to one conversation
    outbox_concurrency: int = 16  # sends in flight at once
    # governance reminders
    terms: tuple[Term, ...] = DEFAULT_TERMS
    lead_sponsor_max_weeks: int = 6
    log_level: str = "INFO"
    # FAQ sentence encoder (bot/answers/encoder.py): where `make model` puts all-MiniLM-L6-v2; None ("off"): the
    # FAQ is ranked by BM25 alone
    model_dir: Path | None = DEFAULT_MODEL_DIR
    # the report tab's Teams JavaScript SDK file, served at /report/static/teams.js (never from a CDN)
    teams_js: Path = DEFAULT_TEAMS_JS

    @property
    def marker_key(self) -> str:
        """The key of the survey's "already answered" markers: its own setting, else the signing key."""
        return self.survey_marker_key or self.signing_key

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    @property
    def authenticated(self) -> bool:
        return bool(self.app_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        get = env.get
        storage = get("COPBOT_STORAGE", "sqlite").strip().lower()
        if storage not in ("sqlite", "azure"):
            raise SettingsError(f"COPBOT_STORAGE must be sqlite or azure, not {storage!r}")
        app_type = get("MICROSOFT_APP_TYPE", "MultiTenant").strip() or "MultiTenant"
        if app_type not in ("MultiTenant", "SingleTenant", "UserAssignedMSI"):
            raise SettingsError("MICROSOFT_APP_TYPE must be MultiTenant, SingleTenant or UserAssignedMSI")
        tz_name = get("COPBOT_TIMEZONE", "Europe/London").strip()
        try:
            ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"COPBOT_TIMEZONE {tz_name!r} is not a known time zone") from None
        host = get("COPBOT_HOST", "127.0.0.1").strip()
        port = _int("COPBOT_PORT", get("COPBOT_PORT", "3978"), 0, 65535)
        signing_key = get("COPBOT_SIGNING_KEY", "").strip()
        if signing_key and len(signing_key) < 32:
            raise SettingsError("COPBOT_SIGNING_KEY must be at least 32 characters")
        survey_marker_key = get("COPBOT_SURVEY_MARKER_KEY", "").strip()
        if survey_marker_key and len(survey_marker_key) < 32:
            raise SettingsError("COPBOT_SURVEY_MARKER_KEY must be at least 32 characters")
        if storage == "azure" and not (get("AZURE_STORAGE_CONNECTION_STRING") or get("AZURE_TABLES_ACCOUNT_URL")):
            raise SettingsError(
                "COPBOT_STORAGE=azure needs AZURE_STORAGE_CONNECTION_STRING or AZURE_TABLES_ACCOUNT_URL"
            )
        sdk = get("COPBOT_SDK", "agents").strip().lower() or "agents"
        if sdk not in ("agents", "botbuilder"):
            raise SettingsError(f"COPBOT_SDK must be agents or botbuilder, not {sdk!r}")
        legacy_type = app_type
        auth_type = get(CONNECTION + "AUTHTYPE", "").strip() or (
            "UserManagedIdentity" if legacy_type == "UserAssignedMSI" else "ClientSecret"
        )
        if auth_type not in AUTH_TYPES:
            raise SettingsError(f"{CONNECTION}AUTHTYPE must be one of {', '.join(AUTH_TYPES)}, not {auth_type!r}")
        tenant_id = (get(CONNECTION + "TENANTID", "") or get("MICROSOFT_APP_TENANT_ID", "")).strip()
        if auth_type == "UserManagedIdentity" and legacy_type != "UserAssignedMSI":
            app_type = "UserAssignedMSI"
        elif not get("MICROSOFT_APP_TYPE") and tenant_id and tenant_id.lower() != "botframework.com":
            app_type = "SingleTenant"  # the botbuilder seam's name for a registration in one tenant
        timeout_text = get("COPBOT_IDENTITY_TIMEOUT", "3").strip()
        try:
            identity_timeout = float(timeout_text)
        except ValueError:
            raise SettingsError(f"COPBOT_IDENTITY_TIMEOUT must be a number of seconds, not {timeout_text!r}") from None
        if not 0.1 <= identity_timeout <= 30:
            raise SettingsError("COPBOT_IDENTITY_TIMEOUT must be between 0.1 and 30 seconds")
        return cls(
            sdk=sdk,  # type: ignore[arg-type]
            app_id=(get(CONNECTION + "CLIENTID", "") or get("MICROSOFT_APP_ID", "")).strip(),
            app_password=get(CONNECTION + "CLIENTSECRET", "") or get("MICROSOFT_APP_PASSWORD", ""),
            app_tenant_id=tenant_id,
            app_type=app_type,  # type: ignore[arg-type]
            auth_type=auth_type,  # type: ignore[arg-type]
            cert_pfx_file=get(CONNECTION + "CERTPFXFILE", "").strip(),
            federated_client_id=get(CONNECTION + "FEDERATEDCLIENTID", "").strip(),
            authority=get(CONNECTION + "AUTHORITY", "").strip(),
            connector_timeout=_float("COPBOT_CONNECTOR_TIMEOUT", get("COPBOT_CONNECTOR_TIMEOUT", "5"), 0.5, 60.0),
            identity_timeout=identity_timeout,
            entra_metadata_url=get("COPBOT_ENTRA_METADATA_URL", "").strip(),
            host=host,
            port=port,
            public_url=(get("COPBOT_PUBLIC_URL", "") or f"http://{host}:{port}").rstrip("/"),
            max_body_bytes=_int("COPBOT_MAX_BODY_BYTES", get("COPBOT_MAX_BODY_BYTES", str(256 * 1024)), 1024, 4 << 20),
            max_concurrent_turns=_int("COPBOT_MAX_CONCURRENT_TURNS", get("COPBOT_MAX_CONCURRENT_TURNS", "24"), 1, 1024),
            storage=storage,  # type: ignore[arg-type]
            sqlite_path=Path(get("COPBOT_SQLITE_PATH", ".data/copbot.sqlite3")),
            azure_connection_string=get("AZURE_STORAGE_CONNECTION_STRING", ""),
            azure_account_url=get("AZURE_TABLES_ACCOUNT_URL", "").strip(),
            allowed_tenants=_csv(get("COPBOT_ALLOWED_TENANTS", "")),
            programme_admins=_csv(get("COPBOT_PROGRAMME_ADMINS", "")),
            enforce_one_core=_bool("COPBOT_ENFORCE_ONE_CORE", get("COPBOT_ENFORCE_ONE_CORE", "true")),
            cop_cache_seconds=_float("COPBOT_COP_CACHE_SECONDS", get("COPBOT_COP_CACHE_SECONDS", "10"), 0.0, 300.0),
            faq_index_mb=_float("COPBOT_FAQ_INDEX_MB", get("COPBOT_FAQ_INDEX_MB", "16"), 0.0, 4096.0),
            default_timezone=tz_name,
            signing_key=signing_key or secrets.token_urlsafe(32),
            survey_marker_key=survey_marker_key,
            scheduler_enabled=_bool("COPBOT_SCHEDULER", get("COPBOT_SCHEDULER", "true")),
            teams_meetings=_bool("COPBOT_TEAMS_MEETINGS", get("COPBOT_TEAMS_MEETINGS", "false")),
            graph_url=(get("COPBOT_GRAPH_URL", "") or "https://graph.microsoft.com/v1.0").rstrip("/"),
            outbox_rate_per_s=_float("COPBOT_OUTBOX_RATE", get("COPBOT_OUTBOX_RATE", "50"), 0.1, 1000.0),
            outbox_conversation_gap_s=_float(
                "COPBOT_OUTBOX_CONVERSATION_GAP_S", get("COPBOT_OUTBOX_CONVERSATION_GAP_S", "1"), 0.0, 60.0
            ),
            outbox_concurrency=_int("COPBOT_OUTBOX_CONCURRENCY", get("COPBOT_OUTBOX_CONCURRENCY", "16"), 1, 256),
            terms=parse_terms("COPBOT_TERMS", get("COPBOT_TERMS", "")) if get("COPBOT_TERMS") else DEFAULT_TERMS,
            lead_sponsor_max_weeks=_int(
                "COPBOT_LEAD_SPONSOR_MAX_WEEKS", get("COPBOT_LEAD_SPONSOR_MAX_WEEKS", "6"), 1, 52
            ),
            log_level=get("COPBOT_LOG_LEVEL", "INFO").strip().upper() or "INFO",
            model_dir=_model_dir(get("COPBOT_MODEL_DIR", "").strip()),
            teams_js=Path(get("COPBOT_TEAMS_JS", "").strip() or DEFAULT_TEAMS_JS),
        )
