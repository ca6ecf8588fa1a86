"""`make playground`'s launcher and mock tenant, without a browser: the tenant file is valid for the installed
Playground's own schema, both processes listen on the loopback interface only, bad setups are reported clearly,
and Ctrl-C stops both."""

from __future__ import annotations

import copy
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from deployment.playground import (
    ROOT,
    Options,
    PlaygroundError,
    bot_env,
    free_port,
    load_tenant,
    playground_schema,
    start,
    tenant_problems,
)

LOOPBACK_V4 = "0100007F"
LOOPBACK_V6 = "00000000000000000000000001000000"


def listening_addresses(port: int) -> set[str]:
    """The local addresses (hex, as the kernel shows them) with a listening TCP socket on this port."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        path = Path(table)
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def test_the_mock_tenant_is_valid_for_the_playgrounds_own_schema() -> None:
    schema = playground_schema()
    # what the schema of the pinned Playground demands (if a new version changes it, look again at tenant.yml)
    assert schema["properties"]["users"]["minItems"] == schema["properties"]["users"]["maxItems"] == 5
    assert schema["properties"]["team"]["properties"]["channels"]["maxItems"] == 1
    tenant = load_tenant()
    assert tenant_problems(tenant) == []


def test_the_mock_tenant_is_one_cop_team_with_a_second_channel_five_colleagues_and_a_group_chat() -> None:
    tenant = load_tenant()
    assert tenant["team"]["name"] == "Data and Insight"
    assert [c["name"] for c in tenant["team"]["channels"]] == ["Show and tell"]
    people = [tenant["currentUser"], *tenant["users"]]
    assert len(people) == 6
    assert len({p["aadObjectId"] for p in people}) == 6
    assert len({p["id"] for p in people}) == 6
    assert tenant["groupChat"]["name"]


def test_a_tenant_the_playground_would_refuse_is_reported_before_anything_starts(tmp_path: Path) -> None:
    tenant = copy.deepcopy(load_tenant())
    tenant["users"] = tenant["users"][:4]
    tenant["team"]["channels"].append({"id": "19:x@thread.tacv2", "name": "Third"})
    problems = tenant_problems(tenant)
    assert any(p.startswith("users:") for p in problems)
    assert any(p.startswith("team/channels:") for p in problems)

    import yaml

    bad = tmp_path / "tenant.yml"
    bad.write_text(yaml.safe_dump(tenant))
    with pytest.raises(PlaygroundError, match="does not match the Playground's schema"):
        start(Options(port=free_port(), bot_port=free_port(), data_dir=tmp_path / "data", tenant=bad))
    assert not (tmp_path / "data").exists()


def test_the_bot_runs_locally_unauthenticated_with_the_current_user_as_programme_admin(tmp_path: Path) -> None:
    tenant = load_tenant()
    env = bot_env(Options(bot_port=4000, data_dir=tmp_path), tenant)
    assert env["COPBOT_HOST"] == "127.0.0.1"
    assert env["COPBOT_PORT"] == "4000"
    assert env["COPBOT_PROGRAMME_ADMINS"] == tenant["currentUser"]["aadObjectId"]
    assert env["COPBOT_SQLITE_PATH"] == str(tmp_path / "copbot.sqlite3")
    assert "MICROSOFT_APP_ID" not in env
    # the card-sealing key is kept, so cards shown before a restart still work after it
    assert bot_env(Options(data_dir=tmp_path), tenant)["COPBOT_SIGNING_KEY"] == env["COPBOT_SIGNING_KEY"]


def test_both_processes_listen_on_loopback_only_and_stop_together(tmp_path: Path) -> None:
    options = Options(port=free_port(), bot_port=free_port(), data_dir=tmp_path)
    running = start(options)
    try:
        with urllib.request.urlopen(options.url + "/", timeout=5) as response:
            assert response.status == 200
        # the Playground alone would listen on every interface; loopback.cjs pins it to 127.0.0.1
        assert listening_addresses(options.port) == {LOOPBACK_V4}
        assert listening_addresses(options.bot_port) <= {LOOPBACK_V4, LOOPBACK_V6}
        assert listening_addresses(options.bot_port)
        # a second launcher on the same ports is refused with a clear reason
        with pytest.raises(PlaygroundError, match=f"port {options.bot_port} for the bot is already in use"):
            start(options)
    finally:
        running.stop()
    assert running.bot.returncode is not None
    assert running.playground.returncode is not None
    assert listening_addresses(options.port) == set()
    assert listening_addresses(options.bot_port) == set()


def test_make_playground_prints_the_address_and_ctrl_c_stops_both(tmp_path: Path) -> None:
    port, bot_port = free_port(), free_port()
    command = [sys.executable, "-m", "deployment.playground", "--port", str(port), "--bot-port", str(bot_port)]
    process = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path), "--fresh"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner: list[str] = []
        while not banner or "Press Ctrl-C" not in banner[-1]:  # the banner is printed once both answer
            line = process.stdout.readline()
            assert line, f"the launcher ended before it was ready: {process.communicate(timeout=30)[1]}"
            banner.append(line)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        out = "".join(banner) + out
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert f"Open  http://127.0.0.1:{port}  in a browser." in out
    assert "Stopping the Playground and the bot" in out
    assert listening_addresses(port) == set()
    assert listening_addresses(bot_port) == set()
