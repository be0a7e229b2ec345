"""Berth under test: ``echo`` jobs through the job service, workers running a Dispatcher.

Timestamps are Berth's own: ``created_at`` (set inside the submit transaction),
``started_at`` (set by the claim) and ``finished_at`` (set when the result is recorded).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from berth.app import Berth
from berth.jobs.job import JobQuery, JobStatus
from berth.settings import Settings

from .gate import wait_for_go
from .plan import Plan
from .storage import Reader, Storage
from .subject import WorkerArgs
from .timings import JobTimes

KIND = "echo"
COUNT_FINISHED = "SELECT count(*) FROM berth_jobs WHERE status = 'succeeded'"


def _settings(url: str, home: Path, concurrency: int) -> Settings:
    return Settings(home=home, database_url=url, concurrency=concurrency)


class BerthSubject:
    """Submits through Berth's job service; reads timestamps back from its store."""

    def __init__(self, berth: Berth, reader: Reader) -> None:
        self._berth = berth
        self._reader = reader

    async def submit(self) -> str:
        submission = await self._berth.services.jobs.submit(None, KIND, {})
        return submission.job.id

    async def finished(self) -> int:
        return await self._reader.scalar(COUNT_FINISHED)

    async def times(self, ids: Sequence[str]) -> dict[str, JobTimes]:
        query = JobQuery(statuses=frozenset({JobStatus.SUCCEEDED}), limit=len(ids))
        found = {}
        for job in await self._berth.stores.jobs.list_jobs(query):
            if job.started_at is not None and job.finished_at is not None:
                found[job.id] = JobTimes(job.created_at, job.started_at, job.finished_at)
        return found

    def record(self, line: str) -> None:
        raise ValueError(f"Berth's workers print nothing but the start protocol, not {line!r}.")


@contextlib.asynccontextmanager
async def open_subject(storage: Storage, plan: Plan) -> AsyncIterator[BerthSubject]:
    """Berth on ``storage``, its schema migrated by opening it."""
    settings = _settings(storage.url, storage.folder / "client", plan.concurrency)
    async with Berth(settings) as berth, Reader(storage) as reader:
        yield BerthSubject(berth, reader)


def serve(args: WorkerArgs) -> None:
    """A worker: one Dispatcher, as ``berth worker`` runs it, until SIGTERM."""
    asyncio.run(_serve(args))


async def _serve(args: WorkerArgs) -> None:
    settings = _settings(args.url, args.folder / "worker", args.concurrency)
    async with Berth(settings) as berth:
        dispatcher = berth.dispatcher()
        await asyncio.to_thread(wait_for_go)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, dispatcher.stop)
        await dispatcher.start()
        await dispatcher.wait()
