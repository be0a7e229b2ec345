"""Fresh storage for each measurement: a new SQLite file or a new PostgreSQL database.

Every measurement gets a scratch folder (the SQLite file, Berth's home, the workers' logs);
on PostgreSQL it also gets a database created for it and dropped (``WITH (FORCE)``) after.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from psycopg import sql

from .plan import Label


@dataclass(frozen=True, slots=True)
class Storage:
    """Where one measurement keeps its queue."""

    database: str
    """``sqlite`` or ``postgresql``."""
    url: str
    """``sqlite:///PATH`` or ``postgresql://USER@HOST:PORT/NAME``."""
    folder: Path
    """A scratch folder of this measurement's own."""

    @property
    def sqlite_path(self) -> Path:
        return Path(sa.make_url(self.url).database or "")


@contextlib.asynccontextmanager
async def fresh_storage(label: Label, admin_url: str) -> AsyncIterator[Storage]:
    """A new, empty database for ``label``, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"berth-bench-{label.system}-") as folder:
        scratch = Path(folder)
        if label.database == "sqlite":
            yield Storage("sqlite", f"sqlite:///{scratch / 'queue.db'}", scratch)
            return
        name = f"bench_{label.system}_{label.workers}w_{secrets.token_hex(4)}"
        async with _postgres_database(admin_url, name) as url:
            yield Storage("postgresql", url, scratch)


@contextlib.asynccontextmanager
async def _postgres_database(admin_url: str, name: str) -> AsyncIterator[str]:
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        await admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield sa.make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            await admin.execute(drop.format(sql.Identifier(name)))


async def server_version(admin_url: str) -> str:
    """The PostgreSQL server's version."""
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as conn:
        row = await (await conn.execute("SHOW server_version")).fetchone()
    return str(row[0]) if row else "unknown"


class Reader:
    """A read-only side connection for counting finished jobs while the workers run.

    On SQLite it reads in autocommit mode, which in WAL mode never takes the write lock, so
    polling it does not get in the workers' way.
    """

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._sqlite: sqlite3.Connection | None = None
        self._postgres: psycopg.AsyncConnection[Any] | None = None

    async def __aenter__(self) -> Reader:
        if self._storage.database == "sqlite":
            self._sqlite = sqlite3.connect(self._storage.sqlite_path, isolation_level=None)
        else:
            self._postgres = await psycopg.AsyncConnection.connect(
                self._storage.url, autocommit=True
            )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
        if self._postgres is not None:
            await self._postgres.close()

    async def scalar(self, query: str) -> int:
        """The integer that ``query`` returns (0 if it returns nothing)."""
        if self._sqlite is not None:
            with _closing_cursor(self._sqlite) as cursor:
                row = cursor.execute(query).fetchone()
        elif self._postgres is not None:
            row = await (await self._postgres.execute(query.encode())).fetchone()
        else:
            raise RuntimeError("The reader is not open.")
        return int(row[0]) if row and row[0] is not None else 0


@contextlib.contextmanager
def _closing_cursor(conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
    cursor = conn.cursor()
    try:
        yield cursor
    finally:
        cursor.close()
