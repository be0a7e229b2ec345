"""Prebuilt SQL statements for the hot paths of the SQL job store.

Building a SQLAlchemy statement costs more than running it on SQLite; these are built once
and reused with bound parameters.
"""

from __future__ import annotations

import functools
from typing import Any

import sqlalchemy as sa

from berth.db.schema import job_events, jobs
from berth.jobs.job import JobStatus

RUNNING = JobStatus.RUNNING.value
INSERT_EVENT = job_events.insert()
EXPRESSIONS: dict[str, Any] = {"attempts": jobs.c.attempts - 1}
"""Values computed in SQL by :func:`held_update` (a release gives the attempt back)."""


@functools.cache
def held_update(keys: tuple[str, ...]) -> sa.Update:
    """The UPDATE of a job under a lease (``h_id``, ``h_worker``, ``h_attempt``) that sets
    ``keys`` from ``v_<key>`` parameters, stamps ``h_now`` and counts one more event."""
    assignments: dict[str, Any] = {
        key: EXPRESSIONS.get(key, sa.bindparam(f"v_{key}")) for key in keys
    }
    return (
        jobs.update()
        .where(
            jobs.c.id == sa.bindparam("h_id"),
            jobs.c.status == RUNNING,
            jobs.c.worker_id == sa.bindparam("h_worker"),
            jobs.c.attempts == sa.bindparam("h_attempt"),
        )
        .values(updated_at=sa.bindparam("h_now"), last_event=jobs.c.last_event + 1, **assignments)
        .returning(*jobs.c)
    )


def finished(**values: Any) -> dict[str, Any]:
    """The values that end an attempt: the lease is gone, a cancel request is spent."""
    return {"worker_id": None, "lease_expires_at": None, "cancel_requested": False, **values}
