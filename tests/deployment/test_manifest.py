"""The Teams app package: manifest against Microsoft's schema (from npm, offline), icons, command lists, zip."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft6Validator, validators
from PIL import Image

from bot.core.turn import Role
from bot.features import build_router
from bot.routing.router import Command, Router
from deployment import manifest as m

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "node_modules" / "@microsoft" / "app-manifest" / "build" / "json-schemas" / "teams"
SCHEMA_PATH = SCHEMA_DIR / f"v{m.MANIFEST_VERSION}" / "MicrosoftTeams.schema.json"
APP_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
OTHER_ID = "0c1d2e3f-4a5b-4c6d-8e7f-8091a2b3c4d5"
AGENTS_APP_ID = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID"  # the Agents SDK's name, read first
ENV = {"MICROSOFT_APP_ID": APP_ID, "COPBOT_PUBLIC_URL": "https://copbot.example.ac.uk"}
AGENTS_ENV = {AGENTS_APP_ID: APP_ID, "COPBOT_PUBLIC_URL": "https://copbot.example.ac.uk"}


def _validator() -> Draft4Validator:
    if not SCHEMA_PATH.exists():
        pytest.fail(f"{SCHEMA_PATH} is missing: run `npm ci` (make node) to install @microsoft/app-manifest")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    # The file declares draft-04 but uses `const` (draft-06), as ajv does when the Agents Toolkit validates it;
    # give the draft-04 validator that one keyword so `manifestVersion` is really checked.
    cls = validators.extend(Draft4Validator, {"const": Draft6Validator.VALIDATORS["const"]})  # type: ignore[no-untyped-call]
    validator: Draft4Validator = cls(schema)
    return validator  # all $refs in the file are local (#/...); nothing is fetched


@pytest.fixture(scope="module")
def validator() -> Draft4Validator:
    return _validator()


@pytest.fixture(scope="module")
def router() -> Router:
    return build_router()


@pytest.fixture(scope="module")
def manifest(router: Router) -> dict[str, Any]:
    return m.build_manifest(m.AppSettings.from_env(ENV), router)


def test_schema_is_the_newest_numbered_one_the_package_ships() -> None:
    shipped = [p.name for p in SCHEMA_DIR.iterdir() if p.name.startswith("v1.")]
    newest = max(shipped, key=lambda name: tuple(int(x) for x in name[1:].split(".")))
    assert newest == f"v{m.MANIFEST_VERSION}", f"@microsoft/app-manifest now ships {newest}; consider moving to it"


def test_manifest_is_valid_against_the_official_schema(validator: Draft4Validator, manifest: dict[str, Any]) -> None:
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    assert manifest["manifestVersion"] == m.MANIFEST_VERSION
    assert manifest["$schema"].endswith(f"/v{m.MANIFEST_VERSION}/MicrosoftTeams.schema.json")


def test_schema_check_is_not_vacuous(validator: Draft4Validator, manifest: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(manifest))
    broken["manifestVersion"] = "1.29"
    broken["bots"][0]["botId"] = "not-a-guid"
    broken["name"]["short"] = "x" * 31
    messages = [e.message for e in validator.iter_errors(broken)]
    assert len(messages) >= 3, messages


def test_bot_scopes_ids_and_files(manifest: dict[str, Any]) -> None:
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID
    assert manifest["id"] == APP_ID
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert bot["supportsFiles"] is True  # import members takes a CSV file in personal chat
    assert manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["validDomains"] == ["copbot.example.ac.uk"]


def test_rsc_permissions(manifest: dict[str, Any]) -> None:
    rsc = manifest["authorization"]["permissions"]["resourceSpecific"]
    assert {p["name"] for p in rsc} == {
        "ChannelMessage.Read.Group",
        "TeamSettings.Read.Group",
        "TeamMember.Read.Group",
        "ChatMessage.Read.Chat",
    }
    assert all(p["type"] == "Application" for p in rsc)
    readme = (ROOT / "deployment" / "README.md").read_text(encoding="utf-8")
    for name, _ in m.RSC_PERMISSIONS:
        assert f"`{name}`" in readme, f"{name} is not justified in deployment/README.md"


def test_every_listed_command_exists_in_the_router_and_fits_teams_limits(
    manifest: dict[str, Any], router: Router
) -> None:
    by_name = {c.name: c for c in router.commands}
    lists = manifest["bots"][0]["commandLists"]
    assert {scope for cl in lists for scope in cl["scopes"]} <= {"personal", "team", "groupChat"}
    for command_list in lists:
        (scope,) = command_list["scopes"]
        commands = command_list["commands"]
        assert 1 <= len(commands) <= 10
        assert len({c["title"] for c in commands}) == len(commands)
        for entry in commands:
            assert entry["title"] in by_name, f"{entry['title']!r} is not a router command"
            assert m.SCOPE_PLACES[scope] in by_name[entry["title"]].places, f"{entry['title']!r} not usable in {scope}"
            assert 1 <= len(entry["title"]) <= 32
            assert 1 <= len(entry["description"]) <= 128


def test_help_is_offered_everywhere(manifest: dict[str, Any]) -> None:
    for command_list in manifest["bots"][0]["commandLists"]:
        assert "help" in [c["title"] for c in command_list["commands"]]


async def _noop(_: object) -> None:
    return None


ALL = frozenset({"personal", "channel", "groupChat"})


def _command(name: str, role: Role, places: frozenset[str] = ALL) -> Command:
    return Command(tuple(name.split()), _noop, f"does {name}", role, places)  # type: ignore[arg-type]


def test_command_list_caps_at_ten_and_puts_everyones_commands_first() -> None:
    commands = [_command(f"lead{i}", Role.LEAD) for i in range(8)]
    commands += [_command("help", Role.ANYONE), _command("faq add", Role.LEAD), _command("faq", Role.LEAD)]
    commands += [_command(f"all{i}", Role.ANYONE) for i in range(3)]
    commands += [_command("x" * 33, Role.ANYONE), _command("here only", Role.ANYONE, frozenset({"channel"}))]
    chosen = [c["title"] for c in m.command_list(commands, "personal")]
    assert len(chosen) == 10
    assert chosen[:4] == ["all0", "all1", "all2", "help"]
    assert chosen.index("faq") < len(chosen)  # top-level lead command kept before its sub-command
    assert "faq add" not in chosen
    assert "x" * 33 not in chosen
    assert "here only" not in chosen
    assert "here only" in [c["title"] for c in m.command_list(commands, "team")]


def test_long_help_is_clipped_to_128() -> None:
    command = Command(("ask",), _noop, "word " * 60, Role.ANYONE, frozenset({"personal"}))
    (entry,) = m.command_list([command], "personal")
    assert len(entry["description"]) == 128
    assert entry["description"].endswith("…")


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"COPBOT_PUBLIC_URL": "https://a.example.org"}, f"{AGENTS_APP_ID} or MICROSOFT_APP_ID is required"),
        ({**ENV, "MICROSOFT_APP_ID": " ", AGENTS_APP_ID: ""}, f"{AGENTS_APP_ID} or MICROSOFT_APP_ID is required"),
        ({**ENV, "MICROSOFT_APP_ID": "my-bot"}, "MICROSOFT_APP_ID must be a GUID"),
        ({**ENV, "MICROSOFT_APP_ID": "00000000-0000-0000-0000-000000000000"}, "must be a GUID"),
        ({**AGENTS_ENV, AGENTS_APP_ID: "my-bot"}, f"{AGENTS_APP_ID} must be a GUID"),
        ({**AGENTS_ENV, "MICROSOFT_APP_ID": "my-bot"}, "MICROSOFT_APP_ID must be a GUID"),  # a typo is not hidden
        ({**AGENTS_ENV, "MICROSOFT_APP_ID": OTHER_ID}, "name different apps"),
        ({"MICROSOFT_APP_ID": APP_ID}, "COPBOT_PUBLIC_URL is required"),
        ({**ENV, "COPBOT_PUBLIC_URL": "http://copbot.example.org"}, "must be an https:// URL"),
        ({**ENV, "COPBOT_PUBLIC_URL": "https://"}, "must name a host"),
        ({**ENV, "COPBOT_PUBLIC_URL": "https://copbot.example.org/api/messages"}, "without path"),
        ({**ENV, "COPBOT_APP_NAME": "C" * 31}, "at most 30 characters"),
        ({**ENV, "COPBOT_APP_VERSION": "1.0"}, "semantic version"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(m.ManifestError, match=complaint):
        m.AppSettings.from_env(env)


@pytest.mark.parametrize(
    "ids",
    [
        {AGENTS_APP_ID: APP_ID},  # the Agents SDK's name alone
        {"MICROSOFT_APP_ID": APP_ID},  # the Bot Framework name alone (what `make package` passes)
        {AGENTS_APP_ID: APP_ID, "MICROSOFT_APP_ID": APP_ID.upper()},  # both, naming the same app
        {AGENTS_APP_ID: APP_ID, "MICROSOFT_APP_ID": ""},  # `make package` with MICROSOFT_APP_ID unset passes ""
        {AGENTS_APP_ID: "", "MICROSOFT_APP_ID": f" {APP_ID} "},
    ],
)
def test_app_id_comes_from_either_name(ids: dict[str, str], router: Router) -> None:
    settings = m.AppSettings.from_env({"COPBOT_PUBLIC_URL": "https://copbot.example.ac.uk", **ids})
    assert settings.app_id == settings.teams_app_id == APP_ID
    manifest = m.build_manifest(settings, router)
    assert manifest["bots"][0]["botId"] == manifest["webApplicationInfo"]["id"] == APP_ID
    assert manifest["webApplicationInfo"]["resource"] == f"api://copbot.example.ac.uk/{APP_ID}"


def test_the_bot_is_a_custom_engine_agent_for_copilot(manifest: dict[str, Any]) -> None:
    """Copilot chat reaches the same bot: its id, of type bot, with personal scope and the names the schema needs."""
    [agent] = manifest["copilotAgents"]["customEngineAgents"]
    [bot] = manifest["bots"]
    assert agent["id"] == bot["botId"]
    assert agent["type"] == "bot"
    assert "personal" in bot["scopes"]
    assert manifest["name"]["short"]
    assert manifest["description"]["short"]
    assert 0 < len(agent["disclaimer"]["text"]) <= 500


def test_the_report_is_a_personal_tab_behind_the_chat(manifest: dict[str, Any]) -> None:
    chat, report = manifest["staticTabs"]
    assert chat == {"entityId": "conversations", "scopes": ["personal"]}
    assert report["contentUrl"] == "https://copbot.example.ac.uk/report/tab"
    assert report["scopes"] == ["personal"]
    assert report["contentUrl"].split("/")[2] in manifest["validDomains"]


def test_cli_refuses_bad_settings_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "appPackage.zip"
    assert m.main(["--out", str(out)], env={"MICROSOFT_APP_ID": APP_ID, "COPBOT_PUBLIC_URL": "http://x.org"}) == 2
    assert "https" in capsys.readouterr().err
    assert not out.exists()


def test_cli_writes_the_package(tmp_path: Path, validator: Draft4Validator) -> None:
    out = tmp_path / "build" / "appPackage.zip"
    env = {**ENV, "COPBOT_APP_NAME": "CoP Bot (test)", "COPBOT_APP_VERSION": "2.3.4"}
    assert m.main(["--out", str(out)], env=env) == 0
    with zipfile.ZipFile(out) as archive:
        assert sorted(archive.namelist()) == ["color.png", "manifest.json", "outline.png"]
        assert archive.testzip() is None
        manifest = json.loads(archive.read("manifest.json"))
        color = Image.open(io.BytesIO(archive.read("color.png")))
        outline = Image.open(io.BytesIO(archive.read("outline.png")))
    assert not list(validator.iter_errors(manifest))
    assert manifest["version"] == "2.3.4"
    assert manifest["name"]["short"] == "CoP Bot (test)"
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert color.size == (192, 192)
    assert outline.size == (32, 32)


def test_color_icon() -> None:
    image = Image.open(m.ICON_DIR / m.COLOR_ICON)
    assert image.format == "PNG"
    assert image.size == (192, 192)
    assert image.mode in ("RGB", "RGBA")
    assert len(image.convert("RGB").getcolors(maxcolors=192 * 192) or []) > 2  # a logo, not a flat square


def test_outline_icon_is_white_on_transparent() -> None:
    image = Image.open(m.ICON_DIR / m.OUTLINE_ICON)
    assert image.format == "PNG"
    assert image.size == (32, 32)
    assert image.mode == "RGBA"
    colors: list[tuple[int, tuple[int, int, int, int]]] | None = image.getcolors(maxcolors=32 * 32)  # type: ignore[assignment]
    assert colors is not None
    alphas = {alpha for _, (_, _, _, alpha) in colors}
    assert 0 in alphas, "needs a transparent background"
    assert any(a > 0 for a in alphas), "needs a visible outline"
    not_white = [rgba for _, rgba in colors if rgba[3] > 0 and rgba[:3] != (255, 255, 255)]
    assert not not_white, f"outline icon may only have white or transparent pixels: {not_white[:5]}"


def test_usage_is_shown_in_the_description() -> None:
    command = Command(("faq", "remove"), _noop, "Remove an FAQ entry", Role.LEAD, frozenset({"channel"}), "<id>")
    (entry,) = m.command_list([command], "team")
    assert entry == {"title": "faq remove", "description": "Remove an FAQ entry (e.g. faq remove <id>)"}


@pytest.mark.parametrize(
    ("env", "code"),
    [({}, 2), (ENV, 0), (AGENTS_ENV, 0)],
)
def test_module_entry_point(tmp_path: Path, env: dict[str, str], code: int) -> None:
    out = tmp_path / "appPackage.zip"
    result = subprocess.run(
        [sys.executable, "-m", "deployment.manifest", "--out", str(out)],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == code, result.stderr
    assert out.exists() is (code == 0)
    if code:
        assert f"{AGENTS_APP_ID} or MICROSOFT_APP_ID is required" in result.stderr


def test_the_message_extension_declares_every_search_the_bot_answers(
    manifest: dict[str, Any], validator: Draft4Validator
) -> None:
    from bot.features.compose_search import QUERY_PARAMETER, SEARCH_COMMANDS

    [extension] = manifest["composeExtensions"]
    assert extension["botId"] == APP_ID
    assert [c["id"] for c in extension["commands"]] == [c.id for c in SEARCH_COMMANDS] == ["answers", "cops", "events"]
    for command in extension["commands"]:
        assert command["type"] == "query"
        assert command["initialRun"] is True  # defaults before anything is typed
        assert 0 < len(command["title"]) <= m.MAX_TITLE
        assert 0 < len(command["description"]) <= m.MAX_DESCRIPTION
        [parameter] = command["parameters"]
        assert parameter["name"] == QUERY_PARAMETER
        assert parameter["description"]
    assert not list(validator.iter_errors(manifest))
