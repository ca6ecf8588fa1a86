"""Run the bot behind the Microsoft 365 Agents Playground, a Teams-like web client that works offline.

`make playground` (``python -m deployment.playground``) starts two processes on the loopback interface:

- the bot (``python -m bot``) on 127.0.0.1:3978 with its own SQLite file under ``.data/playground/``;
- the Playground (npm ``@microsoft/m365agentsplayground``) on 127.0.0.1:56150, with the mock tenant in
  ``tenant.yml`` (a "Data and Insight" CoP team with a second channel, five colleagues and a group chat) and its
  mock Bot Connector at ``/_connector``, where the bot sends its replies.

The Playground has no option to choose its listening address (it listens on every interface), so it is started
with ``loopback.cjs`` preloaded, which gives its listen() calls the loopback host. The journey test
(tests/playground/test_journey.py) starts the same two processes through :func:`start`.
"""

from __future__ import annotations

import ast
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
TENANT_FILE = HERE / "tenant.yml"
LOOPBACK_SHIM = HERE / "loopback.cjs"
PACKAGE_DIR = ROOT / "node_modules" / "@microsoft" / "m365agentsplayground"
CLI = PACKAGE_DIR / "cli.js"
HOST = "127.0.0.1"
DEFAULT_BOT_PORT = 3978
DEFAULT_PORT = 56150
DEFAULT_DATA_DIR = ROOT / ".data" / "playground"
SCHEMA_ID = "https://aka.ms/teams-app-test-tool-config/0.1.1/config.schema.json"


class PlaygroundError(RuntimeError):
    """The Playground or the bot could not be started; the message says why and what to do."""


@dataclass(frozen=True)
class Options:
    port: int = DEFAULT_PORT
    bot_port: int = DEFAULT_BOT_PORT
    data_dir: Path = DEFAULT_DATA_DIR
    tenant: Path = TENANT_FILE
    fresh: bool = False  # delete the bot's SQLite file first
    bot_output: str = "file"  # "file" (data_dir/bot.log) or "inherit" (this terminal)
    extra_env: dict[str, str] = field(default_factory=dict)  # extra settings for the bot

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def bot_endpoint(self) -> str:
        return f"http://{HOST}:{self.bot_port}/api/messages"


# -- the mock tenant -------------------------------------------------------------------------------------------
def load_tenant(path: Path = TENANT_FILE) -> dict[str, Any]:
    import yaml  # dev dependency (pyproject [dev]); only the Playground tools need it

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise PlaygroundError(f"{path} is not a YAML mapping")
    return data


def playground_schema() -> dict[str, Any]:
    """The mock-tenant JSON schema that the installed Playground validates its config file with.

    The package ships it only inside its bundled ``dist/index.js`` (as ``JSON.parse('…')``), so it is read from
    there: the checks follow whatever Playground version ``package-lock.json`` pins."""
    import json

    bundle = (PACKAGE_DIR / "dist" / "index.js").read_text(encoding="utf-8")
    start = bundle.find('JSON.parse(\'{"$id":"' + SCHEMA_ID)
    if start < 0:
        raise PlaygroundError(f"the Playground bundle no longer contains the config schema {SCHEMA_ID}")
    literal_start = start + len("JSON.parse(")
    end = literal_start + 1
    while bundle[end] != "'" or bundle[end - 1] == "\\":
        end += 1
    schema = json.loads(ast.literal_eval(bundle[literal_start : end + 1]))
    if not isinstance(schema, dict):
        raise PlaygroundError("the Playground's config schema is not a JSON object")
    return schema


def tenant_problems(tenant: dict[str, Any]) -> list[str]:
    """Why the Playground would refuse this mock tenant (empty when it is valid)."""
    import jsonschema

    validator = jsonschema.Draft7Validator(playground_schema())
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(top)'}: {error.message}"
        for error in sorted(validator.iter_errors(tenant), key=lambda e: list(e.absolute_path))
    ]


# -- processes ---------------------------------------------------------------------------------------------------
def port_is_free(port: int) -> bool:
    """Whether a server could listen there now (connections still closing, in TIME_WAIT, don't count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def signing_key(data_dir: Path) -> str:
    """A card-sealing key kept with the data, so cards shown before a restart still work after it."""
    path = data_dir / "signing.key"
    if path.exists():
        key = path.read_text(encoding="ascii").strip()
        if len(key) >= 32:
            return key
    key = secrets.token_urlsafe(32)
    path.write_text(key + "\n", encoding="ascii")
    path.chmod(0o600)
    return key


# Settings a developer's shell may hold that must not reach the Playground's bot: its identity under the Bot
# Framework names (MICROSOFT_APP_*) and the Microsoft 365 Agents SDK's (CONNECTIONS__*, with CONNECTIONSMAP__ and
# AGENTAPPLICATION__, the other sections the SDK loads from the environment), its own settings and Azure's.
# Any of them could turn authentication on or point the bot at real storage; the Playground sends no tokens.
STRIPPED_ENV_PREFIXES = (
    "MICROSOFT_APP_",
    "CONNECTIONS__",
    "CONNECTIONSMAP__",
    "AGENTAPPLICATION__",
    "COPBOT_",
    "AZURE_",
)


def bot_env(options: Options, tenant: dict[str, Any]) -> dict[str, str]:
    """The bot's settings: loopback, unauthenticated local mode, its own store, and the mock tenant's current
    user as a programme admin (the Playground has one user to click as, so that user can try every command)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_ENV_PREFIXES)}
    current = tenant.get("currentUser") or {}
    env.update(
        {
            "COPBOT_HOST": HOST,
            "COPBOT_PORT": str(options.bot_port),
            "COPBOT_PUBLIC_URL": f"http://{HOST}:{options.bot_port}",
            "COPBOT_STORAGE": "sqlite",
            "COPBOT_SQLITE_PATH": str(options.data_dir / "copbot.sqlite3"),
            "COPBOT_SIGNING_KEY": signing_key(options.data_dir),
            "COPBOT_ALLOWED_TENANTS": str(tenant.get("tenantId", "")),
            "COPBOT_PROGRAMME_ADMINS": str(current.get("aadObjectId", "")),
            "COPBOT_LOG_LEVEL": "INFO",
            **options.extra_env,
        }
    )
    return env


def playground_env(options: Options) -> dict[str, str]:
    return {
        **os.environ,
        "TEAMSAPPTESTER_BROWSER": "none",  # print the address instead of opening a browser
        "M365_AGENTS_PLAYGROUND_CONFIG_PATH": str(options.tenant.resolve()),
        "M365_AGENTS_PLAYGROUND_LOGFILE": str((options.data_dir / "playground-debug.log").resolve()),
        "PLAYGROUND_HOST": HOST,  # read by loopback.cjs
    }


def playground_command(options: Options, node: str) -> list[str]:
    return [
        node,
        "--require",
        str(LOOPBACK_SHIM),
        str(CLI),
        "--app-endpoint",
        options.bot_endpoint,
        "--channel-id",
        "msteams",
        "--port",
        str(options.port),
        "--service-url",
        f"{options.url}/_connector",
        "--disable-telemetry",
    ]


def _wait_for(url: str, process: subprocess.Popen[bytes], what: str, log: Path | None, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PlaygroundError(f"{what} exited with code {process.returncode} while starting{_tail(log)}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a fixed loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise PlaygroundError(f"{what} did not answer {url} within {limit_s:.0f} s{_tail(log)}")


def _tail(log: Path | None, lines: int = 15) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
    return f"; last lines of {log}:\n" + "\n".join(text)


@dataclass
class Running:
    """The two started processes. ``stop()`` ends the Playground, then the bot."""

    options: Options
    bot: subprocess.Popen[bytes]
    playground: subprocess.Popen[bytes]
    bot_log: Path | None
    playground_log: Path
    _files: list[IO[bytes]] = field(default_factory=list)

    def exited(self) -> str | None:
        """Which process has stopped on its own, if any."""
        if self.bot.poll() is not None:
            return f"the bot exited with code {self.bot.returncode}{_tail(self.bot_log)}"
        if self.playground.poll() is not None:
            return f"the Playground exited with code {self.playground.returncode}{_tail(self.playground_log)}"
        return None

    def stop(self) -> None:
        for process in (self.playground, self.bot):
            if process.poll() is None:
                process.terminate()
        for process in (self.playground, self.bot):
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        for handle in self._files:
            handle.close()
        self._files.clear()


def start(options: Options) -> Running:
    """Start the bot, wait until it is healthy, then the Playground pointed at it; raise PlaygroundError with a
    useful message if something is missing or a port is taken."""
    node = shutil.which("node")
    if node is None:
        raise PlaygroundError("Node.js (node) is not installed; the Playground is a Node.js program")
    if not CLI.exists():
        raise PlaygroundError(f"{CLI} is missing; run `make node` (npm ci) first")
    tenant = load_tenant(options.tenant)
    problems = tenant_problems(tenant)
    if problems:
        raise PlaygroundError(f"{options.tenant} does not match the Playground's schema: " + "; ".join(problems))
    for port, what, flag in ((options.bot_port, "bot", "--bot-port"), (options.port, "Playground", "--port")):
        if not port_is_free(port):
            raise PlaygroundError(f"port {port} for the {what} is already in use; stop that process or use {flag}")
    options.data_dir.mkdir(parents=True, exist_ok=True)
    if options.fresh:
        for suffix in ("", "-wal", "-shm"):
            (options.data_dir / f"copbot.sqlite3{suffix}").unlink(missing_ok=True)

    files: list[IO[bytes]] = []
    bot_log: Path | None = None
    bot_out: IO[bytes] | None = None
    if options.bot_output == "file":
        bot_log = options.data_dir / "bot.log"
        bot_out = bot_log.open("ab")
        files.append(bot_out)
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env=bot_env(options, tenant),
        stdout=bot_out,
        stderr=subprocess.STDOUT if bot_out is not None else None,
        start_new_session=True,  # Ctrl-C reaches the launcher only; it stops both in order
    )
    playground: subprocess.Popen[bytes] | None = None
    playground_log = options.data_dir / "playground.log"
    try:
        _wait_for(f"http://{HOST}:{options.bot_port}/healthz", bot, "the bot", bot_log, 60)
        play_out = playground_log.open("ab")
        files.append(play_out)
        playground = subprocess.Popen(
            playground_command(options, node),
            cwd=options.data_dir,  # it writes a devTools/ folder into its working directory
            env=playground_env(options),
            stdout=play_out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_for(options.url + "/", playground, "the Playground", playground_log, 60)
    except BaseException:
        for process in (playground, bot):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)
        for handle in files:
            handle.close()
        raise
    return Running(options, bot, playground, bot_log, playground_log, files)
