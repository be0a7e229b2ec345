"""A real ``berth serve`` on a free loopback port, shared by a test module."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

START_SECONDS = 90


@dataclass
class LiveServer:
    url: str
    home: Path
    process: subprocess.Popen[str]
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(home: Path, **settings: str) -> Iterator[LiveServer]:
    """Start ``berth serve``, wait until ``/readyz`` says ready, stop it with SIGTERM after."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("BERTH_")}
    env.update(
        {
            "BERTH_HOME": str(home),
            "BERTH_PORT": str(port),
            "BERTH_POLL_SECONDS": "0.2",
            "BERTH_DRAIN_SECONDS": "5",
            **settings,
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    log = home / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "berth", "serve"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    server = LiveServer(f"http://127.0.0.1:{port}", home, process, log)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(server)


def wait_ready(server: LiveServer) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"berth serve exited:\n{server.log.read_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(
        f"berth serve was not ready in {START_SECONDS} s:\n{server.log.read_text()}"
    )


def stop(server: LiveServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def create_key(server: LiveServer, name: str, scopes: str) -> str:
    """A real API key, made with the CLI in the server's home (keys are checked when sent)."""
    made = subprocess.run(
        [sys.executable, "-m", "berth", "keys", "create", "--name", name, "--scopes", scopes],
        env={**os.environ, "BERTH_HOME": str(server.home)},
        capture_output=True,
        text=True,
        check=True,
    )
    return made.stdout.strip()


@contextmanager
def keyed_client(
    server: LiveServer, name: str, scopes: str, timeout: float = 120
) -> Iterator[openai.OpenAI]:
    """The official client on ``server`` with a new key of ``scopes`` (no retries)."""
    secret = create_key(server, name, scopes)
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=timeout
    ) as opened:
        yield opened
