"""Real ``berth worker`` processes for integration tests, and a probe kind they can load.

:class:`WorkerProcess` runs ``python -m berth worker`` as a child with its own settings and log
file, and stops it the way an operator or a crash would: SIGTERM (drain) or SIGKILL.

The ``interval`` kind sleeps and appends ``<job id> <attempt> <pid> <start> <end>`` to
``HOME/intervals/<log>.log``: each run's own record of when and where it ran. Workers load it
through Berth's real plugin hook: :func:`with_interval_plugin` writes the entry point into a
folder that goes on the worker's ``PYTHONPATH``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, Field

from berth.hookspecs import Registry
from berth.jobs.context import JobContext
from berth.jobs.kind import JobKind
from berth.jobs.store import JobStore

REPO_ROOT = Path(__file__).resolve().parents[2]
ERROR_LINE = re.compile(r"^\d\d:\d\d:\d\d (ERROR|CRITICAL) .*$|^Traceback .*$", re.MULTILINE)


def worker_env(home: Path, database_url: str, settings: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without any ``BERTH_*`` variable, plus the given ones."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BERTH_")}
    env.update({"BERTH_HOME": str(home), "BERTH_DATABASE_URL": database_url, **settings})
    return env


class WorkerProcess:
    """One ``berth worker`` child process, logging to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log: IO[bytes] = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "berth", "--log-format", "human", "worker"],
            env=dict(env),
            cwd=env["BERTH_HOME"],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    async def registered(self, store: JobStore, timeout: float = 30.0) -> str:
        """Wait until the worker has registered in the store; return its worker id."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited early:\n{self.log()}")
            for info in await store.workers():
                if info.pid == self.pid:
                    return info.id
            await asyncio.sleep(0.05)
        raise AssertionError(f"the worker did not register within {timeout} s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL: the process dies at once, between any two instructions."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    async def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then wait for the worker to drain and exit; return its exit code."""
        self.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while (code := self.process.poll()) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker did not stop within {timeout} s:\n{self.log()}")
            await asyncio.sleep(0.05)
        return code

    def close(self) -> None:
        """Kill the process if it still runs and close its log; safe to call twice."""
        if self.process.poll() is None:
            self.kill()
        self._log.close()

    def log(self) -> str:
        """Everything the worker wrote to stdout and stderr so far."""
        return self.log_path.read_text(errors="replace")

    def errors(self) -> list[str]:
        """ERROR and CRITICAL log lines and tracebacks the worker wrote."""
        return [match.group(0) for match in ERROR_LINE.finditer(self.log())]


# -- the interval probe kind ---------------------------------------------------------------


class IntervalInput(BaseModel):
    """Input of the ``interval`` kind."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(ge=0, le=60)
    log: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class Interval:
    """One run of an ``interval`` job, as the run itself recorded it."""

    job_id: str
    attempt: int
    pid: int
    start: float
    end: float

    @classmethod
    def parse(cls, line: str) -> Interval:
        job_id, attempt, pid, start, end = line.split()
        return cls(job_id, int(attempt), int(pid), float(start), float(end))


async def interval(ctx: JobContext, params: IntervalInput) -> dict[str, float]:
    """Sleep, then record when this run started and ended, and in which process."""
    start = time.time()
    await ctx.sleep(params.seconds)
    end = time.time()
    folder = ctx.home / "intervals"
    folder.mkdir(parents=True, exist_ok=True)
    line = f"{ctx.job.id} {ctx.job.attempts} {os.getpid()} {start!r} {end!r}\n"
    fd = os.open(folder / f"{params.log}.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return {"start": start, "end": end}


def register(registry: Registry) -> None:
    """The plugin hook the worker calls through the ``berth.kinds`` entry point."""
    registry.add_kind(
        JobKind("interval", interval, "Records its own run interval.", input_model=IntervalInput)
    )


def with_interval_plugin(env: Mapping[str, str], folder: Path) -> dict[str, str]:
    """``env`` for a worker that loads the ``interval`` kind as a plugin from ``folder``."""
    info = folder / "berth_interval_probe-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: berth-interval-probe\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text(f"[berth.kinds]\ninterval = {__name__}:register\n")
    paths = [str(folder), str(REPO_ROOT), env.get("PYTHONPATH", "")]
    return {**env, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}


def read_intervals(home: Path, log: str) -> list[Interval]:
    """Every run the ``interval`` jobs logging to ``log`` recorded."""
    path = home / "intervals" / f"{log}.log"
    return [Interval.parse(line) for line in path.read_text().splitlines()]
