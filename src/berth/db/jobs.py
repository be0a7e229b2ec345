"""The job store on a SQL database (SQLAlchemy Core), shared by the SQLite and PostgreSQL
adapters: each method one transaction over the functions of its role.

- the queue, callers' side: :mod:`berth.db.queue`
- leases, workers' side: :mod:`berth.db.leases`, with :mod:`berth.db.changes` for the steps
- the worker registry: :mod:`berth.db.workers`
- statistics: :mod:`berth.db.stats`

What differs between the databases (locking rows for a claim, waking idle workers) comes from
the adapter's :class:`~berth.db.database.SqlDialect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self, TypeVar

import sqlalchemy as sa

from berth import errors
from berth.clock import Clock, SystemClock
from berth.db import leases, queue, stats, workers
from berth.db.changes import apply_held
from berth.db.database import Database, SqlDialect
from berth.db.rows import job_by_id
from berth.db.schema import jobs
from berth.jobs import lifecycle
from berth.jobs.job import (
    Artifact,
    ErrorInfo,
    Heartbeat,
    Job,
    JobEvent,
    JobQuery,
    JobStatus,
    JsonValue,
    Lease,
    NewJob,
    Submission,
)
from berth.jobs.lifecycle import Step
from berth.jobs.workers import WorkerInfo

T = TypeVar("T")


class SqlJobStore:
    """A :class:`~berth.jobs.store.JobStore` over SQLAlchemy Core."""

    def __init__(
        self,
        dialect: SqlDialect,
        url: str,
        *,
        clock: Clock | None = None,
        upgrade: bool = True,
    ) -> None:
        self.url = url
        self._dialect = dialect
        self._db = Database(dialect, url, upgrade=upgrade)
        self._clock = clock or SystemClock()
        self._insert = (
            dialect.insert(jobs)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(*jobs.c)
        )

    async def __aenter__(self) -> Self:
        await self._db.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._db.close()

    @property
    def database(self) -> Database:
        """The database this store runs on, for stores that share it (API keys)."""
        return self._db

    def upgrade_schema(self) -> tuple[str | None, str]:
        """Migrate the database to the newest schema now; return (before, after) revisions."""
        return self._db.upgrade_schema()

    async def _tx(self, fn: Callable[[sa.Connection], T]) -> T:
        return await self._db.transaction(fn)

    async def _safe_tx(self, fn: Callable[[sa.Connection], T]) -> T:
        """A transaction that may run twice with the same outcome (a read, an idempotent write)."""
        return await self._db.transaction(fn, safe=True)

    async def _waking(self, fn: Callable[[sa.Connection], tuple[T, bool]], safe: bool) -> T:
        """Run ``fn`` (which says whether it made work available) and wake idle workers if so:
        inside the transaction (PostgreSQL's NOTIFY) and after it commits (SQLite's)."""

        def run(conn: sa.Connection) -> tuple[T, bool]:
            result, woke = fn(conn)
            if woke:
                self._dialect.notify(conn)
            return result, woke

        result, woke = await self._db.transaction(run, safe=safe)
        if woke:
            self._dialect.after_commit()
        return result

    def _now(self) -> float:
        return self._clock.now()

    async def _held(self, lease: Lease, step: Step) -> Job:
        return await self._tx(lambda conn: apply_held(conn, lease, step, self._now()))

    # -- the queue: callers ----------------------------------------------------------------

    async def submit(self, new: NewJob, *, max_unfinished: int | None = None) -> Submission:
        def submit(conn: sa.Connection) -> tuple[Submission, bool]:
            made = queue.submit(conn, self._dialect, self._insert, new, self._now(), max_unfinished)
            return made, made.created

        return await self._waking(submit, safe=new.idempotency_key is not None)

    async def get(self, job_id: str) -> Job:
        return await self._safe_tx(lambda conn: job_by_id(conn, job_id))

    async def list_jobs(self, query: JobQuery) -> list[Job]:
        return await self._safe_tx(lambda conn: queue.listed(conn, query))

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        return await self._safe_tx(lambda conn: queue.events(conn, job_id, after))

    async def cancel(self, job_id: str) -> Job:
        return await self._waking(lambda conn: queue.cancel(conn, job_id, self._now()), safe=True)

    async def wait_for_work(self, timeout: float) -> bool:
        if not self._db.is_open:
            raise errors.StoreClosed(f"The job store at {self.url} is closed.")
        return await self._dialect.wait_for_work(timeout)

    # -- statistics ------------------------------------------------------------------------

    async def counts(self) -> dict[tuple[JobStatus, str], int]:
        return await self._safe_tx(stats.counts)

    async def queue_position(self, job_id: str) -> int | None:
        return await self._safe_tx(
            lambda conn: stats.position(conn, job_by_id(conn, job_id), self._now())
        )

    async def count_unfinished(self, owner: str) -> int:
        return await self._safe_tx(lambda conn: stats.unfinished(conn, owner))

    async def recent_durations(self, kind: str, limit: int = 50) -> list[float]:
        return await self._safe_tx(lambda conn: stats.durations(conn, kind, limit))

    # -- leases: workers -------------------------------------------------------------------

    async def claim(
        self, worker_id: str, free: Mapping[str, int], limit: int, lease_seconds: float
    ) -> list[Job]:
        if limit <= 0 or not any(room > 0 for room in free.values()):
            return []
        lock = self._dialect.lock
        return await self._tx(
            lambda conn: leases.claim(
                conn, lock, worker_id, free, limit, lease_seconds, self._now()
            )
        )

    async def heartbeat(
        self, worker_id: str, leases_held: frozenset[Lease], lease_seconds: float
    ) -> Heartbeat:
        return await self._safe_tx(
            lambda conn: leases.heartbeat(conn, worker_id, leases_held, lease_seconds, self._now())
        )

    async def progress(self, lease: Lease, fraction: float | None, message: str | None) -> None:
        await self._held(lease, lifecycle.progress(fraction, message))

    async def add_artifact(self, lease: Lease, artifact: Artifact) -> None:
        def add(conn: sa.Connection) -> Job:
            step = lifecycle.add_artifact(job_by_id(conn, lease.job_id).artifacts, artifact)
            return apply_held(conn, lease, step, self._now())

        await self._tx(add)

    async def succeed(self, lease: Lease, result: JsonValue) -> Job:
        return await self._held(lease, lifecycle.succeed(result, self._now()))

    async def fail(self, lease: Lease, error: ErrorInfo, retry_at: float | None) -> Job:
        return await self._held(lease, lifecycle.fail(error, retry_at, self._now()))

    async def mark_cancelled(self, lease: Lease, reason: str) -> Job:
        return await self._held(lease, lifecycle.stopped(reason, self._now()))

    async def release(self, lease: Lease, reason: str) -> Job:
        step = lifecycle.release(reason, self._now())
        return await self._waking(
            lambda conn: (apply_held(conn, lease, step, self._now()), True), safe=False
        )

    async def reap(self) -> list[Job]:
        def reap(conn: sa.Connection) -> tuple[list[Job], bool]:
            reaped = leases.reap(conn, self._dialect.lock, self._now())
            return reaped, bool(reaped)

        return await self._waking(reap, safe=False)

    # -- the worker registry ---------------------------------------------------------------

    async def forget_workers(self, silent_for: float) -> list[str]:
        cutoff = self._now() - silent_for
        return await self._safe_tx(lambda conn: workers.forget_silent(conn, cutoff))

    async def register_worker(self, worker: WorkerInfo) -> None:
        await self._safe_tx(lambda conn: workers.register(conn, worker))

    async def report_models(
        self, worker_id: str, models: Sequence[Mapping[str, JsonValue]]
    ) -> None:
        await self._safe_tx(lambda conn: workers.report_models(conn, worker_id, models))

    async def deregister_worker(self, worker_id: str) -> None:
        await self._safe_tx(lambda conn: workers.deregister(conn, worker_id))

    async def workers(self) -> list[WorkerInfo]:
        return await self._safe_tx(workers.listed)
