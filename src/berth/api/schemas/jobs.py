"""Bodies of the jobs API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.jobs.job import Job, JobEvent


class JobCreate(BaseModel):
    """``POST /v1/jobs``."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=100, description="The job kind.")
    input: Any = Field(default=None, description="The kind's input (JSON).")
    model: str | None = Field(default=None, max_length=200)
    priority: int = Field(default=0, ge=-1_000_000, le=1_000_000)
    max_attempts: int | None = Field(default=None, ge=1, le=100)
    timeout: float | None = Field(default=None, gt=0)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class ErrorOut(BaseModel):
    type: str
    message: str
    traceback: str | None = None


class ArtifactOut(BaseModel):
    name: str
    media_type: str
    size: int
    url: str


class JobOut(BaseModel):
    """A job as the API shows it."""

    object: Literal["job"] = "job"
    id: str
    kind: str
    model: str | None
    status: str
    input: Any
    priority: int
    attempts: int
    max_attempts: int
    timeout: float | None
    idempotency_key: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    run_after: float
    progress: float | None
    progress_message: str | None
    result: Any
    error: ErrorOut | None
    artifacts: list[ArtifactOut]
    cancel_requested: bool
    last_event_id: int
    queue_position: int | None = Field(
        default=None, description="Due queued jobs ahead of this one (queued jobs only)."
    )
    estimated_start_at: float | None = Field(
        default=None, description="When it should start, from recent run times (queued only)."
    )

    @classmethod
    def of(cls, job: Job, *, position: int | None = None, start: float | None = None) -> JobOut:
        base = f"/v1/jobs/{job.id}/artifacts"
        return cls(
            id=job.id,
            kind=job.kind,
            model=job.model,
            status=job.status.value,
            input=job.input,
            priority=job.priority,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            timeout=job.timeout,
            idempotency_key=job.idempotency_key,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            run_after=job.run_after,
            progress=job.progress,
            progress_message=job.progress_message,
            result=job.result,
            error=(
                ErrorOut(
                    type=job.error.type, message=job.error.message, traceback=job.error.traceback
                )
                if job.error
                else None
            ),
            artifacts=[
                ArtifactOut(
                    name=a.name, media_type=a.media_type, size=a.size, url=f"{base}/{a.name}"
                )
                for a in job.artifacts
            ],
            cancel_requested=job.cancel_requested,
            last_event_id=job.last_event,
            queue_position=position,
            estimated_start_at=start,
        )


class JobList(BaseModel):
    """A page of jobs, newest first; pass ``next_cursor`` as ``before`` for the next page."""

    object: Literal["list"] = "list"
    data: list[JobOut]
    has_more: bool
    next_cursor: str | None


class JobEventOut(BaseModel):
    """One event, as sent in the SSE stream's ``data`` field."""

    id: int
    job_id: str
    type: str
    at: float
    data: dict[str, Any]

    @classmethod
    def of(cls, event: JobEvent) -> JobEventOut:
        return cls(
            id=event.seq,
            job_id=event.job_id,
            type=event.type.value,
            at=event.at,
            data=dict(event.data),
        )


class ArtifactList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ArtifactOut]
