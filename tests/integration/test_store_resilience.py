"""A busy SQLite file and a dropped PostgreSQL connection are waited out, never shown."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from berth import errors
from berth.db import database
from berth.db.jobs import SqlJobStore
from berth.db.sqlite import SqliteDialect
from berth.db.stores import store_from_url
from berth.jobs.job import JobQuery, NewJob
from tests.conftest import ADMIN_URL

pytestmark = pytest.mark.integration


def hold_write_lock(path: Path, seconds: float, held: threading.Event) -> None:
    """Another process's writer: holds SQLite's write lock for ``seconds``."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    held.set()
    time.sleep(seconds)
    conn.execute("COMMIT")
    conn.close()


class ImpatientSqlite(SqliteDialect):
    """SQLite whose own busy wait gives up after 50 ms, so Berth's retries must do the rest."""

    def create_engine(self) -> sa.Engine:
        engine = super().create_engine()
        sa.event.listen(
            engine,
            "connect",
            lambda conn, _record: conn.execute("PRAGMA busy_timeout = 50"),
        )
        return engine


async def test_a_writer_that_outlasts_sqlites_busy_wait_is_waited_out(tmp_path: Path) -> None:
    path = tmp_path / "berth.db"
    async with store_from_url(f"sqlite:///{path}"):
        pass  # create and migrate the file
    store = SqlJobStore(ImpatientSqlite(path), f"sqlite:///{path}")
    async with store:
        held = threading.Event()
        holder = threading.Thread(target=hold_write_lock, args=(path, 0.6, held))
        holder.start()
        held.wait(5)
        started = time.monotonic()
        submitted = await store.submit(NewJob(kind="echo", input={}))
        waited = time.monotonic() - started
        holder.join()
    assert submitted.created
    assert waited >= 0.4  # it really waited for the other writer, past SQLite's 50 ms


async def test_busy_retries_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "BUSY_RETRIES", 2)
    monkeypatch.setattr(database, "BUSY_BACKOFF", (0.01, 0.02))
    path = tmp_path / "berth.db"
    async with store_from_url(f"sqlite:///{path}"):
        pass
    store = SqlJobStore(ImpatientSqlite(path), f"sqlite:///{path}")
    async with store:
        held = threading.Event()
        holder = threading.Thread(target=hold_write_lock, args=(path, 2.0, held))
        holder.start()
        held.wait(5)
        with pytest.raises(errors.StoreError, match="database is locked"):
            await store.submit(NewJob(kind="echo", input={}))
        holder.join()


def terminate_backends(url: str) -> int:
    name = sa.make_url(url).database
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


@pytest.mark.postgres
async def test_reads_and_idempotent_writes_survive_a_dropped_postgres_connection(
    postgres_url: str,
) -> None:
    async with store_from_url(postgres_url) as store:
        first = await store.submit(NewJob(kind="echo", input={}))
        await asyncio.gather(*(store.get(first.job.id) for _ in range(4)))  # fill the pool
        assert terminate_backends(postgres_url) >= 1
        assert (await store.get(first.job.id)).id == first.job.id
        assert terminate_backends(postgres_url) >= 1
        again = await store.submit(NewJob(kind="echo", input={}, idempotency_key="nightly"))
        assert terminate_backends(postgres_url) >= 1
        cancelled = await store.cancel(again.job.id)
        assert cancelled.status.value == "cancelled"
        assert terminate_backends(postgres_url) >= 1
        assert len(await store.list_jobs(JobQuery(frozenset(), None, None, None, 10))) == 2
