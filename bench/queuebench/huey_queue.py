"""huey under test (SQLite): an empty task, workers running huey's Consumer with threads.

huey keeps no timestamps, so: the submit time is taken by the benchmark just before it
enqueues; the start and finish times are taken in the worker by huey's own signals,
``SIGNAL_EXECUTING`` (after the task is dequeued and unpickled, before it runs) and
``SIGNAL_COMPLETE`` (after it ran), and printed on the worker's stdout as
``start|done ID UNIX_SECONDS``. Printing is one ``write`` to a pipe; no extra database work.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from huey import SqliteHuey, signals  # type: ignore[import-untyped]

from .gate import say, wait_for_go
from .plan import Plan
from .storage import Storage
from .subject import WorkerArgs
from .timings import JobTimes

NAME = "bench"
TASK = "noop"


def noop() -> None:
    """The no-op task."""


def build_huey(path: Path) -> tuple[Any, Any]:
    """A SqliteHuey on the file at ``path``, and its no-op task."""
    huey = SqliteHuey(name=NAME, filename=str(path))
    return huey, huey.task(name=TASK)(noop)


class HueySubject:
    """Enqueues through huey; learns start and finish times from the workers' stdout."""

    def __init__(self, task: Any) -> None:
        self._task = task
        self._submitted: dict[str, float] = {}
        self._started: dict[str, float] = {}
        self._done: dict[str, float] = {}

    async def submit(self) -> str:
        submitted = time.time()
        job_id = str(self._task().id)
        self._submitted[job_id] = submitted
        return job_id

    async def finished(self) -> int:
        return len(self._done)

    async def times(self, ids: Sequence[str]) -> dict[str, JobTimes]:
        return {
            job_id: JobTimes(self._submitted[job_id], self._started[job_id], self._done[job_id])
            for job_id in ids
            if job_id in self._started and job_id in self._done and job_id in self._submitted
        }

    def record(self, line: str) -> None:
        event, job_id, at = line.split()
        book = self._started if event == "start" else self._done
        book[job_id] = float(at)


@contextlib.asynccontextmanager
async def open_subject(storage: Storage, plan: Plan) -> AsyncIterator[HueySubject]:
    """huey on ``storage`` (it creates its tables on first use)."""
    huey, task = build_huey(storage.sqlite_path)
    try:
        yield HueySubject(task)
    finally:
        huey.storage.close()


def _on_start(signal: str, task: Any, *_: Any) -> None:
    say(f"start {task.id} {time.time()!r}")


def _on_done(signal: str, task: Any, *_: Any) -> None:
    say(f"done {task.id} {time.time()!r}")


def serve(args: WorkerArgs) -> None:
    """A worker: huey's own Consumer, as ``huey_consumer -k thread -w N`` runs it."""
    huey, _ = build_huey(Path(sa.make_url(args.url).database or ""))
    huey.signal(signals.SIGNAL_EXECUTING)(_on_start)
    huey.signal(signals.SIGNAL_COMPLETE)(_on_done)
    initial, most, backoff = args.huey_delays
    consumer = huey.create_consumer(
        workers=args.concurrency,
        worker_type="thread",
        initial_delay=initial,
        max_delay=most,
        backoff=backoff,
    )
    wait_for_go()
    consumer.run()
