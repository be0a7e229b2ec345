"""Schema migrations (Alembic): check the database's revision, upgrade it under a lock.

``ensure`` runs whenever a SQL store opens; ``berth db upgrade`` calls ``upgrade`` directly.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from filelock import FileLock

from berth import errors

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_KEY = 0x6265727468  # "berth"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    """The newest revision this Berth knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: sa.Engine) -> str | None:
    """The database's revision, or None for an empty database."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _check_known(revision: str | None, url: str) -> None:
    if revision is None:
        return
    try:
        ScriptDirectory.from_config(_config()).get_revision(revision)
    except CommandError as exc:
        raise errors.SchemaTooNew(
            f"The database at {url} has schema revision '{revision}', which this Berth "
            f"does not know: a newer Berth migrated it. Upgrade Berth to use this database."
        ) from exc


@contextlib.contextmanager
def _migration_lock(engine: sa.Engine, dialect: str) -> Iterator[sa.Connection]:
    """A connection held under a lock that only one migrating process can have at once."""
    if dialect == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.select(sa.func.pg_advisory_lock(_ADVISORY_LOCK_KEY)))
            conn.commit()
            try:
                yield conn
            finally:
                conn.execute(sa.select(sa.func.pg_advisory_unlock(_ADVISORY_LOCK_KEY)))
                conn.commit()
        return
    database = engine.url.database
    lock_path = f"{database}.migrate.lock" if database else None
    with contextlib.ExitStack() as stack:
        if lock_path:
            stack.enter_context(FileLock(lock_path))
        yield stack.enter_context(engine.connect())


def upgrade(engine: sa.Engine, url: str, dialect: str) -> tuple[str | None, str]:
    """Migrate the database to this Berth's newest revision; return (before, after)."""
    with _migration_lock(engine, dialect) as conn:
        before = MigrationContext.configure(conn).get_current_revision()
        conn.rollback()
        _check_known(before, url)
        target = head()
        if before != target:
            log.info(
                "migrating the job store",
                extra={"action": "db.upgrade", "from": before, "to": target},
            )
            config = _config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
            conn.commit()
        return before, target


def ensure(engine: sa.Engine, url: str, dialect: str, *, allow_upgrade: bool) -> None:
    """Make sure the schema is current: upgrade it, or refuse a database from a newer Berth."""
    revision = current(engine)
    _check_known(revision, url)
    if revision == head():
        return
    if not allow_upgrade:
        raise errors.StoreError(
            f"The database at {url} is at schema revision '{revision}' but this Berth needs "
            f"'{head()}'. Run `berth db upgrade`."
        )
    upgrade(engine, url, dialect)
