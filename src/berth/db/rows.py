"""Conversions between job-store rows and the job record, and the lookup of one job."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth import errors
from berth.db.schema import jobs
from berth.jobs.job import Artifact, ErrorInfo, EventType, Job, JobEvent, JobStatus
from berth.jobs.workers import WorkerInfo


def job_from_row(row: Mapping[Any, Any]) -> Job:
    """A :class:`Job` from a ``berth_jobs`` row."""
    error = row["error"]
    return Job(
        id=row["id"],
        kind=row["kind"],
        input=row["input"],
        status=JobStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        run_after=row["run_after"],
        model=row["model"],
        priority=row["priority"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        timeout=row["timeout"],
        idempotency_key=row["idempotency_key"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        worker_id=row["worker_id"],
        lease_expires_at=row["lease_expires_at"],
        progress=row["progress"],
        progress_message=row["progress_message"],
        result=row["result"],
        error=ErrorInfo.from_json(error) if error else None,
        artifacts=tuple(Artifact.from_json(item) for item in row["artifacts"] or ()),
        cancel_requested=bool(row["cancel_requested"]),
        last_event=row["last_event"],
        owner=row["owner"],
        trace_parent=row["trace_parent"],
    )


def job_by_id(conn: sa.Connection, job_id: str) -> Job:
    """The job with this id; raises UnknownJob."""
    row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
    if row is None:
        raise errors.UnknownJob(f"No job has the id '{job_id}'.")
    return job_from_row(row._mapping)


def event_from_row(row: Mapping[Any, Any]) -> JobEvent:
    """A :class:`JobEvent` from a ``berth_job_events`` row."""
    return JobEvent(
        job_id=row["job_id"],
        seq=row["seq"],
        type=EventType(row["type"]),
        at=row["at"],
        data=row["data"] or {},
    )


def worker_from_row(row: Mapping[Any, Any]) -> WorkerInfo:
    """A :class:`WorkerInfo` from a ``berth_workers`` row."""
    return WorkerInfo(
        id=row["id"],
        host=row["host"],
        pid=row["pid"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        concurrency=row["concurrency"],
        running=row["running"],
        models=tuple(row["models"] or ()),
    )
