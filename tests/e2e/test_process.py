"""`python -m bot` (what `make run` starts) answers help over real HTTP, and refuses unsafe configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.processes import ROOT, free_port, start_copbot
from tests.kit.activities import Activities, user
from tests.kit.connector import FakeConnector


async def test_the_bot_process_answers_help(tmp_path: Path, connector: FakeConnector) -> None:
    import aiohttp

    process = await start_copbot(tmp_path)
    try:
        activity = Activities(connector.url).personal(user(1), "help")
        async with aiohttp.ClientSession() as http, http.post(process.url, json=activity) as response:
            assert response.status == 201
        [call] = connector.sent()
        assert "What I can do for you here" in call.card_text
        assert (tmp_path / "bench.sqlite3").exists()
    finally:
        process.stop()


def test_unauthenticated_mode_refuses_a_public_interface(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "COPBOT_HOST": "0.0.0.0",
        "COPBOT_PORT": str(free_port()),
        "COPBOT_SQLITE_PATH": str(tmp_path / "x.db"),
    }
    env.pop("MICROSOFT_APP_ID", None)
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "only allowed on a loopback host" in done.stderr


def test_bad_configuration_is_reported_without_a_traceback() -> None:
    env = {**os.environ, "COPBOT_STORAGE": "mongodb"}
    done = subprocess.run([sys.executable, "-m", "bot"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "COPBOT_STORAGE must be sqlite or azure" in done.stderr
    assert "Traceback" not in done.stderr
