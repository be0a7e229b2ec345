"""Running jobs of one kind in tests: submit them to a store a dispatcher serves, wait for
their end, and find their output files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from berth.jobs.config import DispatcherConfig
from berth.jobs.job import Job, NewJob
from berth.jobs.memory import MemoryJobStore
from berth.jobs.outputs import job_dir

WAIT_SECONDS = 120


class JobHarness:
    """A store and the settings of the dispatcher that serves it. Subclasses name the ``kind``
    they submit and the ``model`` used when a call names none."""

    kind = ""
    model: str | None = None

    def __init__(self, store: MemoryJobStore, config: DispatcherConfig) -> None:
        self.store = store
        self.config = config

    async def submit(self, data: Any, model: Any = ..., kind: str | None = None) -> str:
        """Queue a job (``model=None`` submits one without a model); its id."""
        chosen = self.model if model is ... else model
        job = NewJob(kind or self.kind, data, model=chosen)
        return (await self.store.submit(job)).job.id

    async def finished(self, job_id: str) -> Job:
        """The job once it has ended."""
        async with asyncio.timeout(WAIT_SECONDS):
            while not (job := await self.store.get(job_id)).status.terminal:
                await asyncio.sleep(0.02)
        return job

    async def run(self, data: Any, model: Any = ..., kind: str | None = None) -> Job:
        """Submit a job and wait for its end."""
        return await self.finished(await self.submit(data, model, kind))

    def path(self, job: Job, name: str) -> Path:
        """Where the job's output file ``name`` is."""
        return job_dir(self.config.outputs_dir, job) / name
