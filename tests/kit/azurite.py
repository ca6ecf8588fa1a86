"""Run the Azurite Table emulator (from node_modules) as a subprocess for tests.

``stop()`` and ``start()`` keep the same port, so fault-injection tests can take the "cloud" away and bring it
back while clients keep their connection string.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "devstoreaccount1"
# The emulator's public, well-known development key (documented by Microsoft); not a secret.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
START_TIMEOUT = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Azurite:
    """One Azurite Table emulator on 127.0.0.1 with in-memory persistence."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = ROOT / "node_modules" / ".bin" / "azurite-table"
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: tempfile._TemporaryFileWrapper[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}/{ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};TableEndpoint={self.endpoint};"

    def start(self) -> None:
        """Start the emulator and wait until its port accepts connections."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if not self.binary.exists():
            raise RuntimeError(
                f"{self.binary} is missing: the Node test tools are not installed. Run `make test` "
                "(it runs `npm ci`) or `npm ci` in the repository root."
            )
        # The emulator's own output goes to a temp file so a failed start can show it without filling a pipe.
        self._log = tempfile.NamedTemporaryFile(prefix="azurite-", suffix=".log")  # noqa: SIM115
        args = [
            str(self.binary),
            "--inMemoryPersistence",
            "--disableTelemetry",
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(self.port),
            "--skipApiVersionCheck",
            "--loose",
        ]
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _port_open(self.port):
                log.info("azurite-table listening on 127.0.0.1:%d (pid %d)", self.port, self.proc.pid)
                return
            time.sleep(0.05)
        output = self._output()
        self.stop()
        raise RuntimeError(f"azurite-table did not start on port {self.port} within {START_TIMEOUT:.0f} s:\n{output}")

    def stop(self) -> None:
        """Stop the emulator (all data is lost: persistence is in memory) and wait until the port is closed."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._log is not None:
            with contextlib.suppress(OSError):
                self._log.close()
            self._log = None
        deadline = time.monotonic() + 5
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def __enter__(self) -> Azurite:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
