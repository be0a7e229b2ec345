"""The queue in SQL, the callers' side: submit (with the owner's limit checked in the same
transaction), look up, list, follow and cancel jobs.

Functions over one connection; :class:`~berth.db.jobs.SqlJobStore` runs them in its
transactions. Each returns whether it made work available, so the store can wake workers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from berth import errors
from berth.db import stats
from berth.db.changes import apply, record
from berth.db.database import SqlDialect
from berth.db.rows import event_from_row, job_by_id, job_from_row
from berth.db.schema import job_events, jobs
from berth.ids import new_id
from berth.jobs import lifecycle
from berth.jobs.job import (
    JOB_ID_PREFIX,
    EventType,
    Job,
    JobEvent,
    JobQuery,
    JobStatus,
    NewJob,
    Submission,
    queued_event,
)
from berth.jobs.lifecycle import Step

RUNNING = JobStatus.RUNNING.value


def new_row(new: NewJob, now: float) -> dict[str, Any]:
    return {
        "id": new_id(JOB_ID_PREFIX),
        "kind": new.kind,
        "model": new.model,
        "input": new.input,
        "priority": new.priority,
        "status": JobStatus.QUEUED.value,
        "attempts": 0,
        "max_attempts": new.max_attempts,
        "timeout": new.timeout,
        "idempotency_key": new.idempotency_key,
        "owner": new.owner,
        "trace_parent": new.trace_parent,
        "created_at": now,
        "updated_at": now,
        "run_after": new.run_after if new.run_after is not None else now,
        "artifacts": [],
        "cancel_requested": False,
        "last_event": 1,
    }


def existing(conn: sa.Connection, key: str | None) -> Job | None:
    """The job submitted with idempotency key ``key``, if any."""
    if key is None:
        return None
    row = conn.execute(sa.select(jobs).where(jobs.c.idempotency_key == key)).first()
    return job_from_row(row._mapping) if row is not None else None


def submit(
    conn: sa.Connection,
    dialect: SqlDialect,
    insert: Any,
    new: NewJob,
    now: float,
    max_unfinished: int | None,
) -> Submission:
    """Insert the job, unless one has its idempotency key (that one is returned) or its owner
    already has ``max_unfinished`` queued or running (TooManyJobs)."""
    found = existing(conn, new.idempotency_key)
    if found is not None:
        return Submission(found, created=False)
    if max_unfinished is not None and new.owner is not None:
        dialect.serialize(conn, f"owner:{new.owner}")
        unfinished = stats.unfinished(conn, new.owner)
        if unfinished >= max_unfinished:
            raise errors.TooManyJobs(unfinished, max_unfinished)
    inserted = conn.execute(insert, new_row(new, now)).first()
    if inserted is None:  # another submit with the same key won the race
        again = existing(conn, new.idempotency_key)
        assert again is not None
        return Submission(again, created=False)
    job = job_from_row(inserted._mapping)
    record(conn, [(job, Step({}, EventType.QUEUED, queued_event(job)))], now)
    return Submission(job, created=True)


def listed(conn: sa.Connection, query: JobQuery) -> list[Job]:
    statement = sa.select(jobs).order_by(jobs.c.id.desc()).limit(query.limit)
    if query.statuses:
        statement = statement.where(jobs.c.status.in_([s.value for s in query.statuses]))
    if query.kind is not None:
        statement = statement.where(jobs.c.kind == query.kind)
    if query.model is not None:
        statement = statement.where(jobs.c.model == query.model)
    if query.owner is not None:
        statement = statement.where(jobs.c.owner == query.owner)
    if query.before is not None:
        statement = statement.where(jobs.c.id < query.before)
    return [job_from_row(row._mapping) for row in conn.execute(statement).all()]


def events(conn: sa.Connection, job_id: str, after: int) -> list[JobEvent]:
    statement = (
        sa.select(job_events)
        .where(job_events.c.job_id == job_id, job_events.c.seq > after)
        .order_by(job_events.c.seq)
    )
    rows = conn.execute(statement).all()
    if not rows:
        job_by_id(conn, job_id)
    return [event_from_row(row._mapping) for row in rows]


def cancel(conn: sa.Connection, job_id: str, now: float) -> tuple[Job, bool]:
    """Cancel a queued job, or ask a running one's worker to stop; True if a worker needs
    waking (it learns of the request at its next heartbeat, or at once when woken)."""
    queued = apply(
        conn,
        sa.and_(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value),
        lifecycle.cancel_queued(now),
        now,
    )
    if queued:
        return queued[0], False
    running = apply(
        conn,
        sa.and_(
            jobs.c.id == job_id, jobs.c.status == RUNNING, jobs.c.cancel_requested == sa.false()
        ),
        lifecycle.cancel_running(),
        now,
    )
    if running:
        return running[0], True
    return job_by_id(conn, job_id), False
