"""Schema migrations on SQLite and PostgreSQL: applied on open, checked, refused when newer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from berth import errors
from berth.db import migrate
from berth.db.schema import metadata
from berth.db.stores import store_from_url, upgrade_database

pytestmark = pytest.mark.integration
LATER_TABLES = (  # migrations 0006 and 0007, dropped before the tables they refer to
    "berth_agent_steps",
    "berth_fine_tuning_checkpoints",
    "berth_fine_tuning_events",
    "berth_fine_tuning_jobs",
)


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, store_url_factory: Callable[[str], str]) -> str:
    return store_url_factory(request.param)


def engine_for(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.drivername.startswith("postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return sa.create_engine(parsed)


async def test_opening_migrates_to_head_and_matches_the_tables(sql_url: str) -> None:
    async with store_from_url(sql_url):
        pass
    engine = engine_for(sql_url)
    try:
        assert migrate.current(engine) == migrate.head()
        with engine.connect() as conn:
            differences = compare_metadata(MigrationContext.configure(conn), metadata)
        assert differences == []
    finally:
        engine.dispose()


async def test_a_database_from_a_newer_berth_is_refused(sql_url: str) -> None:
    async with store_from_url(sql_url):
        pass
    engine = engine_for(sql_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999_future'"))
    engine.dispose()
    with pytest.raises(errors.SchemaTooNew, match=r"'9999_future'.*Upgrade Berth"):
        async with store_from_url(sql_url):
            pass
    with pytest.raises(errors.SchemaTooNew):
        upgrade_database(sql_url)


async def test_without_upgrade_an_old_schema_is_refused_with_the_fix(sql_url: str) -> None:
    engine = engine_for(sql_url)
    with engine.begin() as conn:
        for table in ("berth_eval_items", "berth_eval_runs", "berth_evals"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for table in ("chunks", "file_batches", "store_files", "stores"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS berth_vector_{table}"))
        for table in LATER_TABLES:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text("DROP TABLE IF EXISTS berth_files"))
        conn.execute(sa.text("DROP TABLE IF EXISTS berth_workers"))
        conn.execute(sa.text("DROP TABLE IF EXISTS berth_api_keys"))
        conn.execute(sa.text("DROP TABLE IF EXISTS berth_job_events"))
        conn.execute(sa.text("DROP TABLE IF EXISTS berth_jobs"))
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    with pytest.raises(errors.StoreError, match="berth db upgrade"):
        async with store_from_url(sql_url, upgrade=False):
            pass
    assert upgrade_database(sql_url) == (None, migrate.head())
    assert upgrade_database(sql_url) == (migrate.head(), migrate.head())


async def test_a_database_of_the_first_release_upgrades_and_keeps_its_jobs(sql_url: str) -> None:
    """A store made by a Berth that knew only revision 0001 opens with this one: the newer
    tables are added, the jobs stay."""
    from alembic import command

    engine = engine_for(sql_url)
    with engine.begin() as conn:
        for table in ("berth_eval_items", "berth_eval_runs", "berth_evals"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for table in ("chunks", "file_batches", "store_files", "stores"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS berth_vector_{table}"))
        for table in (*LATER_TABLES, "berth_files", "berth_workers", "berth_api_keys"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        for table in ("berth_job_events",):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        conn.execute(sa.text("DROP TABLE IF EXISTS berth_jobs"))
        conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    with engine.connect() as conn:
        config = migrate._config()
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.commit()
        conn.execute(
            sa.text(
                "INSERT INTO berth_jobs (id, kind, status, created_at, updated_at, run_after, "
                "artifacts, last_event) VALUES ('job_old', 'echo', 'queued', 1, 1, 1, '[]', 1)"
            )
        )
        conn.commit()
    with pytest.raises(errors.StoreError, match="berth db upgrade"):
        async with store_from_url(sql_url, upgrade=False):
            pass
    async with store_from_url(sql_url) as store:
        assert (await store.get("job_old")).kind == "echo"
    try:
        assert migrate.current(engine) == migrate.head() != "0001"
        assert {"berth_files", "berth_vector_chunks"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
