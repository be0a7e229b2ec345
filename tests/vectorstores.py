"""Vector-store tests on PostgreSQL run only where the server has pgvector (always in CI)."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import ADMIN_URL, REQUIRE_POSTGRES


def pgvector_missing() -> str | None:
    """Why the PostgreSQL server cannot hold vectors, or None if it can."""
    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        found = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    if found:
        return None
    return (
        f"the PostgreSQL server at {ADMIN_URL} has no pgvector extension "
        "(run `scripts/apt test` as root to install it)"
    )


def require_pgvector(store_kind: str) -> None:
    """Skip (fail in CI) a PostgreSQL test where the server has no pgvector."""
    if store_kind != "postgres":
        return
    reason = pgvector_missing()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(reason + " (BERTH_TEST_REQUIRE_POSTGRES=1: these tests must run)")
    pytest.skip(reason)
