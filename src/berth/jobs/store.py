"""The job-store ports: what every adapter (SQLite, PostgreSQL, memory) offers, by role.

- :class:`JobQueue`: callers submit, look up, list, follow and cancel jobs;
- :class:`JobLeases`: workers claim jobs under a lease and report on the jobs they hold;
- :class:`WorkerRegistry`: which dispatcher processes exist and what their pools hold;
- :class:`JobStats`: queue depth, a job's place in line, recent run times.

:class:`JobStore` is all four in one open/close lifecycle; code asks for the role it uses.
What each step does to a job is :mod:`berth.jobs.lifecycle`'s to say, for every adapter.

Every method that a worker calls on a job it holds (``progress``, ``succeed``, ``fail``, ...)
checks that the worker still holds it and raises :class:`~berth.errors.LeaseLost` if not, so a
worker that stalled past its lease can never overwrite what another worker did since.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

from berth.jobs.job import (
    Artifact,
    ErrorInfo,
    Heartbeat,
    Job,
    JobEvent,
    JobQuery,
    JobStatus,
    JsonValue,
    Lease,
    NewJob,
    Submission,
)
from berth.jobs.workers import WorkerInfo


class JobQueue(Protocol):
    """The queue as callers use it."""

    async def submit(self, new: NewJob, *, max_unfinished: int | None = None) -> Submission:
        """Persist a new queued job, or return the existing one with the same idempotency key.

        With ``max_unfinished``, raise TooManyJobs instead if the job's owner already has that
        many queued or running, counted in the same transaction as the insert.
        """
        ...

    async def get(self, job_id: str) -> Job:
        """The job with this id; raises UnknownJob."""
        ...

    async def list_jobs(self, query: JobQuery) -> list[Job]:
        """Jobs matching the query, newest first."""
        ...

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        """The job's events with ``seq > after``, in order; raises UnknownJob."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel a queued job at once, or ask the worker of a running one to stop.

        A job already finished is returned unchanged.
        """
        ...


class JobStats(Protocol):
    """What the queue looks like, for people and estimates."""

    async def counts(self) -> dict[tuple[JobStatus, str], int]:
        """How many jobs there are, by status and kind."""
        ...

    async def queue_position(self, job_id: str) -> int | None:
        """How many due queued jobs come before this one; None unless it is queued."""
        ...

    async def count_unfinished(self, owner: str) -> int:
        """How many queued or running jobs this owner (an API key id) has."""
        ...

    async def recent_durations(self, kind: str, limit: int = 50) -> list[float]:
        """Seconds the kind's latest succeeded jobs ran, newest first."""
        ...


class JobLeases(Protocol):
    """The queue as workers use it."""

    async def claim(
        self, worker_id: str, free: Mapping[str, int], limit: int, lease_seconds: float
    ) -> list[Job]:
        """Mark up to ``limit`` due queued jobs as running for this worker and return them.

        ``free`` maps each kind the worker can run to how many more of it it may start now.
        Higher priority first, then oldest.
        """
        ...

    async def heartbeat(
        self, worker_id: str, leases: frozenset[Lease], lease_seconds: float
    ) -> Heartbeat:
        """Renew this worker's leases and its own record; say what it lost and what to stop."""
        ...

    async def progress(self, lease: Lease, fraction: float | None, message: str | None) -> None:
        """Record progress on a running job."""
        ...

    async def add_artifact(self, lease: Lease, artifact: Artifact) -> None:
        """Record a file the running job left in its output folder."""
        ...

    async def succeed(self, lease: Lease, result: JsonValue) -> Job:
        """Finish a running job with its result."""
        ...

    async def fail(self, lease: Lease, error: ErrorInfo, retry_at: float | None) -> Job:
        """Finish a running job's attempt with an error: requeue it for ``retry_at`` or fail it."""
        ...

    async def mark_cancelled(self, lease: Lease, reason: str) -> Job:
        """Finish a running job that stopped because it was cancelled."""
        ...

    async def release(self, lease: Lease, reason: str) -> Job:
        """Give a running job back to the queue; the interrupted attempt does not count."""
        ...

    async def reap(self) -> list[Job]:
        """Return jobs whose lease expired to the queue (or fail them if out of attempts)."""
        ...

    async def wait_for_work(self, timeout: float) -> bool:
        """Sleep until new work may be there (a submit, a cancel) or ``timeout`` passes.

        Returns True if woken by a notification. Wake-ups can be spurious; that is harmless.
        """
        ...


class WorkerRegistry(Protocol):
    """Which dispatcher processes exist, and what their pools hold."""

    async def forget_workers(self, silent_for: float) -> list[str]:
        """Remove workers that have not heartbeat for ``silent_for`` seconds; return their ids."""
        ...

    async def register_worker(self, worker: WorkerInfo) -> None:
        """Record (or refresh) a dispatcher process."""
        ...

    async def report_models(
        self, worker_id: str, models: Sequence[Mapping[str, JsonValue]]
    ) -> None:
        """Record which models this worker's pool holds (shown by `berth models ps`)."""
        ...

    async def deregister_worker(self, worker_id: str) -> None:
        """Forget a dispatcher process that stopped cleanly."""
        ...

    async def workers(self) -> list[WorkerInfo]:
        """Every registered dispatcher process."""
        ...


class JobStore(JobQueue, JobStats, JobLeases, WorkerRegistry, Protocol):
    """Where jobs live. Open it with ``async with store:``; every method needs it open."""

    url: str
    """Where the store is, with any password masked."""

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
