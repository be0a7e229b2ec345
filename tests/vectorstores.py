"""Vector-store tests on PostgreSQL run only where the server has pgvector.

Debian bookworm (this project's CI image) has no pgvector package; ``scripts/apt test`` builds
it from its source release where GitHub can be reached. Where it cannot, these tests skip,
naming the reason, even in CI: the SQLite (sqlite-vec) tests and the PostgreSQL tests of the
vector stores' records still run."""

from __future__ import annotations

import psycopg
import pytest

from tests.conftest import ADMIN_URL


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
    """Skip a PostgreSQL test where the server has no pgvector (see the module's note)."""
    if store_kind != "postgres":
        return
    reason = pgvector_missing()
    if reason is not None:
        pytest.skip(reason)
