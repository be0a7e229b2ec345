"""Applying :mod:`berth.jobs.lifecycle` steps to rows: the UPDATE and the event it records, in
the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from berth.db.rows import job_by_id, job_from_row
from berth.db.schema import jobs
from berth.db.statements import INSERT_EVENT, columns, held_update
from berth.jobs.job import Job, Lease
from berth.jobs.lifecycle import Step, lease_lost


def record(conn: sa.Connection, entries: Sequence[tuple[Job, Step]], now: float) -> None:
    """Insert each job's event for its step (the job as it is after the step)."""
    if entries:
        conn.execute(
            INSERT_EVENT,
            [
                {"job_id": job.id, "seq": job.last_event, "type": step.event, "at": now,
                 "data": step.event_data(job)}
                for job, step in entries
            ],
        )  # fmt: skip


def apply(conn: sa.Connection, where: sa.ColumnElement[bool], step: Step, now: float) -> list[Job]:
    """Apply ``step`` to every job ``where`` selects, with its event; the jobs after it."""
    values = columns(step.values)
    if step.attempts:
        values["attempts"] = jobs.c.attempts + step.attempts
    statement = (
        jobs.update()
        .where(where)
        .values(updated_at=now, last_event=jobs.c.last_event + 1, **values)
        .returning(*jobs.c)
    )
    changed = [job_from_row(row._mapping) for row in conn.execute(statement)]
    record(conn, [(job, step) for job in changed], now)
    return changed


def apply_held(conn: sa.Connection, lease: Lease, step: Step, now: float) -> Job:
    """Apply ``step`` to the job ``lease`` holds, with its event; LeaseLost if it does not
    hold it any more (UnknownJob if there is no such job)."""
    values = columns(step.values)
    params = {f"v_{key}": value for key, value in values.items()}
    params.update(h_id=lease.job_id, h_worker=lease.worker_id, h_attempt=lease.attempt, h_now=now)
    row = conn.execute(held_update(tuple(values), step.attempts), params).first()
    if row is None:
        job_by_id(conn, lease.job_id)  # UnknownJob if it is gone altogether
        raise lease_lost(lease)
    job = job_from_row(row._mapping)
    record(conn, [(job, step)], now)
    return job
