"""The workers registry in SQL: which dispatchers exist, when they last beat, what they hold.

Functions over one connection; :class:`~berth.db.jobs.SqlJobStore` runs them in its
transactions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from berth.db.rows import worker_from_row
from berth.db.schema import workers
from berth.jobs.job import JsonValue
from berth.jobs.workers import WorkerInfo


def register(conn: sa.Connection, worker: WorkerInfo) -> None:
    """Record a worker, replacing an earlier record with its id."""
    conn.execute(workers.delete().where(workers.c.id == worker.id))
    conn.execute(
        workers.insert().values(
            id=worker.id,
            host=worker.host,
            pid=worker.pid,
            started_at=worker.started_at,
            heartbeat_at=worker.heartbeat_at,
            concurrency=worker.concurrency,
            running=worker.running,
            models=[dict(model) for model in worker.models],
        )
    )


def beat(conn: sa.Connection, worker_id: str, now: float, running: int) -> None:
    """Note that the worker is alive and how many jobs it runs."""
    conn.execute(
        workers.update().where(workers.c.id == worker_id).values(heartbeat_at=now, running=running)
    )


def report_models(
    conn: sa.Connection, worker_id: str, models: Sequence[Mapping[str, JsonValue]]
) -> None:
    """Record the models the worker's pool holds."""
    statement = (
        workers.update()
        .where(workers.c.id == worker_id)
        .values(models=[dict(model) for model in models])
    )
    conn.execute(statement)


def deregister(conn: sa.Connection, worker_id: str) -> None:
    conn.execute(workers.delete().where(workers.c.id == worker_id))


def forget_silent(conn: sa.Connection, cutoff: float) -> list[str]:
    """Remove workers whose last beat is older than ``cutoff``; return their ids."""
    statement = workers.delete().where(workers.c.heartbeat_at < cutoff).returning(workers.c.id)
    return sorted(row.id for row in conn.execute(statement))


def listed(conn: sa.Connection) -> list[WorkerInfo]:
    """Every registered worker, by id."""
    rows = conn.execute(sa.select(workers).order_by(workers.c.id)).all()
    return [worker_from_row(row._mapping) for row in rows]
