"""The job record, its states and its events."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

JsonValue = Any
"""Anything ``json.dumps`` accepts: the input and result of a job."""

JOB_ID_PREFIX = "job_"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for states a job never leaves."""
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class EventType(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    PROGRESS = "progress"
    ARTIFACT = "artifact"
    RETRYING = "retrying"
    REQUEUED = "requeued"
    CANCEL_REQUESTED = "cancel_requested"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """Why an attempt failed."""

    type: str
    message: str
    traceback: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ErrorInfo:
        return cls(str(data["type"]), str(data["message"]), data.get("traceback"))


@dataclass(frozen=True, slots=True)
class Artifact:
    """A file a job left in its output folder."""

    name: str
    media_type: str
    size: int

    def to_json(self) -> dict[str, str | int]:
        return {"name": self.name, "media_type": self.media_type, "size": self.size}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Artifact:
        return cls(str(data["name"]), str(data["media_type"]), int(data["size"]))


@dataclass(frozen=True, slots=True)
class NewJob:
    """What a caller asks for; the store turns it into a :class:`Job`."""

    kind: str
    input: JsonValue = None
    model: str | None = None
    priority: int = 0
    max_attempts: int = 3
    timeout: float | None = None
    idempotency_key: str | None = None
    run_after: float | None = None
    owner: str | None = None
    """The API key (its id) that submitted the job, for per-key limits."""
    trace_parent: str | None = None
    """W3C traceparent of the span that submitted the job: its attempts join that trace."""


@dataclass(frozen=True, slots=True)
class Job:
    """One unit of durable work, as the store holds it."""

    id: str
    kind: str
    input: JsonValue
    status: JobStatus
    created_at: float
    updated_at: float
    run_after: float
    model: str | None = None
    priority: int = 0
    attempts: int = 0
    max_attempts: int = 3
    timeout: float | None = None
    idempotency_key: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    worker_id: str | None = None
    lease_expires_at: float | None = None
    progress: float | None = None
    progress_message: str | None = None
    result: JsonValue = None
    error: ErrorInfo | None = None
    artifacts: tuple[Artifact, ...] = field(default_factory=tuple)
    cancel_requested: bool = False
    last_event: int = 0
    owner: str | None = None
    trace_parent: str | None = None

    @property
    def lease(self) -> Lease:
        """The lease of a running job's current attempt."""
        if self.worker_id is None:
            raise ValueError(f"job {self.id} is not held by a worker")
        return Lease(self.id, self.worker_id, self.attempts)


@dataclass(frozen=True, slots=True)
class Lease:
    """One worker's hold on one attempt of a job; every write a worker makes names it.

    Writes check all three parts, so a worker whose lease expired cannot write into a later
    attempt, even one that it claimed again itself.
    """

    job_id: str
    worker_id: str
    attempt: int


def trace_id_of(trace_parent: str | None) -> str | None:
    """The trace id inside a W3C traceparent (``00-<trace id>-<span id>-<flags>``)."""
    parts = (trace_parent or "").split("-")
    return parts[1] if len(parts) == 4 else None


def queued_event(job: Job) -> dict[str, JsonValue]:
    """The data of a job's first event."""
    data: dict[str, JsonValue] = {"priority": job.priority}
    if trace_id := trace_id_of(job.trace_parent):
        data["trace_id"] = trace_id
    return data


@dataclass(frozen=True, slots=True)
class JobEvent:
    """A state change or progress report; ``seq`` increases by one per job from 1."""

    job_id: str
    seq: int
    type: EventType
    at: float
    data: Mapping[str, JsonValue]


@dataclass(frozen=True, slots=True)
class Submission:
    """The job a submit produced, and whether it is new or the one its idempotency key named."""

    job: Job
    created: bool


@dataclass(frozen=True, slots=True)
class JobQuery:
    """A filter for listing jobs, newest first; ``before`` is a cursor (a job id)."""

    statuses: frozenset[JobStatus] = frozenset()
    kind: str | None = None
    model: str | None = None
    before: str | None = None
    limit: int = 50
    owner: str | None = None
    """Only the jobs this API key (its id) submitted."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a worker learns when it renews its leases."""

    lost: frozenset[str]
    """Jobs this worker no longer holds (reaped, finished elsewhere): stop them, report nothing."""
    cancel_requested: frozenset[str]
    """Jobs someone asked to cancel: signal them."""
