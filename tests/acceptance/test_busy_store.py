"""Many processes on one SQLite file at once, from its first second on: nobody sees an error.

A fresh home is opened by a server, a second worker and a burst of CLI submits together (the
file is created and migrated while they race for it), while the API is read in a loop.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from subprocess import PIPE, STDOUT

import httpx
import pytest

from tests.acceptance.live import free_port

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
SUBMITS = 12
ROUNDS = 2


def berth(env: dict[str, str], *args: str, log: Path | None = None) -> subprocess.Popen[str]:
    if log is None:
        return subprocess.Popen(
            [sys.executable, "-m", "berth", *args], env=env, stdout=PIPE, stderr=PIPE, text=True
        )
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "berth", *args], env=env, stdout=out, stderr=STDOUT, text=True
        )


def read_api(url: str, stop: threading.Event, failures: list[str], reads: list[int]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            try:
                response = client.get("/v1/jobs", params={"limit": 100})
            except httpx.TransportError:
                time.sleep(0.05)  # not listening yet
                continue
            if response.status_code != 200:
                failures.append(f"GET /v1/jobs: {response.status_code} {response.text}")
            reads.append(response.status_code)


def test_cli_submits_two_workers_and_api_reads_at_once_see_no_error(tmp_path: Path) -> None:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("BERTH_")}
    env |= {"BERTH_HOME": str(tmp_path / "home"), "BERTH_PORT": str(port)}
    env |= {"BERTH_POLL_SECONDS": "0.2", "BERTH_DRAIN_SECONDS": "5"}
    failures: list[str] = []
    reads: list[int] = []
    stop = threading.Event()
    reader = threading.Thread(
        target=read_api, args=(f"http://127.0.0.1:{port}", stop, failures, reads)
    )
    server = berth(env, "serve", log=tmp_path / "serve.log")
    worker = berth(env, "worker", "--concurrency", "2", log=tmp_path / "worker.log")
    reader.start()
    try:
        ids = []
        for _ in range(ROUNDS):
            submits = [
                berth(env, "jobs", "submit", "sleep", "--input", '{"seconds": 0.2}')
                for _ in range(SUBMITS)
            ]
            for submit in submits:
                out, err = submit.communicate(timeout=120)
                if submit.returncode != 0:
                    failures.append(f"berth jobs submit: {err.strip()}")
                ids.append(out.strip())
        assert not failures, failures
        deadline = time.monotonic() + 90
        while True:
            listed = subprocess.run(
                [sys.executable, "-m", "berth", "jobs", "ls", "--json", "--limit", "100"],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            jobs = json.loads(listed.stdout)
            statuses = {job["id"]: job["status"] for job in jobs}
            if all(statuses.get(job_id) == "succeeded" for job_id in ids):
                break
            assert time.monotonic() < deadline, statuses
            time.sleep(0.5)
    finally:
        stop.set()
        reader.join(30)
        for process in (server, worker):
            process.terminate()
            process.wait(30)
    assert not failures, failures
    assert reads.count(200) >= 5
    for log in ("serve.log", "worker.log"):
        text = (tmp_path / log).read_text()
        assert "Traceback" not in text and "database is locked" not in text, text
