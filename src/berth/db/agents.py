"""Agent runs' steps on the job store's SQL database (table ``berth_agent_steps``)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from berth.agents.steps import Step
from berth.db.database import Database
from berth.db.schema import agent_steps


class SqlStepStore:
    """A :class:`~berth.agents.steps.StepStore` sharing the job store's :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def append(self, job_id: str, type: str, data: dict[str, Any]) -> Step:
        at = time.time()
        row = {"job_id": job_id, "type": type, "data": data, "at": at}

        def insert(conn: sa.Connection) -> int:
            result = conn.execute(agent_steps.insert().values(row))
            return int(result.inserted_primary_key[0])  # type: ignore[index]

        seq = await self._db.transaction(insert)
        return Step(seq, job_id, type, dict(data), at)

    async def steps(self, job_id: str, after: int = 0) -> list[Step]:
        statement = (
            sa.select(agent_steps)
            .where(agent_steps.c.job_id == job_id, agent_steps.c.seq > after)
            .order_by(agent_steps.c.seq)
        )
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [Step(r.seq, r.job_id, r.type, dict(r.data or {}), r.at) for r in rows]
