"""Fixtures shared by every test layer: job stores on memory, SQLite and real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from berth.clock import ManualClock
from berth.db import migrate
from berth.db.stores import store_from_url
from berth.jobs.store import JobStore

ADMIN_URL = os.environ.get(
    "BERTH_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("BERTH_TEST_REQUIRE_POSTGRES") == "1"
STORE_KINDS = ["memory", "sqlite", "postgres"]


def _admin() -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)


class PostgresDatabases:
    """Creates throw-away databases from a migrated template, procrastinate-style."""

    def __init__(self) -> None:
        self.template = f"berth_tpl_{uuid.uuid4().hex[:10]}"
        self.made: list[str] = []

    def url(self, name: str) -> str:
        return str(sa.make_url(ADMIN_URL).set(database=name).render_as_string(False))

    def build_template(self) -> None:
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{self.template}"')
        engine = sa.create_engine(
            sa.make_url(self.url(self.template)).set(drivername="postgresql+psycopg")
        )
        try:
            migrate.upgrade(engine, self.template, "postgresql")
        finally:
            engine.dispose()

    def create(self) -> str:
        name = f"berth_test_{uuid.uuid4().hex[:12]}"
        with _admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        self.made.append(name)
        return self.url(name)

    def drop_all(self) -> None:
        with _admin() as conn:
            for name in [*self.made, self.template]:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    try:
        _admin().close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL is not reachable at {ADMIN_URL}: {str(exc).strip()}"
        if REQUIRE_POSTGRES:
            pytest.fail(reason + " (BERTH_TEST_REQUIRE_POSTGRES=1: these tests must run)")
        pytest.skip(reason)
    databases = PostgresDatabases()
    databases.build_template()
    yield databases
    databases.drop_all()


@pytest.fixture
def postgres_url(postgres_databases: PostgresDatabases) -> str:
    """The URL of a fresh, migrated PostgreSQL database, dropped after the session."""
    return postgres_databases.create()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store_url_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    def make(kind: str) -> str:
        if kind == "memory":
            return "memory://"
        if kind == "sqlite":
            return f"sqlite:///{tmp_path / 'berth.db'}"
        url: str = request.getfixturevalue("postgres_url")
        return url

    return make


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
async def store(
    store_kind: str, store_url_factory: Callable[[str], str], clock: ManualClock
) -> AsyncIterator[JobStore]:
    """An open job store of each kind, on a manual clock."""
    async with store_from_url(store_url_factory(store_kind), clock=clock) as opened:
        yield opened


@pytest.fixture
async def live_store(
    store_kind: str, store_url_factory: Callable[[str], str]
) -> AsyncIterator[JobStore]:
    """An open job store of each kind, on the system clock (for dispatcher tests)."""
    async with store_from_url(store_url_factory(store_kind)) as opened:
        yield opened
