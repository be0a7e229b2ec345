"""Prebuilt SQL statements for the hot paths of the SQL job store, and the conversion of a
:class:`~berth.jobs.lifecycle.Step`'s values into column values.

Building a SQLAlchemy statement costs more than running it on SQLite; these are built once
and reused with bound parameters.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth.db.schema import job_events, jobs
from berth.jobs.job import Artifact, ErrorInfo, JobStatus

RUNNING = JobStatus.RUNNING.value
INSERT_EVENT = job_events.insert()


def columns(values: Mapping[str, Any]) -> dict[str, Any]:
    """A step's field values as the columns hold them (enums as text, records as JSON)."""
    return {name: _column(value) for name, value in values.items()}


def _column(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, ErrorInfo):
        return value.to_json()
    if isinstance(value, tuple) and all(isinstance(item, Artifact) for item in value):
        return [item.to_json() for item in value]
    return value


@functools.cache
def held_update(keys: tuple[str, ...], attempts: int) -> sa.Update:
    """The UPDATE of a job under a lease (``h_id``, ``h_worker``, ``h_attempt``) that sets
    ``keys`` from ``v_<key>`` parameters, adds ``attempts`` to its attempt count, stamps
    ``h_now`` and counts one more event."""
    assignments: dict[str, Any] = {key: sa.bindparam(f"v_{key}") for key in keys}
    if attempts:
        assignments["attempts"] = jobs.c.attempts + attempts
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
