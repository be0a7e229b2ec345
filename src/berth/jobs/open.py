"""Open the job store a URL names: ``sqlite:///PATH``, ``postgresql://...`` or ``memory://``."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from berth import errors
from berth.clock import Clock
from berth.jobs.memory import MemoryJobStore
from berth.jobs.postgres import postgres_store
from berth.jobs.sql import SqlJobStore
from berth.jobs.sqlite import sqlite_store
from berth.jobs.store import JobStore

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
