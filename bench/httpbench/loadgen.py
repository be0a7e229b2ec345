"""The load: wrk, one thread, N keep-alive connections, one sentence per request."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .errors import LoadFailed

SCRIPT = Path(__file__).with_name("post.lua")
MARKER = "WRK_RESULT "
REQUEST_TIMEOUT_S = 10


@dataclass(frozen=True, slots=True)
class Load:
    """What one wrk run measured at one concurrency."""

    connections: int
    requests: int
    """Requests answered with a 2xx or 3xx status."""
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    errors: int
    other_cores: float = 0.0
    """CPU that work outside the benchmark took during the run, in cores (see contention.py)."""
    steal_cores: float = 0.0
    tries: int = 1
    adjacent: tuple[float, float] | None = None
    """The in-process figure just before and just after this window (see reference.py):
    sentences/s at the best batch size, or for one connection the batch-1 p50 in ms."""

    @property
    def per_s(self) -> float:
        """Completed requests per second."""
        return self.requests / self.seconds


def wrk_version() -> str:
    """wrk's version line, or why it cannot run."""
    binary = shutil.which("wrk")
    if binary is None:
        return "not installed"
    done = subprocess.run([binary, "-v"], check=False, capture_output=True, text=True, timeout=10)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def _parse(connections: int, output: str) -> Load:
    for line in output.splitlines():
        if line.startswith(MARKER):
            found = json.loads(line.removeprefix(MARKER))
            break
    else:
        raise LoadFailed(f"wrk printed no {MARKER.strip()} line:\n{output[-2000:]}")
    errors = sum(found[key] for key in ("connect_errors", "read_errors", "write_errors"))
    errors += found["status_errors"] + found["timeouts"]
    return Load(
        connections=connections,
        requests=found["requests"] - found["status_errors"],
        seconds=found["duration_us"] / 1e6,
        p50_ms=found["p50_us"] / 1000,
        p90_ms=found["p90_us"] / 1000,
        p99_ms=found["p99_us"] / 1000,
        max_ms=found["max_us"] / 1000,
        errors=errors,
    )


def run_wrk(
    url: str, path: str, bodies: Path, connections: int, seconds: float, *, warmup: bool = False
) -> Load:
    """Drive ``url`` for ``seconds`` with ``connections`` connections from one wrk thread.
    A warm-up run may see no answer at all (the first batches can take longer than it)."""
    argv = [
        "wrk",
        "--threads=1",
        f"--connections={connections}",
        f"--duration={max(1, round(seconds))}s",
        f"--timeout={REQUEST_TIMEOUT_S}s",
        f"--script={SCRIPT}",
        url,
        "--",
        path,
        str(bodies),
    ]
    try:
        done = subprocess.run(
            argv, check=False, capture_output=True, text=True, timeout=seconds + 60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LoadFailed(f"wrk did not finish: {exc}") from exc
    if done.returncode != 0:
        raise LoadFailed(f"wrk exited with code {done.returncode}: {done.stderr.strip()}")
    load = _parse(connections, done.stdout)
    if load.requests == 0 and not warmup:
        raise LoadFailed(f"every request failed ({load.errors} errors):\n{done.stdout[-1500:]}")
    return load
