"""Start the bots under test as separate processes and measure their start-up and memory."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.kit.harness import TEST_SIGNING_KEY

ROOT = Path(__file__).resolve().parent.parent
# scenarios seal card data with it; the same key as the in-process bot that counts round trips
SIGNING_KEY = TEST_SIGNING_KEY


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class BotProcess:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    startup_s: float
    _peak_kb: float = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/messages"

    def rss_mb(self) -> float:
        return _status_kb(self.proc.pid, "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        """The peak RSS since start (including the peaks of spans reset with :meth:`reset_peak`)."""
        self._peak_kb = max(self._peak_kb, _status_kb(self.proc.pid, "VmHWM"))
        return self._peak_kb / 1024

    def reset_peak(self) -> None:
        """Start a new span for :meth:`span_peak_rss_mb` (Linux: writing 5 to /proc/PID/clear_refs sets the peak
        RSS to the current RSS); the peak since start is kept."""
        self.peak_rss_mb()
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def span_peak_rss_mb(self) -> float:
        """The peak RSS since the last :meth:`reset_peak` (or the start)."""
        return _status_kb(self.proc.pid, "VmHWM") / 1024

    def cpu_s(self) -> float:
        """CPU seconds the process has used so far, every thread counted (user and system)."""
        return process_cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process ``pid`` so far, from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _status_kb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return float(line.split()[1])
    return 0.0


async def _wait_healthy(name: str, port: int, proc: subprocess.Popen[bytes], limit_s: float = 30.0) -> None:
    deadline = time.monotonic() + limit_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.02)
    raise RuntimeError(f"{name} did not become healthy in {limit_s:g} s")


BASELINES = ("agents", "bf")  # the two stock echo bots: their own logging is not the bench's business


async def start(name: str, args: list[str], port: int, env: dict[str, str] | None = None) -> BotProcess:
    started = time.monotonic()
    proc = subprocess.Popen(  # noqa: ASYNC220 - start-up is outside the timed part
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL if name in BASELINES else None,
    )
    try:
        await _wait_healthy(name, port, proc)
    except BaseException:
        proc.kill()
        raise
    return BotProcess(name, proc, port, time.monotonic() - started)


async def start_echo() -> BotProcess:
    """The Bot Framework baseline: botbuilder's stock echo bot (bench/echo_bot.py)."""
    port = free_port()
    return await start("bf", ["-m", "bench.echo_bot", str(port)], port)


async def start_agents_echo() -> BotProcess:
    """The Microsoft 365 Agents SDK baseline: the SDK samples' echo agent (bench/agents_echo.py)."""
    port = free_port()
    return await start("agents", ["-m", "bench.agents_echo", str(port)], port)


def copbot_sdk() -> str | None:
    """Which of CoP Bot's SDK seams the bench runs (COPBOT_SDK=agents|botbuilder; unset: the bot's default)."""
    return os.environ.get("COPBOT_SDK") or None


async def start_copbot(data_dir: Path, extra_env: dict[str, str] | None = None) -> BotProcess:
    port = free_port()
    env = {
        "COPBOT_PORT": str(port),
        "COPBOT_HOST": "127.0.0.1",
        "COPBOT_SQLITE_PATH": str(data_dir / "bench.sqlite3"),
        "COPBOT_SCHEDULER": "false",
        "COPBOT_LOG_LEVEL": "WARNING",
        "COPBOT_SIGNING_KEY": SIGNING_KEY,
        "COPBOT_PROGRAMME_ADMINS": "aad-admin",
        **(extra_env or {}),
    }
    sdk = copbot_sdk()
    if sdk is not None:  # passed through as set; unset leaves the choice to the bot
        env["COPBOT_SDK"] = sdk
    return await start("copbot", ["-m", "bot"], port, env)
