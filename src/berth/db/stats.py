"""Queue statistics in SQL: depth by status and kind, a job's place in line, recent run times.

Functions over one connection; :class:`~berth.db.jobs.SqlJobStore` runs them in its
transactions.
"""

from __future__ import annotations

import sqlalchemy as sa

from berth.db.schema import jobs
from berth.jobs.job import Job, JobStatus

UNFINISHED = [JobStatus.QUEUED.value, JobStatus.RUNNING.value]


def counts(conn: sa.Connection) -> dict[tuple[JobStatus, str], int]:
    statement = sa.select(jobs.c.status, jobs.c.kind, sa.func.count()).group_by(
        jobs.c.status, jobs.c.kind
    )
    return {(JobStatus(status), kind): n for status, kind, n in conn.execute(statement).all()}


def position(conn: sa.Connection, job: Job, now: float) -> int | None:
    """How many due queued jobs come before ``job``; None unless it is queued."""
    if job.status is not JobStatus.QUEUED:
        return None
    ahead = sa.or_(
        jobs.c.priority > job.priority,
        sa.and_(jobs.c.priority == job.priority, jobs.c.id < job.id),
    )
    statement = sa.select(sa.func.count()).where(
        jobs.c.status == JobStatus.QUEUED.value, jobs.c.run_after <= now, ahead
    )
    return int(conn.execute(statement).scalar_one())


def unfinished(conn: sa.Connection, owner: str) -> int:
    statement = sa.select(sa.func.count()).where(
        jobs.c.owner == owner, jobs.c.status.in_(UNFINISHED)
    )
    return int(conn.execute(statement).scalar_one())


def durations(conn: sa.Connection, kind: str, limit: int) -> list[float]:
    statement = (
        sa.select(jobs.c.finished_at - jobs.c.started_at)
        .where(jobs.c.kind == kind, jobs.c.status == JobStatus.SUCCEEDED.value)
        .order_by(jobs.c.finished_at.desc())
        .limit(limit)
    )
    return [float(value) for value in conn.execute(statement).scalars().all()]
