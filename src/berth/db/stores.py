"""The stores a database URL names: ``sqlite:///PATH``, ``postgresql://...`` or ``memory://``.

:func:`open_stores` gives every store Berth keeps in one database (jobs, API keys, files, evals,
vector stores and their index, fine-tuning), opened and closed together; the in-memory fakes go
together the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import sqlalchemy as sa

from berth import errors
from berth.agents.memory import MemoryStepStore
from berth.agents.steps import StepStore
from berth.clock import Clock
from berth.db.agents import SqlStepStore
from berth.db.evals import SqlEvalStore
from berth.db.files import SqlFileStore
from berth.db.jobs import SqlJobStore
from berth.db.keys import SqlKeyStore
from berth.db.pgvector import PgVectorTables
from berth.db.postgres import postgres_store
from berth.db.sqlite import sqlite_store
from berth.db.sqlitevec import SqliteVecTables
from berth.db.training import SqlFineTuningStore
from berth.db.vecindex import SqlVectorIndex
from berth.db.vectors import SqlVectorRecords
from berth.evals.memory import MemoryEvalStore
from berth.evals.store import EvalStore
from berth.files.memory import MemoryFileStore
from berth.files.store import FileStore
from berth.jobs.memory import MemoryJobStore
from berth.jobs.store import JobStore
from berth.keys.memory import MemoryKeyStore
from berth.keys.store import KeyStore
from berth.training.memory import MemoryFineTuningStore
from berth.training.store import FineTuningStore
from berth.vectors.index import VectorIndex
from berth.vectors.memory import MemoryVectorIndex, MemoryVectorRecords
from berth.vectors.store import VectorRecords

POSTGRES_SCHEMES = {"postgresql", "postgres", "postgresql+psycopg"}


def store_from_url(url: str, *, clock: Clock | None = None, upgrade: bool = True) -> JobStore:
    """The job store at ``url``; not yet open (use ``async with``).

    ``upgrade`` migrates an older schema on open; without it such a database is refused.
    """
    if url.strip() == "memory://":
        return MemoryJobStore(clock=clock)
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise errors.DatabaseURLError(
            f"Cannot read the database URL '{url}'. "
            "Use sqlite:///PATH/berth.db or postgresql://USER@HOST:PORT/DATABASE."
        ) from exc
    display = parsed.render_as_string(hide_password=True)
    scheme = parsed.drivername
    if scheme in ("sqlite", "sqlite+pysqlite"):
        if not parsed.database or parsed.database == ":memory:":
            raise errors.DatabaseURLError(
                f"The SQLite URL '{display}' names no file. Use sqlite:///PATH/berth.db, "
                "or memory:// for a store that forgets everything."
            )
        path = Path(parsed.database).expanduser().resolve()
        return sqlite_store(path, f"sqlite:///{path}", clock=clock, upgrade=upgrade)
    if scheme in POSTGRES_SCHEMES:
        if not parsed.database:
            raise errors.DatabaseURLError(
                f"The PostgreSQL URL '{display}' names no database: add /DATABASE at its end."
            )
        return postgres_store(parsed, display, clock=clock, upgrade=upgrade)
    raise errors.DatabaseURLError(
        f"The database URL '{display}' has the scheme '{scheme}', which Berth does not "
        "support. Use sqlite:///PATH/berth.db or postgresql://USER@HOST:PORT/DATABASE."
    )


def upgrade_database(url: str) -> tuple[str | None, str]:
    """Migrate the database at ``url`` to this Berth's schema; return (before, after)."""
    store = store_from_url(url, upgrade=False)
    if not isinstance(store, SqlJobStore):
        raise errors.ConfigError("memory:// keeps nothing on disk: it has no schema to upgrade.")
    return store.upgrade_schema()


@dataclass(frozen=True)
class Stores:
    """Every store in one database: ``async with open_stores(url) as stores:``."""

    jobs: JobStore
    keys: KeyStore
    files: FileStore
    evals: EvalStore
    vector_records: VectorRecords
    vector_index: VectorIndex
    fine_tuning: FineTuningStore
    agent_steps: StepStore

    async def __aenter__(self) -> Self:
        await self.jobs.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.jobs.__aexit__(exc_type, exc, tb)


def open_stores(url: str, *, clock: Clock | None = None, upgrade: bool = True) -> Stores:
    """The stores in the database at ``url`` (not yet open: use ``async with``)."""
    return stores_for(store_from_url(url, clock=clock, upgrade=upgrade))


def stores_for(jobs: JobStore) -> Stores:
    """The stores sharing ``jobs``' database (the fakes beside the fake); usable while
    ``jobs`` is open."""
    if isinstance(jobs, SqlJobStore):
        db = jobs.database
        tables = PgVectorTables() if db.dialect.name == "postgresql" else SqliteVecTables()
        return Stores(
            jobs,
            SqlKeyStore(db),
            SqlFileStore(db),
            SqlEvalStore(db),
            SqlVectorRecords(db),
            SqlVectorIndex(db, tables),
            SqlFineTuningStore(db),
            SqlStepStore(db),
        )
    if isinstance(jobs, MemoryJobStore):
        return Stores(
            jobs,
            MemoryKeyStore(),
            MemoryFileStore(),
            MemoryEvalStore(),
            MemoryVectorRecords(),
            MemoryVectorIndex(),
            MemoryFineTuningStore(),
            MemoryStepStore(),
        )
    raise errors.ConfigError(
        f"Berth has no key or file store for the job store at {jobs.url}. "
        "Use a sqlite:///, postgresql:// or memory:// database URL."
    )


def key_store_for(jobs: JobStore) -> KeyStore:
    """The key store sharing ``jobs``' database."""
    return stores_for(jobs).keys
