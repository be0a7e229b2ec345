"""One server under test, run as a separate process group and always stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from .errors import ServerFailed

HOST = "127.0.0.1"
STOP_GRACE_S = 10.0
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "DO_NOT_TRACK": "1",
    "INFINITY_ANONYMOUS_USAGE_STATS": "0",
}
"""Every process of the benchmark: no network, no progress bars, no usage statistics."""


@dataclass(frozen=True, slots=True)
class Launch:
    """How to start one system's server and how to tell that it is up."""

    name: str
    argv: list[str]
    port: int
    ready_path: str
    ready_timeout_s: float
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class Server:
    """A started server: its process group, its log, its memory and its sockets."""

    def __init__(self, launch: Launch, log_path: Path) -> None:
        self.launch = launch
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                self.launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=os.environ | OFFLINE_ENV | self.launch.env,
                start_new_session=True,
            )

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise ServerFailed(f"Cannot use {self.launch.name}: its server was never started.")
        return self._process

    def log_tail(self, lines: int = 12) -> str:
        """The last lines the server wrote, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def wait_ready(self) -> float:
        """Poll the readiness URL until it answers 200; the seconds that took."""
        url = self.launch.base_url + self.launch.ready_path
        started = time.monotonic()
        deadline = started + self.launch.ready_timeout_s
        while time.monotonic() < deadline:
            code = self.process.poll()
            if code is not None:
                raise ServerFailed(
                    f"{self.launch.name} exited with code {code} before {url} answered. "
                    f"See {self.log_path}; it ends with:\n{self.log_tail()}"
                )
            if _answers(url):
                return time.monotonic() - started
            time.sleep(0.25)
        raise ServerFailed(
            f"{self.launch.name} did not answer {url} within {self.launch.ready_timeout_s:g} s "
            f"(its process is running). See {self.log_path}; it ends with:\n{self.log_tail()}"
        )

    def _tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def rss_bytes(self) -> int:
        """Resident memory of the server process and all its descendants together."""
        total = 0
        for member in self._tree():
            with contextlib.suppress(psutil.Error):
                total += member.memory_info().rss
        return total

    def listening(self) -> list[str]:
        """``address:port`` of every TCP socket the server's processes listen on."""
        found: set[str] = set()
        for member in self._tree():
            with contextlib.suppress(psutil.Error):
                for conn in member.net_connections(kind="inet"):
                    if conn.status == psutil.CONN_LISTEN:
                        found.add(f"{conn.laddr.ip}:{conn.laddr.port}")
        return sorted(found)

    def stop(self) -> None:
        """SIGTERM to the group and every descendant; SIGKILL to what is left after a grace."""
        if self._process is None:
            return
        family = self._tree() if self._process.poll() is None else []
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGTERM)
        for member in family:
            with contextlib.suppress(psutil.Error):
                member.terminate()
        _, alive = psutil.wait_procs(family, timeout=STOP_GRACE_S)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGKILL)
        for member in alive:
            with contextlib.suppress(psutil.Error):
                member.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=STOP_GRACE_S)


@contextlib.contextmanager
def running(launch: Launch, log_dir: Path) -> Iterator[Server]:
    """Start ``launch`` and stop it on the way out, whatever happened in between."""
    server = Server(launch, log_dir / f"{launch.name}.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()
