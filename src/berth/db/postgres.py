"""The PostgreSQL adapter: several hosts share one database.

Claims lock rows with ``FOR UPDATE SKIP LOCKED`` so that workers never wait on each other, and
every change that makes work available sends ``NOTIFY berth_jobs``, which wakes idle workers
on every host through a ``LISTEN`` connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from berth.clock import Clock
from berth.db.jobs import SqlJobStore

log = logging.getLogger(__name__)

CHANNEL = "berth_jobs"
RETRYABLE_STATES = frozenset({"40001", "40P01"})
"""serialization_failure, deadlock_detected: the server rolled the transaction back."""


class PostgresDialect:
    """PostgreSQL specifics for :class:`SqlJobStore`."""

    name = "postgresql"
    group_commit = False
    threads = 4

    def __init__(self, url: sa.URL) -> None:
        self.url = url.set(drivername="postgresql+psycopg")
        self._event: asyncio.Event | None = None
        self._listener: asyncio.Task[None] | None = None

    def create_engine(self) -> sa.Engine:
        return sa.create_engine(
            self.url,
            pool_size=self.threads,
            max_overflow=2,
            connect_args={"connect_timeout": 10, "application_name": "berth"},
        )

    def is_busy(self, error: sa.exc.DBAPIError) -> bool:
        return getattr(error.orig, "sqlstate", None) in RETRYABLE_STATES

    def insert(self, table: sa.Table) -> Any:
        return insert(table)

    def lock(self, select: sa.Select[Any]) -> sa.Select[Any]:
        return select.with_for_update(skip_locked=True)

    def serialize(self, conn: sa.Connection, name: str) -> None:
        key = sa.func.hashtextextended(f"berth:{name}", 0)
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))

    def notify(self, conn: sa.Connection) -> None:
        conn.execute(sa.select(sa.func.pg_notify(CHANNEL, "")))

    def after_commit(self) -> None:
        pass  # NOTIFY is delivered when the transaction commits

    async def wait_for_work(self, timeout: float) -> bool:
        event = self._listen()
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        finally:
            event.clear()
        return True

    def _listen(self) -> asyncio.Event:
        if self._event is None or self._listener is None or self._listener.done():
            self._event = asyncio.Event()
            self._listener = asyncio.create_task(self._listen_forever(self._event))
        return self._event

    async def _listen_forever(self, event: asyncio.Event) -> None:
        conninfo = self.url.set(drivername="postgresql").render_as_string(hide_password=False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    event.set()  # work may have arrived while no one listened
                    async for _ in conn.notifies():
                        event.set()
            except psycopg.OperationalError as exc:
                log.warning(
                    "lost the LISTEN connection; retrying",
                    extra={"action": "store.listen_lost", "error": str(exc)},
                )
                event.set()
                await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._listener = self._event = None


def postgres_store(
    url: sa.URL, display_url: str, *, clock: Clock | None = None, upgrade: bool = True
) -> SqlJobStore:
    """A job store in the PostgreSQL database at ``url``."""
    return SqlJobStore(PostgresDialect(url), display_url, clock=clock, upgrade=upgrade)
