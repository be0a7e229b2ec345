"""An in-memory fine-tuning store: the fake for tests, passing the SQL store's contract suite."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

from berth import errors
from berth.training.record import (
    Change,
    FineTuningCheckpoint,
    FineTuningEvent,
    FineTuningJob,
    FineTuningStatus,
)


def apply_change(job: FineTuningJob, change: Change) -> FineTuningJob:
    """``job`` with ``change``'s set fields."""
    fields = {
        name: getattr(change, name)
        for name in (f.name for f in dataclasses.fields(change))
        if getattr(change, name) is not None
    }
    return dataclasses.replace(job, **fields)


def refuse_transition(job: FineTuningJob, only_from: frozenset[FineTuningStatus]) -> None:
    """Raise FineTuningStateError unless ``job`` is in one of ``only_from``."""
    if job.status not in only_from:
        allowed = ", ".join(sorted(status.value for status in only_from))
        raise errors.FineTuningStateError(
            f"Fine-tuning job '{job.id}' is {job.status.value}; this needs it to be {allowed}."
        )


T = TypeVar("T")


def _page(items: list[T], key_of: str, after: str | None, limit: int) -> list[T]:
    ordered = sorted(items, key=lambda item: getattr(item, key_of), reverse=True)
    if after is not None:
        ordered = [item for item in ordered if getattr(item, key_of) < after]
    return ordered[:limit]


class MemoryFineTuningStore:
    """Fine-tuning records in dicts."""

    def __init__(self) -> None:
        self._jobs: dict[str, FineTuningJob] = {}
        self._events: dict[str, list[FineTuningEvent]] = {}
        self._checkpoints: dict[str, dict[int, FineTuningCheckpoint]] = {}

    async def add(self, job: FineTuningJob) -> None:
        self._jobs[job.id] = job

    async def get(self, job_id: str) -> FineTuningJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise errors.UnknownFineTuningJob(
                f"No fine-tuning job has the id '{job_id}'."
            ) from None

    async def list_jobs(
        self, *, owner: str | None = None, after: str | None = None, limit: int = 20
    ) -> list[FineTuningJob]:
        mine = [job for job in self._jobs.values() if owner is None or job.owner == owner]
        return _page(mine, "id", after, limit)

    async def update(
        self,
        job_id: str,
        change: Change,
        *,
        only_from: frozenset[FineTuningStatus] | None = None,
    ) -> FineTuningJob:
        job = await self.get(job_id)
        if only_from is not None:
            refuse_transition(job, only_from)
        self._jobs[job_id] = apply_change(job, change)
        return self._jobs[job_id]

    async def add_event(self, event: FineTuningEvent) -> None:
        self._events.setdefault(event.job_id, []).append(event)

    async def list_events(
        self, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> list[FineTuningEvent]:
        return _page(self._events.get(job_id, []), "id", after, limit)

    async def add_checkpoint(self, checkpoint: FineTuningCheckpoint) -> None:
        self._checkpoints.setdefault(checkpoint.job_id, {})[checkpoint.step] = checkpoint

    async def list_checkpoints(
        self, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> list[FineTuningCheckpoint]:
        found = list(self._checkpoints.get(job_id, {}).values())
        return _page(found, "id", after, limit)
