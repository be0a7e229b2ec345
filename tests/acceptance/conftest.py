"""Run the real ``berth`` command in subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def berth_env(tmp_path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BERTH_")}
    env.update(
        {
            "BERTH_HOME": str(tmp_path / "home"),
            "BERTH_POLL_SECONDS": "0.2",
            "BERTH_RETRY_BASE_SECONDS": "0.1",
            "BERTH_CANCEL_GRACE_SECONDS": "1",
            "BERTH_DRAIN_SECONDS": "5",
            "COLUMNS": "200",
        }
    )
    return env


@pytest.fixture
def cli(berth_env: dict[str, str], tmp_path: Path) -> Cli:
    def run(
        *args: str, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "berth", *args],
            env=berth_env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"berth {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done

    return run


@pytest.fixture
def server(berth_env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """``berth serve`` running in the background; stopped with SIGTERM at the end."""
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "berth", "serve"],
        env=berth_env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
