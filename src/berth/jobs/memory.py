"""An in-memory job store: the fake for unit tests, passing the same contract suite as SQL ones.

It lives in one process and forgets everything on close; never use it for real work.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self

from berth import errors
from berth.clock import Clock, SystemClock
from berth.ids import new_id
from berth.jobs import lifecycle
from berth.jobs.job import (
    JOB_ID_PREFIX,
    Artifact,
    ErrorInfo,
    EventType,
    Heartbeat,
    Job,
    JobEvent,
    JobQuery,
    JobStatus,
    JsonValue,
    Lease,
    NewJob,
    Submission,
    queued_event,
)
from berth.jobs.lifecycle import Step
from berth.jobs.workers import WorkerInfo


class MemoryJobStore:
    """Jobs in a dict. Opened and closed like the others, so tests exercise the lifecycle."""

    url = "memory://"

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._jobs: dict[str, Job] = {}
        self._events: dict[str, list[JobEvent]] = {}
        self._keys: dict[str, str] = {}
        self._workers: dict[str, WorkerInfo] = {}
        self._wake = asyncio.Event()
        self._open = False

    async def __aenter__(self) -> Self:
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise errors.StoreClosed("The in-memory job store is closed.")

    def _job(self, job_id: str) -> Job:
        self._check_open()
        try:
            return self._jobs[job_id]
        except KeyError:
            raise errors.UnknownJob(f"No job has the id '{job_id}'.") from None

    def _step(self, job: Job, step: Step) -> Job:
        """Apply a lifecycle step to ``job`` and record its event."""
        now = self._clock.now()
        job = step.apply(job, now)
        self._jobs[job.id] = job
        self._events[job.id].append(JobEvent(job.id, job.last_event, step.event, now,
                                             step.event_data(job)))  # fmt: skip
        return job

    def _held(self, lease: Lease, step: Step) -> Job:
        job = self._job(lease.job_id)
        if not lifecycle.holds(job, lease):
            raise lifecycle.lease_lost(lease)
        return self._step(job, step)

    async def submit(self, new: NewJob, *, max_unfinished: int | None = None) -> Submission:
        self._check_open()
        if new.idempotency_key is not None and new.idempotency_key in self._keys:
            return Submission(self._jobs[self._keys[new.idempotency_key]], created=False)
        if max_unfinished is not None and new.owner is not None:
            unfinished = await self.count_unfinished(new.owner)
            if unfinished >= max_unfinished:
                raise errors.TooManyJobs(unfinished, max_unfinished)
        now = self._clock.now()
        job = Job(
            id=new_id(JOB_ID_PREFIX),
            kind=new.kind,
            input=new.input,
            status=JobStatus.QUEUED,
            created_at=now,
            updated_at=now,
            run_after=new.run_after if new.run_after is not None else now,
            model=new.model,
            priority=new.priority,
            max_attempts=new.max_attempts,
            timeout=new.timeout,
            idempotency_key=new.idempotency_key,
            owner=new.owner,
            trace_parent=new.trace_parent,
        )
        self._events[job.id] = []
        job = self._step(job, Step({}, EventType.QUEUED, queued_event(job)))
        if new.idempotency_key is not None:
            self._keys[new.idempotency_key] = job.id
        self._wake.set()
        return Submission(job, created=True)

    async def get(self, job_id: str) -> Job:
        return self._job(job_id)

    async def list_jobs(self, query: JobQuery) -> list[Job]:
        self._check_open()
        jobs = sorted(self._jobs.values(), key=lambda job: job.id, reverse=True)
        found = [
            job
            for job in jobs
            if (not query.statuses or job.status in query.statuses)
            and (query.kind is None or job.kind == query.kind)
            and (query.model is None or job.model == query.model)
            and (query.owner is None or job.owner == query.owner)
            and (query.before is None or job.id < query.before)
        ]
        return found[: query.limit]

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        self._job(job_id)
        return [event for event in self._events[job_id] if event.seq > after]

    async def cancel(self, job_id: str) -> Job:
        job = self._job(job_id)
        if job.status is JobStatus.QUEUED:
            return self._step(job, lifecycle.cancel_queued(self._now()))
        if job.status is JobStatus.RUNNING and not job.cancel_requested:
            job = self._step(job, lifecycle.cancel_running())
            self._wake.set()
        return job

    async def counts(self) -> dict[tuple[JobStatus, str], int]:
        self._check_open()
        counts: dict[tuple[JobStatus, str], int] = {}
        for job in self._jobs.values():
            counts[(job.status, job.kind)] = counts.get((job.status, job.kind), 0) + 1
        return counts

    async def queue_position(self, job_id: str) -> int | None:
        job = self._job(job_id)
        if job.status is not JobStatus.QUEUED:
            return None
        now = self._now()
        return sum(
            1
            for other in self._jobs.values()
            if other.status is JobStatus.QUEUED
            and other.run_after <= now
            and (-other.priority, other.id) < (-job.priority, job.id)
        )

    async def count_unfinished(self, owner: str) -> int:
        self._check_open()
        return sum(
            1 for job in self._jobs.values() if job.owner == owner and not job.status.terminal
        )

    async def recent_durations(self, kind: str, limit: int = 50) -> list[float]:
        self._check_open()
        done = [
            job
            for job in self._jobs.values()
            if job.kind == kind and job.status is JobStatus.SUCCEEDED
        ]
        done.sort(key=lambda job: job.finished_at or 0.0, reverse=True)
        return [(job.finished_at or 0.0) - (job.started_at or 0.0) for job in done[:limit]]

    def _now(self) -> float:
        return self._clock.now()

    async def claim(
        self, worker_id: str, free: Mapping[str, int], limit: int, lease_seconds: float
    ) -> list[Job]:
        self._check_open()
        now = self._now()
        due = sorted(
            (
                job
                for job in self._jobs.values()
                if job.status is JobStatus.QUEUED
                and job.run_after <= now
                and free.get(job.kind, 0) > 0
            ),
            key=lambda job: (-job.priority, job.id),
        )[:limit]
        room = dict(free)
        claimed = []
        step = lifecycle.claim(worker_id, now, lease_seconds)
        for candidate in due:
            if room[candidate.kind] > 0:
                room[candidate.kind] -= 1
                claimed.append(self._step(candidate, step))
        return claimed

    async def heartbeat(
        self, worker_id: str, leases: frozenset[Lease], lease_seconds: float
    ) -> Heartbeat:
        self._check_open()
        now = self._now()
        lost, cancel = set(), set()
        for lease in leases:
            job = self._jobs.get(lease.job_id)
            if job is None or not lifecycle.holds(job, lease):
                lost.add(lease.job_id)
                continue
            self._jobs[job.id] = dataclasses.replace(job, lease_expires_at=now + lease_seconds)
            if job.cancel_requested:
                cancel.add(job.id)
        if worker_id in self._workers:
            self._workers[worker_id] = dataclasses.replace(
                self._workers[worker_id], heartbeat_at=now, running=len(leases) - len(lost)
            )
        return Heartbeat(frozenset(lost), frozenset(cancel))

    async def progress(self, lease: Lease, fraction: float | None, message: str | None) -> None:
        self._held(lease, lifecycle.progress(fraction, message))

    async def add_artifact(self, lease: Lease, artifact: Artifact) -> None:
        current = self._job(lease.job_id).artifacts
        self._held(lease, lifecycle.add_artifact(current, artifact))

    async def succeed(self, lease: Lease, result: JsonValue) -> Job:
        return self._held(lease, lifecycle.succeed(result, self._now()))

    async def fail(self, lease: Lease, error: ErrorInfo, retry_at: float | None) -> Job:
        return self._held(lease, lifecycle.fail(error, retry_at, self._now()))

    async def mark_cancelled(self, lease: Lease, reason: str) -> Job:
        return self._held(lease, lifecycle.stopped(reason, self._now()))

    async def release(self, lease: Lease, reason: str) -> Job:
        job = self._held(lease, lifecycle.release(reason, self._now()))
        self._wake.set()
        return job

    async def reap(self) -> list[Job]:
        self._check_open()
        now = self._now()
        reaped = [
            self._step(held, lifecycle.reap(held.attempts < held.max_attempts, now))
            for held in sorted(self._jobs.values(), key=lambda job: job.id)
            if held.status is JobStatus.RUNNING and (held.lease_expires_at or now) < now
        ]
        if reaped:
            self._wake.set()
        return reaped

    async def forget_workers(self, silent_for: float) -> list[str]:
        self._check_open()
        cutoff = self._now() - silent_for
        gone = [w.id for w in self._workers.values() if w.heartbeat_at < cutoff]
        for worker_id in gone:
            del self._workers[worker_id]
        return sorted(gone)

    async def register_worker(self, worker: WorkerInfo) -> None:
        self._check_open()
        self._workers[worker.id] = worker

    async def report_models(
        self, worker_id: str, models: Sequence[Mapping[str, JsonValue]]
    ) -> None:
        self._check_open()
        if worker_id in self._workers:
            described = tuple(dict(model) for model in models)
            self._workers[worker_id] = dataclasses.replace(
                self._workers[worker_id], models=described
            )

    async def deregister_worker(self, worker_id: str) -> None:
        self._check_open()
        self._workers.pop(worker_id, None)

    async def workers(self) -> list[WorkerInfo]:
        self._check_open()
        return sorted(self._workers.values(), key=lambda worker: worker.id)

    async def wait_for_work(self, timeout: float) -> bool:
        self._check_open()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            self._wake.clear()
        return True
