"""The SQLite adapter: Berth's zero-setup default, one file in WAL mode.

Writers take the lock at BEGIN (``BEGIN IMMEDIATE``) so that two processes never deadlock on
a read-to-write upgrade; one connection thread per process serialises this process's writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert

from berth.clock import Clock
from berth.db import sqlitevec
from berth.db.jobs import SqlJobStore
from berth.db.wakeup import SocketWakeup

BUSY_TIMEOUT_MS = 30_000
SQLITE_BUSY, SQLITE_LOCKED = 5, 6


class SqliteDialect:
    """SQLite specifics for :class:`SqlJobStore`."""

    name = "sqlite"
    group_commit = True
    threads = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._wakeup = SocketWakeup(path.with_name(path.name + ".wake"))

    def create_engine(self) -> sa.Engine:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        sqlitevec.register()  # vector stores' index: before the first connection opens
        # The busy wait holds from the connection's first statement (its pragmas) on.
        engine = sa.create_engine(
            f"sqlite:///{self.path}", connect_args={"timeout": BUSY_TIMEOUT_MS / 1000}
        )
        sa.event.listen(engine, "connect", _configure_connection)
        sa.event.listen(engine, "begin", _begin_immediate)
        return engine

    def is_busy(self, error: sa.exc.DBAPIError) -> bool:
        code = getattr(error.orig, "sqlite_errorcode", None)
        if code is not None:
            return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
        return "locked" in str(error.orig) or "busy" in str(error.orig)

    def insert(self, table: sa.Table) -> Any:
        return insert(table)

    def lock(self, select: sa.Select[Any]) -> sa.Select[Any]:
        return select  # BEGIN IMMEDIATE already holds the database's write lock

    def serialize(self, conn: sa.Connection, name: str) -> None:
        pass  # BEGIN IMMEDIATE: one writing transaction at a time already

    def notify(self, conn: sa.Connection) -> None:
        pass  # the socket wake-up is sent after commit, when the work is visible

    def after_commit(self) -> None:
        self._wakeup.notify()

    async def wait_for_work(self, timeout: float) -> bool:
        return await self._wakeup.wait(timeout)

    async def close(self) -> None:
        self._wakeup.close()


def _configure_connection(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event issues BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    # WAL is kept in the file: switching needs the database to itself, so only a new file does.
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()
    sqlitevec.load(dbapi_connection)


def _begin_immediate(conn: sa.Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def sqlite_store(
    path: Path, url: str, *, clock: Clock | None = None, upgrade: bool = True
) -> SqlJobStore:
    """A job store in the SQLite file at ``path``."""
    return SqlJobStore(SqliteDialect(path), url, clock=clock, upgrade=upgrade)
