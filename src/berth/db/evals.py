"""The eval store on the job store's SQL database (``berth_evals``, ``berth_eval_runs``,
``berth_eval_items``); a run's items go with it, and an eval's runs with the eval."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth.db.database import Database
from berth.db.schema import eval_items, eval_runs, evals
from berth.evals.memory import unknown_eval, unknown_item, unknown_run
from berth.evals.records import (
    CriterionResult,
    Eval,
    EvalRun,
    OutputItem,
    ResultCounts,
    RunStatus,
)


def eval_from_row(row: Mapping[Any, Any]) -> Eval:
    return Eval(
        id=row["id"],
        name=row["name"],
        data_source_config=row["data_source_config"],
        testing_criteria=row["testing_criteria"],
        created_at=row["created_at"],
        metadata=row["metadata"] or {},
        owner=row["owner"],
    )


def run_from_row(row: Mapping[Any, Any]) -> EvalRun:
    counts = row["result_counts"] or {}
    return EvalRun(
        id=row["id"],
        eval_id=row["eval_id"],
        name=row["name"],
        data_source=row["data_source"],
        status=RunStatus(row["status"]),
        created_at=row["created_at"],
        model=row["model"],
        job_id=row["job_id"],
        result_counts=ResultCounts(**counts),
        per_testing_criteria_results=tuple(CriterionResult(**c) for c in row["per_criteria"] or []),
        error=row["error"],
        metadata=row["metadata"] or {},
        owner=row["owner"],
        per_model_usage=tuple(row["per_model_usage"] or ()),
    )


def run_row(run: EvalRun) -> dict[str, Any]:
    """The columns of a run that change as it runs."""
    return {
        "status": run.status.value,
        "job_id": run.job_id,
        "result_counts": run.result_counts.as_json(),
        "per_criteria": [c.as_json() for c in run.per_testing_criteria_results],
        "per_model_usage": list(run.per_model_usage),
        "error": run.error,
    }


def item_from_row(row: Mapping[Any, Any]) -> OutputItem:
    return OutputItem(
        id=row["id"],
        run_id=row["run_id"],
        eval_id=row["eval_id"],
        index=row["item_index"],
        item=row["item"],
        sample=row["sample"],
        results=row["results"],
        passed=row["status"] == "pass",
        created_at=row["created_at"],
        errored=row["status"] == "error",
    )


def paged(
    statement: sa.Select[Any], table: sa.Table, after: str | None, limit: int, newest: bool
) -> sa.Select[Any]:
    order = table.c.id.desc() if newest else table.c.id.asc()
    statement = statement.order_by(order).limit(limit)
    if after is not None:
        statement = statement.where(table.c.id < after if newest else table.c.id > after)
    return statement


class SqlEvalStore:
    """An :class:`~berth.evals.store.EvalStore` sharing the job store's :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database
        self._insert_item = (
            database.dialect.insert(eval_items)
            .on_conflict_do_nothing(index_elements=["run_id", "item_index"])
            .returning(eval_items.c.id)
        )

    async def _rows(self, statement: sa.Select[Any]) -> list[Mapping[Any, Any]]:
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [row._mapping for row in rows]

    # -- evals -----------------------------------------------------------------------------

    async def add_eval(self, record: Eval) -> None:
        row = {
            "id": record.id,
            "name": record.name,
            "data_source_config": record.data_source_config,
            "testing_criteria": record.testing_criteria,
            "metadata": record.metadata,
            "created_at": record.created_at,
            "owner": record.owner,
        }
        await self._db.transaction(lambda conn: conn.execute(evals.insert().values(row)))

    def _eval(self, conn: sa.Connection, eval_id: str) -> Eval:
        row = conn.execute(sa.select(evals).where(evals.c.id == eval_id)).first()
        if row is None:
            raise unknown_eval(eval_id)
        return eval_from_row(row._mapping)

    async def get_eval(self, eval_id: str) -> Eval:
        return await self._db.transaction(lambda conn: self._eval(conn, eval_id), safe=True)

    async def list_evals(
        self,
        *,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[Eval]:
        statement = sa.select(evals)
        if owner is not None:
            statement = statement.where(evals.c.owner == owner)
        rows = await self._rows(paged(statement, evals, after, limit, newest_first))
        return [eval_from_row(row) for row in rows]

    async def update_eval(self, record: Eval) -> None:
        def update(conn: sa.Connection) -> None:
            self._eval(conn, record.id)
            conn.execute(
                evals.update()
                .where(evals.c.id == record.id)
                .values(name=record.name, metadata=record.metadata)
            )

        await self._db.transaction(update, safe=True)

    async def delete_eval(self, eval_id: str) -> Eval:
        def delete(conn: sa.Connection) -> Eval:
            found = self._eval(conn, eval_id)
            conn.execute(evals.delete().where(evals.c.id == eval_id))
            return found

        return await self._db.transaction(delete, safe=True)

    # -- runs ------------------------------------------------------------------------------

    async def add_run(self, run: EvalRun) -> None:
        row = {
            "id": run.id,
            "eval_id": run.eval_id,
            "name": run.name,
            "data_source": run.data_source,
            "created_at": run.created_at,
            "model": run.model,
            "metadata": run.metadata,
            "owner": run.owner,
            **run_row(run),
        }

        def add(conn: sa.Connection) -> None:
            self._eval(conn, run.eval_id)
            conn.execute(eval_runs.insert().values(row))

        await self._db.transaction(add)

    def _run(self, conn: sa.Connection, run_id: str) -> EvalRun:
        row = conn.execute(sa.select(eval_runs).where(eval_runs.c.id == run_id)).first()
        if row is None:
            raise unknown_run(run_id)
        return run_from_row(row._mapping)

    async def get_run(self, run_id: str) -> EvalRun:
        return await self._db.transaction(lambda conn: self._run(conn, run_id), safe=True)

    async def list_runs(
        self,
        eval_id: str,
        *,
        status: RunStatus | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[EvalRun]:
        statement = sa.select(eval_runs).where(eval_runs.c.eval_id == eval_id)
        if status is not None:
            statement = statement.where(eval_runs.c.status == status.value)
        rows = await self._rows(paged(statement, eval_runs, after, limit, newest_first))
        return [run_from_row(row) for row in rows]

    async def update_run(self, run: EvalRun) -> None:
        def update(conn: sa.Connection) -> None:
            self._run(conn, run.id)
            conn.execute(eval_runs.update().where(eval_runs.c.id == run.id).values(run_row(run)))

        await self._db.transaction(update, safe=True)

    async def delete_run(self, run_id: str) -> EvalRun:
        def delete(conn: sa.Connection) -> EvalRun:
            found = self._run(conn, run_id)
            conn.execute(eval_runs.delete().where(eval_runs.c.id == run_id))
            return found

        return await self._db.transaction(delete, safe=True)

    # -- output items ----------------------------------------------------------------------

    async def add_item(self, item: OutputItem) -> bool:
        row = {
            "id": item.id,
            "run_id": item.run_id,
            "eval_id": item.eval_id,
            "item_index": item.index,
            "item": item.item,
            "sample": item.sample,
            "results": item.results,
            "status": item.status,
            "created_at": item.created_at,
        }

        def add(conn: sa.Connection) -> bool:
            self._run(conn, item.run_id)
            return conn.execute(self._insert_item.values(row)).first() is not None

        return await self._db.transaction(add, safe=True)

    async def get_item(self, item_id: str) -> OutputItem:
        rows = await self._rows(sa.select(eval_items).where(eval_items.c.id == item_id))
        if not rows:
            raise unknown_item(item_id)
        return item_from_row(rows[0])

    async def list_items(
        self,
        run_id: str,
        *,
        status: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[OutputItem]:
        statement = sa.select(eval_items).where(eval_items.c.run_id == run_id)
        if status is not None:
            statement = statement.where(eval_items.c.status == status)
        rows = await self._rows(paged(statement, eval_items, after, limit, newest_first))
        return [item_from_row(row) for row in rows]

    async def all_items(self, run_id: str) -> list[OutputItem]:
        statement = (
            sa.select(eval_items)
            .where(eval_items.c.run_id == run_id)
            .order_by(eval_items.c.item_index)
        )
        return [item_from_row(row) for row in await self._rows(statement)]
