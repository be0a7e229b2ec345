"""procrastinate under test (PostgreSQL): an empty async task, workers running its Worker.

Timestamps are procrastinate's own: the ``deferred``, ``started`` and ``succeeded`` rows its
triggers write into ``procrastinate_events``, stamped by the database clock (``NOW()``) in
the transactions that defer, fetch and finish the job.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import procrastinate

from .gate import wait_for_go
from .plan import Plan
from .storage import Reader, Storage
from .subject import WorkerArgs
from .timings import JobTimes

TASK = "noop"
COUNT_FINISHED = "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
EVENT_TIMES = """
    SELECT job_id,
           extract(epoch FROM min(at) FILTER (WHERE type = 'deferred'))::float8 AS deferred,
           extract(epoch FROM min(at) FILTER (WHERE type = 'started'))::float8 AS started,
           extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded'))::float8 AS succeeded
    FROM procrastinate_events
    GROUP BY job_id
"""


async def noop() -> None:
    """The no-op task."""


def build_app(conninfo: str) -> procrastinate.App:
    """A procrastinate app on ``conninfo`` with the no-op task."""
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
    app.task(name=TASK)(noop)
    return app


class ProcrastinateSubject:
    """Defers through procrastinate; reads timestamps from its events table."""

    def __init__(self, app: procrastinate.App, reader: Reader) -> None:
        self._app = app
        self._task = app.tasks[TASK]
        self._reader = reader

    async def submit(self) -> str:
        return str(await self._task.defer_async())

    async def finished(self) -> int:
        return await self._reader.scalar(COUNT_FINISHED)

    async def times(self, ids: Sequence[str]) -> dict[str, JobTimes]:
        rows = await self._app.connector.execute_query_all_async(EVENT_TIMES)
        found = {}
        for row in rows:
            stamps = (row["deferred"], row["started"], row["succeeded"])
            if None not in stamps:
                found[str(row["job_id"])] = JobTimes(*stamps)
        return found

    def record(self, line: str) -> None:
        raise ValueError(f"procrastinate's workers print nothing but the protocol, not {line!r}.")


@contextlib.asynccontextmanager
async def open_subject(storage: Storage, plan: Plan) -> AsyncIterator[ProcrastinateSubject]:
    """procrastinate on ``storage``, with its schema applied."""
    app = build_app(storage.url)
    async with app.open_async(), Reader(storage) as reader:
        await app.schema_manager.apply_schema_async()
        yield ProcrastinateSubject(app, reader)


def serve(args: WorkerArgs) -> None:
    """A worker: procrastinate's own Worker, as ``procrastinate worker`` runs it."""
    asyncio.run(_serve(args))


async def _serve(args: WorkerArgs) -> None:
    app = build_app(args.url)
    async with app.open_async():
        await asyncio.to_thread(wait_for_go)
        await app.run_worker_async(concurrency=args.concurrency)
