"""The fine-tuning store on the job store's SQL database (``berth_fine_tuning_*`` tables)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth import errors
from berth.db.database import Database
from berth.db.schema import fine_tuning_checkpoints as checkpoints
from berth.db.schema import fine_tuning_events as events
from berth.db.schema import fine_tuning_jobs as jobs
from berth.training.memory import apply_change, refuse_transition
from berth.training.record import (
    Change,
    EventLevel,
    EventType,
    FineTuningCheckpoint,
    FineTuningError,
    FineTuningEvent,
    FineTuningJob,
    FineTuningStatus,
    Hyperparameters,
    LoraOptions,
)


def job_row(job: FineTuningJob) -> dict[str, Any]:
    lora = dataclasses.asdict(job.lora)
    lora["target_modules"] = list(job.lora.target_modules)
    return {
        "id": job.id,
        "model": job.model,
        "training_file": job.training_file,
        "validation_file": job.validation_file,
        "status": job.status.value,
        "hyperparameters": dataclasses.asdict(job.hyperparameters),
        "lora": lora,
        "method": job.method,
        "seed": job.seed,
        "suffix": job.suffix,
        "owner": job.owner,
        "job_id": job.job_id,
        "fine_tuned_model": job.fine_tuned_model,
        "trained_tokens": job.trained_tokens,
        "error": job.error.to_json() if job.error else None,
        "created_at": job.created_at,
        "finished_at": job.finished_at,
        "estimated_finish": job.estimated_finish,
        "metadata": job.metadata,
    }


def job_from_row(row: Mapping[Any, Any]) -> FineTuningJob:
    lora = dict(row["lora"])
    lora["target_modules"] = tuple(lora.get("target_modules", ()))
    return FineTuningJob(
        id=row["id"],
        model=row["model"],
        training_file=row["training_file"],
        validation_file=row["validation_file"],
        status=FineTuningStatus(row["status"]),
        hyperparameters=Hyperparameters(**row["hyperparameters"]),
        lora=LoraOptions(**lora),
        method=row["method"],
        seed=row["seed"],
        suffix=row["suffix"],
        owner=row["owner"],
        job_id=row["job_id"],
        fine_tuned_model=row["fine_tuned_model"],
        trained_tokens=row["trained_tokens"],
        error=FineTuningError.from_json(row["error"]) if row["error"] else None,
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        estimated_finish=row["estimated_finish"],
        metadata=row["metadata"],
    )


def event_from_row(row: Mapping[Any, Any]) -> FineTuningEvent:
    return FineTuningEvent(
        id=row["id"],
        job_id=row["job_id"],
        created_at=row["created_at"],
        message=row["message"],
        level=EventLevel(row["level"]),
        type=EventType(row["type"]),
        data=row["data"],
    )


def checkpoint_from_row(row: Mapping[Any, Any]) -> FineTuningCheckpoint:
    return FineTuningCheckpoint(
        id=row["id"],
        job_id=row["job_id"],
        created_at=row["created_at"],
        step=row["step"],
        metrics=dict(row["metrics"]),
        path=row["path"],
        sha256=row["sha256"],
        fine_tuned_model_checkpoint=row["fine_tuned_model_checkpoint"],
    )


def _page(table: sa.Table, after: str | None, limit: int) -> sa.Select[Any]:
    statement = sa.select(table).order_by(table.c.id.desc()).limit(limit)
    if after is not None:
        statement = statement.where(table.c.id < after)
    return statement


class SqlFineTuningStore:
    """A :class:`~berth.training.store.FineTuningStore` sharing the job store's database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, job: FineTuningJob) -> None:
        row = job_row(job)
        await self._db.transaction(lambda conn: conn.execute(jobs.insert().values(row)))

    def _get(self, conn: sa.Connection, job_id: str, *, lock: bool = False) -> FineTuningJob:
        statement = sa.select(jobs).where(jobs.c.id == job_id)
        if lock:
            statement = self._db.dialect.lock(statement)
        row = conn.execute(statement).first()
        if row is None:
            raise errors.UnknownFineTuningJob(f"No fine-tuning job has the id '{job_id}'.")
        return job_from_row(row._mapping)

    async def get(self, job_id: str) -> FineTuningJob:
        return await self._db.transaction(lambda conn: self._get(conn, job_id), safe=True)

    async def list_jobs(
        self, *, owner: str | None = None, after: str | None = None, limit: int = 20
    ) -> list[FineTuningJob]:
        statement = _page(jobs, after, limit)
        if owner is not None:
            statement = statement.where(jobs.c.owner == owner)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [job_from_row(row._mapping) for row in rows]

    async def update(
        self,
        job_id: str,
        change: Change,
        *,
        only_from: frozenset[FineTuningStatus] | None = None,
    ) -> FineTuningJob:
        def update(conn: sa.Connection) -> FineTuningJob:
            job = self._get(conn, job_id, lock=True)
            if only_from is not None:
                refuse_transition(job, only_from)
            changed = apply_change(job, change)
            row = job_row(changed)
            conn.execute(jobs.update().where(jobs.c.id == job_id).values(row))
            return changed

        return await self._db.transaction(update)

    async def add_event(self, event: FineTuningEvent) -> None:
        row = {
            "id": event.id,
            "job_id": event.job_id,
            "created_at": event.created_at,
            "level": event.level.value,
            "type": event.type.value,
            "message": event.message,
            "data": event.data,
        }
        await self._db.transaction(lambda conn: conn.execute(events.insert().values(row)))

    async def list_events(
        self, job_id: str, *, after: str | None = None, limit: int = 20
    ) -> list[FineTuningEvent]:
        statement = _page(events, after, limit).where(events.c.job_id == job_id)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [event_from_row(row._mapping) for row in rows]

    async def add_checkpoint(self, checkpoint: FineTuningCheckpoint) -> None:
        row = dataclasses.asdict(checkpoint)

        def add(conn: sa.Connection) -> None:
            conn.execute(
                checkpoints.delete().where(
                    (checkpoints.c.job_id == checkpoint.job_id)
                    & (checkpoints.c.step == checkpoint.step)
                )
            )
            conn.execute(checkpoints.insert().values(row))

        await self._db.transaction(add, safe=True)

    async def list_checkpoints(
        self, job_id: str, *, after: str | None = None, limit: int = 10
    ) -> list[FineTuningCheckpoint]:
        statement = _page(checkpoints, after, limit).where(checkpoints.c.job_id == job_id)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [checkpoint_from_row(row._mapping) for row in rows]
