"""The rules of a job's life, written once: what each step changes and the event it records.

Every adapter of the job store applies these and nothing else: the SQL store turns a
:class:`Step` into the values of one UPDATE (the attempt counted or given back in SQL), the
in-memory fake into a ``dataclasses.replace``. So the lease, retry and cancel semantics the
contract suite checks are decided here, for all of them at once.

    queued --claim--> running --succeed--> succeeded
      ^  |              |  |----fail------> failed (no attempts left) / queued (retry later)
      |  cancel         |  |----cancelled--> cancelled (it stopped after a cancel request)
      |  v              |  '----release----> queued (shutdown: the attempt does not count)
    cancelled           '-------reap-------> queued / failed (its worker stopped heartbeating)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth import errors
from berth.jobs.job import Artifact, ErrorInfo, EventType, Job, JobStatus, JsonValue, Lease

ENDS_ATTEMPT: Mapping[str, Any] = {
    "worker_id": None,
    "lease_expires_at": None,
    "cancel_requested": False,
}
"""What every end of an attempt clears: the lease is gone, a cancel request is spent."""


@dataclass(frozen=True, slots=True)
class Step:
    """One change to a job: new field values, a change to its attempt count, and the event
    that records it (``data`` is the event's payload)."""

    values: Mapping[str, Any]
    event: EventType
    data: Mapping[str, JsonValue] = field(default_factory=dict)
    attempts: int = 0
    """Added to the job's attempt count: +1 for a claim, -1 for a release."""
    names_attempt: bool = False
    """Whether the event names the attempt (the job's count after the step) as ``attempt``."""

    def apply(self, job: Job, now: float) -> Job:
        """``job`` after this step, its event counted (what the in-memory store keeps)."""
        return dataclasses.replace(
            job,
            **self.values,
            attempts=job.attempts + self.attempts,
            updated_at=now,
            last_event=job.last_event + 1,
        )

    def event_data(self, job: Job) -> dict[str, JsonValue]:
        """The event's payload for ``job`` as it is after the step."""
        return {"attempt": job.attempts, **self.data} if self.names_attempt else dict(self.data)


def holds(job: Job, lease: Lease) -> bool:
    """Whether ``lease`` is the job's current attempt: anything else a worker reports on a job
    it no longer holds is refused (LeaseLost)."""
    return (
        job.status is JobStatus.RUNNING
        and job.worker_id == lease.worker_id
        and job.attempts == lease.attempt
    )


def lease_lost(lease: Lease) -> errors.LeaseLost:
    return errors.LeaseLost(
        f"Worker '{lease.worker_id}' no longer holds attempt {lease.attempt} "
        f"of job '{lease.job_id}'."
    )


# -- a caller's steps ------------------------------------------------------------------------


def cancel_queued(now: float) -> Step:
    """A queued job is cancelled at once."""
    return Step(
        {"status": JobStatus.CANCELLED, "finished_at": now},
        EventType.CANCELLED,
        {"reason": "cancelled while queued"},
    )


def cancel_running() -> Step:
    """A running job is asked to stop; its worker sees it at its next heartbeat."""
    return Step({"cancel_requested": True}, EventType.CANCEL_REQUESTED)


# -- a worker's steps ------------------------------------------------------------------------


def claim(worker_id: str, now: float, lease_seconds: float) -> Step:
    """A queued, due job starts its next attempt under a new lease."""
    return Step(
        {
            "status": JobStatus.RUNNING,
            "worker_id": worker_id,
            "lease_expires_at": now + lease_seconds,
            "started_at": now,
            "progress": None,
            "progress_message": None,
        },
        EventType.STARTED,
        {"worker": worker_id},
        attempts=1,
        names_attempt=True,
    )


def progress(fraction: float | None, message: str | None) -> Step:
    return Step(
        {"progress": fraction, "progress_message": message},
        EventType.PROGRESS,
        {"fraction": fraction, "message": message},
    )


def add_artifact(current: tuple[Artifact, ...], artifact: Artifact) -> Step:
    """Record a file; one with the same name replaces the earlier record."""
    kept = tuple(a for a in current if a.name != artifact.name)
    return Step({"artifacts": (*kept, artifact)}, EventType.ARTIFACT, artifact.to_json())


def succeed(result: JsonValue, now: float) -> Step:
    return Step(
        {**ENDS_ATTEMPT, "status": JobStatus.SUCCEEDED, "result": result, "error": None,
         "finished_at": now},
        EventType.SUCCEEDED,
        names_attempt=True,
    )  # fmt: skip


def fail(error: ErrorInfo, retry_at: float | None, now: float) -> Step:
    """An attempt failed: the job waits until ``retry_at`` for its next one, or (None) fails."""
    data: dict[str, JsonValue] = {"error": error.type, "message": error.message}
    if retry_at is None:
        values = {**ENDS_ATTEMPT, "status": JobStatus.FAILED, "error": error, "finished_at": now}
        return Step(values, EventType.FAILED, data, names_attempt=True)
    values = {**ENDS_ATTEMPT, "status": JobStatus.QUEUED, "error": error, "run_after": retry_at}
    return Step(values, EventType.RETRYING, {**data, "run_after": retry_at}, names_attempt=True)


def stopped(reason: str, now: float) -> Step:
    """A running job stopped because it was asked to (cancel, timeout)."""
    values = {**ENDS_ATTEMPT, "status": JobStatus.CANCELLED, "finished_at": now}
    return Step(values, EventType.CANCELLED, {"reason": reason})


def release(reason: str, now: float) -> Step:
    """A worker gives a running job back (it is shutting down): the attempt does not count."""
    values = {**ENDS_ATTEMPT, "status": JobStatus.QUEUED, "run_after": now}
    return Step(values, EventType.REQUEUED, {"reason": reason}, attempts=-1)


def reap(attempts_left: bool, now: float) -> Step:
    """A job whose lease expired (its worker died): queued again while it has attempts left,
    failed otherwise. Delivery is at least once: the interrupted attempt counts."""
    lost = errors.WorkerLost()
    error = ErrorInfo(type(lost).__name__, lost.message)
    data = {"reason": "lease_expired", "error": lost.message}
    if attempts_left:
        values = {**ENDS_ATTEMPT, "status": JobStatus.QUEUED, "error": error, "run_after": now}
        return Step(values, EventType.REQUEUED, data, names_attempt=True)
    values = {**ENDS_ATTEMPT, "status": JobStatus.FAILED, "error": error, "finished_at": now,
              "run_after": now}  # fmt: skip
    return Step(values, EventType.FAILED, data, names_attempt=True)
