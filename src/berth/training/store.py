"""The fine-tuning store port: jobs, their events and checkpoints (shares the job store's
database and lifecycle)."""

from __future__ import annotations

from typing import Protocol

from berth.training.record import (
    Change,
    FineTuningCheckpoint,
    FineTuningEvent,
    FineTuningJob,
    FineTuningStatus,
)


class FineTuningStore(Protocol):
    """Fine-tuning records. Lists are newest first; ``after`` is a cursor (an id)."""

    async def add(self, job: FineTuningJob) -> None:
        """Record a new fine-tuning job."""
        ...

    async def get(self, job_id: str) -> FineTuningJob:
        """The job with this id; raises UnknownFineTuningJob."""
        ...

    async def list_jobs(
        self, *, owner: str | None = None, after: str | None = None, limit: int = 20
    ) -> list[FineTuningJob]:
        """Jobs (of one owner), newest first."""
        ...

    async def update(
        self,
        job_id: str,
        change: Change,
        *,
        only_from: frozenset[FineTuningStatus] | None = None,
    ) -> FineTuningJob:
        """Set ``change``'s fields and return the job; with ``only_from``, only if the job's
        status is one of them (else raise FineTuningStateError, changing nothing)."""
        ...

    async def add_event(self, event: FineTuningEvent) -> None:
        """Record one event of a job."""
        ...

    async def list_events(
        self, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> list[FineTuningEvent]:
        """The job's events, newest first."""
        ...

    async def add_checkpoint(self, checkpoint: FineTuningCheckpoint) -> None:
        """Record one checkpoint of a job (a step already recorded is replaced)."""
        ...

    async def list_checkpoints(
        self, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> list[FineTuningCheckpoint]:
        """The job's checkpoints, newest first."""
        ...
