"""The job store on a SQL database (SQLAlchemy Core), shared by the SQLite and PostgreSQL adapters.

What differs between the databases (locking rows for a claim, waking idle workers) comes from
the adapter's :class:`~berth.db.database.SqlDialect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import sqlalchemy as sa

from berth import errors
from berth.clock import Clock, SystemClock
from berth.db import stats
from berth.db import workers as registry
from berth.db.database import Database, SqlDialect
from berth.db.rows import event_from_row, job_from_row
from berth.db.schema import job_events, jobs
from berth.db.statements import EXPRESSIONS, INSERT_EVENT, RUNNING, finished, held_update
from berth.ids import new_id
from berth.jobs.job import (
    JOB_ID_PREFIX,
    Artifact,
    ErrorInfo,
    EventType,
    Heartbeat,
    Job,
    JobEvent,
    JobQuery,
    JobStatus,
    JsonValue,
    Lease,
    NewJob,
    Submission,
    queued_event,
)
from berth.jobs.workers import WorkerInfo

T = TypeVar("T")
Values = dict[str, Any]


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
        self._insert = dialect.insert(jobs).returning(*jobs.c)
        self._insert_once = (
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

    def _now(self) -> float:
        return self._clock.now()

    # -- events ----------------------------------------------------------------------------

    def _log_events(
        self, conn: sa.Connection, entries: Sequence[tuple[Job, EventType, Mapping[str, Any]]]
    ) -> None:
        if not entries:
            return
        now = self._now()
        conn.execute(
            INSERT_EVENT,
            [
                {"job_id": job.id, "seq": job.last_event, "type": kind, "at": now, "data": data}
                for job, kind, data in entries
            ],
        )

    def _update(
        self, conn: sa.Connection, where: sa.ColumnElement[bool], values: Values
    ) -> list[Job]:
        """Update rows, bump their event counter, and return them as jobs."""
        statement = (
            jobs.update()
            .where(where)
            .values(updated_at=self._now(), last_event=jobs.c.last_event + 1, **values)
            .returning(*jobs.c)
        )
        return [job_from_row(row._mapping) for row in conn.execute(statement)]

    def _update_held(
        self,
        conn: sa.Connection,
        lease: Lease,
        values: Values,
        event: EventType,
        data: Mapping[str, Any],
    ) -> Job:
        """Update a job under this lease, with its event; raise LeaseLost if the lease is gone."""
        params = {f"v_{key}": value for key, value in values.items() if key not in EXPRESSIONS}
        params.update(
            h_id=lease.job_id, h_worker=lease.worker_id, h_attempt=lease.attempt, h_now=self._now()
        )
        statement = held_update(tuple(values))
        row = conn.execute(statement, params).first()
        if row is None:
            self._get(conn, lease.job_id)
            raise errors.LeaseLost(
                f"Worker '{lease.worker_id}' no longer holds attempt {lease.attempt} "
                f"of job '{lease.job_id}'."
            )
        job = job_from_row(row._mapping)
        self._log_events(conn, [(job, event, data)])
        return job

    # -- callers ---------------------------------------------------------------------------

    async def submit(self, new: NewJob) -> Submission:
        run = self._tx if new.idempotency_key is None else self._safe_tx
        submission = await run(lambda conn: self._submit(conn, new))
        if submission.created:
            self._dialect.after_commit()
        return submission

    def _submit(self, conn: sa.Connection, new: NewJob) -> Submission:
        now = self._now()
        values = {
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
        statement = self._insert if new.idempotency_key is None else self._insert_once
        inserted = conn.execute(statement, values).first()
        if inserted is None:
            existing = conn.execute(
                sa.select(jobs).where(jobs.c.idempotency_key == new.idempotency_key)
            ).one()
            return Submission(job_from_row(existing._mapping), created=False)
        job = job_from_row(inserted._mapping)
        self._log_events(conn, [(job, EventType.QUEUED, queued_event(job))])
        self._dialect.notify(conn)
        return Submission(job, created=True)

    def _get(self, conn: sa.Connection, job_id: str) -> Job:
        row = conn.execute(sa.select(jobs).where(jobs.c.id == job_id)).first()
        if row is None:
            raise errors.UnknownJob(f"No job has the id '{job_id}'.")
        return job_from_row(row._mapping)

    async def get(self, job_id: str) -> Job:
        return await self._safe_tx(lambda conn: self._get(conn, job_id))

    async def list_jobs(self, query: JobQuery) -> list[Job]:
        statement = sa.select(jobs).order_by(jobs.c.id.desc()).limit(query.limit)
        if query.statuses:
            statement = statement.where(jobs.c.status.in_([s.value for s in query.statuses]))
        if query.kind is not None:
            statement = statement.where(jobs.c.kind == query.kind)
        if query.model is not None:
            statement = statement.where(jobs.c.model == query.model)
        if query.before is not None:
            statement = statement.where(jobs.c.id < query.before)
        rows = await self._safe_tx(lambda conn: conn.execute(statement).all())
        return [job_from_row(row._mapping) for row in rows]

    async def events(self, job_id: str, after: int = 0) -> list[JobEvent]:
        def read(conn: sa.Connection) -> list[JobEvent]:
            statement = (
                sa.select(job_events)
                .where(job_events.c.job_id == job_id, job_events.c.seq > after)
                .order_by(job_events.c.seq)
            )
            rows = conn.execute(statement).all()
            if not rows:
                self._get(conn, job_id)
            return [event_from_row(row._mapping) for row in rows]

        return await self._safe_tx(read)

    async def cancel(self, job_id: str) -> Job:
        job, woke = await self._safe_tx(lambda conn: self._cancel(conn, job_id))
        if woke:
            self._dialect.after_commit()
        return job

    def _cancel(self, conn: sa.Connection, job_id: str) -> tuple[Job, bool]:
        queued = self._update(
            conn,
            sa.and_(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value),
            {"status": JobStatus.CANCELLED.value, "finished_at": self._now()},
        )
        if queued:
            data = {"reason": "cancelled while queued"}
            self._log_events(conn, [(queued[0], EventType.CANCELLED, data)])
            return queued[0], False
        running = self._update(
            conn,
            sa.and_(
                jobs.c.id == job_id,
                jobs.c.status == RUNNING,
                jobs.c.cancel_requested == sa.false(),
            ),
            {"cancel_requested": True},
        )
        if running:
            self._log_events(conn, [(running[0], EventType.CANCEL_REQUESTED, {})])
            self._dialect.notify(conn)
            return running[0], True
        return self._get(conn, job_id), False

    async def counts(self) -> dict[tuple[JobStatus, str], int]:
        return await self._safe_tx(stats.counts)

    async def queue_position(self, job_id: str) -> int | None:
        return await self._safe_tx(
            lambda conn: stats.position(conn, self._get(conn, job_id), self._now())
        )

    async def count_unfinished(self, owner: str) -> int:
        return await self._safe_tx(lambda conn: stats.unfinished(conn, owner))

    async def recent_durations(self, kind: str, limit: int = 50) -> list[float]:
        return await self._safe_tx(lambda conn: stats.durations(conn, kind, limit))

    # -- workers ---------------------------------------------------------------------------

    async def claim(
        self, worker_id: str, free: Mapping[str, int], limit: int, lease_seconds: float
    ) -> list[Job]:
        kinds = [kind for kind, room in free.items() if room > 0]
        if not kinds or limit <= 0:
            return []
        return await self._tx(
            lambda conn: self._claim(conn, worker_id, free, kinds, limit, lease_seconds)
        )

    def _claim(
        self,
        conn: sa.Connection,
        worker_id: str,
        free: Mapping[str, int],
        kinds: list[str],
        limit: int,
        lease_seconds: float,
    ) -> list[Job]:
        now = self._now()
        candidates = conn.execute(
            self._dialect.lock(
                sa.select(jobs.c.id, jobs.c.kind)
                .where(
                    jobs.c.status == JobStatus.QUEUED.value,
                    jobs.c.run_after <= now,
                    jobs.c.kind.in_(kinds),
                )
                .order_by(jobs.c.priority.desc(), jobs.c.id)
                .limit(limit)
            )
        ).all()
        room = dict(free)
        chosen = []
        for job_id, kind in candidates:
            if room[kind] > 0:
                room[kind] -= 1
                chosen.append(job_id)
        if not chosen:
            return []
        claimed = self._update(
            conn,
            jobs.c.id.in_(chosen),
            {
                "status": RUNNING,
                "worker_id": worker_id,
                "lease_expires_at": now + lease_seconds,
                "attempts": jobs.c.attempts + 1,
                "started_at": now,
                "progress": None,
                "progress_message": None,
            },
        )
        claimed.sort(key=lambda job: (-job.priority, job.id))
        self._log_events(
            conn,
            [
                (job, EventType.STARTED, {"attempt": job.attempts, "worker": worker_id})
                for job in claimed
            ],
        )
        return claimed

    async def heartbeat(
        self, worker_id: str, leases: frozenset[Lease], lease_seconds: float
    ) -> Heartbeat:
        return await self._safe_tx(
            lambda conn: self._heartbeat(conn, worker_id, leases, lease_seconds)
        )

    def _heartbeat(
        self, conn: sa.Connection, worker_id: str, leases: frozenset[Lease], lease_seconds: float
    ) -> Heartbeat:
        now = self._now()
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
        registry.beat(conn, worker_id, now, len(held))
        return Heartbeat(
            lost=frozenset(job_ids - held.keys()),
            cancel_requested=frozenset(job_id for job_id, cancel in held.items() if cancel),
        )

    async def progress(self, lease: Lease, fraction: float | None, message: str | None) -> None:
        values = {"progress": fraction, "progress_message": message}
        data = {"fraction": fraction, "message": message}
        await self._tx(
            lambda conn: self._update_held(conn, lease, values, EventType.PROGRESS, data)
        )

    async def add_artifact(self, lease: Lease, artifact: Artifact) -> None:
        def add(conn: sa.Connection) -> None:
            current = self._get(conn, lease.job_id).artifacts
            listed = [a.to_json() for a in current if a.name != artifact.name]
            values = {"artifacts": [*listed, artifact.to_json()]}
            self._update_held(conn, lease, values, EventType.ARTIFACT, artifact.to_json())

        await self._tx(add)

    async def succeed(self, lease: Lease, result: JsonValue) -> Job:
        def finish(conn: sa.Connection) -> Job:
            values = finished(
                status=JobStatus.SUCCEEDED.value,
                result=result,
                error=None,
                finished_at=self._now(),
            )
            return self._update_held(conn, lease, values, EventType.SUCCEEDED, {})

        return await self._tx(finish)

    async def fail(self, lease: Lease, error: ErrorInfo, retry_at: float | None) -> Job:
        data: dict[str, Any] = {"error": error.type, "message": error.message}
        if retry_at is None:
            event = EventType.FAILED
            values = finished(
                status=JobStatus.FAILED.value, error=error.to_json(), finished_at=self._now()
            )
        else:
            event, data["run_after"] = EventType.RETRYING, retry_at
            values = finished(
                status=JobStatus.QUEUED.value, error=error.to_json(), run_after=retry_at
            )
        return await self._tx(lambda conn: self._update_held(conn, lease, values, event, data))

    async def mark_cancelled(self, lease: Lease, reason: str) -> Job:
        values = finished(status=JobStatus.CANCELLED.value, finished_at=self._now())
        return await self._tx(
            lambda conn: self._update_held(
                conn, lease, values, EventType.CANCELLED, {"reason": reason}
            )
        )

    async def release(self, lease: Lease, reason: str) -> Job:
        values = finished(
            status=JobStatus.QUEUED.value, attempts=EXPRESSIONS["attempts"], run_after=self._now()
        )

        def release(conn: sa.Connection) -> Job:
            job = self._update_held(conn, lease, values, EventType.REQUEUED, {"reason": reason})
            self._dialect.notify(conn)
            return job

        job = await self._tx(release)
        self._dialect.after_commit()
        return job

    async def reap(self) -> list[Job]:
        reaped = await self._tx(self._reap)
        if reaped:
            self._dialect.after_commit()
        return reaped

    def _reap(self, conn: sa.Connection) -> list[Job]:
        now = self._now()
        expired = conn.execute(
            self._dialect.lock(
                sa.select(jobs.c.id).where(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now)
            )
        ).all()
        if not expired:
            return []
        lost = errors.WorkerLost()
        error = ErrorInfo(type(lost).__name__, lost.message).to_json()
        retry = jobs.c.attempts < jobs.c.max_attempts
        reaped = self._update(
            conn,
            jobs.c.id.in_([row.id for row in expired]),
            finished(
                status=sa.case((retry, JobStatus.QUEUED.value), else_=JobStatus.FAILED.value),
                finished_at=sa.case((retry, None), else_=now),
                run_after=now,
                error=error,
            ),
        )
        self._log_events(
            conn,
            [
                (
                    job,
                    EventType.REQUEUED if job.status is JobStatus.QUEUED else EventType.FAILED,
                    {"reason": "lease_expired", "attempt": job.attempts, "error": lost.message},
                )
                for job in reaped
            ],
        )
        self._dialect.notify(conn)
        return reaped

    async def forget_workers(self, silent_for: float) -> list[str]:
        cutoff = self._now() - silent_for
        return await self._safe_tx(lambda conn: registry.forget_silent(conn, cutoff))

    async def register_worker(self, worker: WorkerInfo) -> None:
        await self._safe_tx(lambda conn: registry.register(conn, worker))

    async def report_models(
        self, worker_id: str, models: Sequence[Mapping[str, JsonValue]]
    ) -> None:
        await self._safe_tx(lambda conn: registry.report_models(conn, worker_id, models))

    async def deregister_worker(self, worker_id: str) -> None:
        await self._safe_tx(lambda conn: registry.deregister(conn, worker_id))

    async def workers(self) -> list[WorkerInfo]:
        return await self._safe_tx(registry.listed)

    async def wait_for_work(self, timeout: float) -> bool:
        if not self._db.is_open:
            raise errors.StoreClosed(f"The job store at {self.url} is closed.")
        return await self._dialect.wait_for_work(timeout)
