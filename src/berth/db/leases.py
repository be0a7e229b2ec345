"""The queue in SQL, the workers' side: claim due jobs under a lease, renew leases, report on
the jobs held, and give back the jobs of workers that died.

Functions over one connection; :class:`~berth.db.jobs.SqlJobStore` runs them in its
transactions. The rules of each step come from :mod:`berth.jobs.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa

from berth.db import workers
from berth.db.changes import apply
from berth.db.schema import jobs
from berth.jobs import lifecycle
from berth.jobs.job import Heartbeat, Job, JobStatus, Lease

RUNNING = JobStatus.RUNNING.value
Lock = Callable[[sa.Select[Any]], sa.Select[Any]]


def claim(
    conn: sa.Connection,
    lock: Lock,
    worker_id: str,
    free: Mapping[str, int],
    limit: int,
    lease_seconds: float,
    now: float,
) -> list[Job]:
    """Up to ``limit`` due queued jobs of the kinds with room in ``free``, highest priority
    then oldest first, now running under this worker's leases."""
    candidates = conn.execute(
        lock(
            sa.select(jobs.c.id, jobs.c.kind)
            .where(
                jobs.c.status == JobStatus.QUEUED.value,
                jobs.c.run_after <= now,
                jobs.c.kind.in_([kind for kind, room in free.items() if room > 0]),
            )
            .order_by(jobs.c.priority.desc(), jobs.c.id)
            .limit(limit)
        )
    ).all()
    room = dict(free)
    chosen = []
    for row in candidates:
        if room[row.kind] > 0:
            room[row.kind] -= 1
            chosen.append(row.id)
    if not chosen:
        return []
    step = lifecycle.claim(worker_id, now, lease_seconds)
    claimed = apply(conn, jobs.c.id.in_(chosen), step, now)
    claimed.sort(key=lambda job: (-job.priority, job.id))
    return claimed


def heartbeat(
    conn: sa.Connection, worker_id: str, leases: frozenset[Lease], lease_seconds: float, now: float
) -> Heartbeat:
    """Renew the leases this worker still holds; name those it lost and those to cancel."""
    held: dict[str, bool] = {}
    job_ids = frozenset(lease.job_id for lease in leases)
    if leases:
        attempts = {lease.job_id: lease.attempt for lease in leases}
        statement = (
            jobs.update()
            .where(
                jobs.c.id.in_(sorted(job_ids)),
                jobs.c.status == RUNNING,
                jobs.c.worker_id == worker_id,
            )
            .values(lease_expires_at=now + lease_seconds)
            .returning(jobs.c.id, jobs.c.attempts, jobs.c.cancel_requested)
        )
        held = {
            job_id: bool(cancel)
            for job_id, attempt, cancel in conn.execute(statement)
            if attempts[job_id] == attempt
        }
    workers.beat(conn, worker_id, now, len(held))
    return Heartbeat(
        lost=frozenset(job_ids - held.keys()),
        cancel_requested=frozenset(job_id for job_id, cancel in held.items() if cancel),
    )


def reap(conn: sa.Connection, lock: Lock, now: float) -> list[Job]:
    """Jobs whose lease expired, queued again or failed as :func:`lifecycle.reap` says."""
    expired = conn.execute(
        lock(
            sa.select(jobs.c.id, (jobs.c.attempts < jobs.c.max_attempts).label("left")).where(
                jobs.c.status == RUNNING, jobs.c.lease_expires_at < now
            )
        )
    ).all()
    reaped: list[Job] = []
    for left in (True, False):
        ids = [row.id for row in expired if bool(row.left) is left]
        if ids:
            reaped += apply(conn, jobs.c.id.in_(ids), lifecycle.reap(left, now), now)
    return sorted(reaped, key=lambda job: job.id)
