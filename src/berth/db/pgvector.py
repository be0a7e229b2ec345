"""Vectors on PostgreSQL with pgvector: one table per width with an HNSW index (cosine).

HNSW with a filter is approximate twice over: the index walks ``hnsw.ef_search`` candidates
(40 by default) and the filter (here, the store) drops those of other stores, so ``LIMIT k``
can come back short. So each query sets ``ef_search`` to at least ``k``, turns on pgvector's
iterative scan where the extension has it (0.8 and later), and if the answer is still short
of what the store holds, ranks exactly instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector as VectorType

from berth import errors
from berth.db.schema import vector_chunks as chunks
from berth.vectors.record import Vector

EF_SEARCH_MIN, EF_SEARCH_MAX = 40, 1000
MAX_DIMENSIONS = 2000
"""The widest vector an HNSW index takes."""
INSTALL = (
    "Install the pgvector extension on the PostgreSQL server (Debian: postgresql-N-pgvector, "
    "or `scripts/apt test`, which builds it where apt has none)."
)


def _table(dimensions: int) -> sa.TableClause:
    return sa.table(
        f"berth_vec_{int(dimensions)}",
        sa.column("chunk_id"),
        sa.column("store_id"),
        sa.column("embedding", VectorType(int(dimensions))),
    )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


class PgVectorTables:
    """:class:`~berth.db.vecindex.VectorTables` on pgvector."""

    name = "pgvector"

    def __init__(self) -> None:
        self._version: tuple[int, ...] | None = None
        """The extension's version, once seen installed (committed)."""

    def _extension(self, conn: sa.Connection) -> tuple[int, ...]:
        if self._version is None:
            installed = conn.execute(
                sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
            ).scalar()
            if installed is None:
                if not conn.execute(
                    sa.text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
                ).scalar():
                    raise errors.VectorIndexUnavailable(
                        f"This PostgreSQL server has no pgvector extension. {INSTALL}"
                    )
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x62657274687663)))
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
                installed = conn.execute(
                    sa.text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
                ).scalar_one()
                return _version(str(installed))  # not kept: this transaction may roll back
            self._version = _version(str(installed))
        return self._version

    def ensure(self, conn: sa.Connection, dimensions: int) -> None:
        self._extension(conn)
        if dimensions > MAX_DIMENSIONS:
            raise errors.InvalidRequest(
                f"pgvector's HNSW index takes vectors of at most {MAX_DIMENSIONS} dimensions, "
                f"not {dimensions}. Use an embedding model with fewer dimensions."
            )
        name = f"berth_vec_{int(dimensions)}"
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(0x62657274687600 + dimensions)))
        conn.exec_driver_sql(
            f"CREATE TABLE IF NOT EXISTS {name} (chunk_id BIGINT PRIMARY KEY REFERENCES "
            "berth_vector_chunks (id) ON DELETE CASCADE, store_id VARCHAR(40) NOT NULL, "
            f"embedding vector({int(dimensions)}) NOT NULL)"
        )
        conn.exec_driver_sql(
            f"CREATE INDEX IF NOT EXISTS {name}_hnsw ON {name} "
            "USING hnsw (embedding vector_cosine_ops)"
        )
        conn.exec_driver_sql(f"CREATE INDEX IF NOT EXISTS {name}_store ON {name} (store_id)")

    def insert(
        self, conn: sa.Connection, dimensions: int, rows: Sequence[tuple[int, str, Vector]]
    ) -> None:
        table = _table(dimensions)
        conn.execute(
            table.insert(),
            [{"chunk_id": i, "store_id": s, "embedding": v} for i, s, v in rows],
        )

    def nearest(
        self, conn: sa.Connection, dimensions: int, store_id: str, vector: Vector, k: int
    ) -> list[tuple[int, float]]:
        table = _table(dimensions)
        in_store: sa.Select[Any] = sa.select(chunks.c.id).where(chunks.c.store_id == store_id)
        if k > EF_SEARCH_MAX:
            return self.exact(conn, dimensions, in_store, vector, k)
        version = self._extension(conn)
        conn.exec_driver_sql(f"SET LOCAL hnsw.ef_search = {max(k, EF_SEARCH_MIN)}")
        if version >= (0, 8):
            conn.exec_driver_sql("SET LOCAL hnsw.iterative_scan = strict_order")
        distance = table.c.embedding.cosine_distance(vector)
        statement = (
            sa.select(table.c.chunk_id, distance.label("distance"))
            .where(table.c.store_id == store_id)
            .order_by(distance)
            .limit(k)
        )
        found = [(int(i), float(d)) for i, d in conn.execute(statement)]
        if len(found) < k:
            held = conn.execute(
                sa.select(sa.func.count()).select_from(table).where(table.c.store_id == store_id)
            ).scalar_one()
            if len(found) < min(k, held):
                return self.exact(conn, dimensions, in_store, vector, k)
        return found

    def exact(
        self, conn: sa.Connection, dimensions: int, ids: sa.Select[Any], vector: Vector, k: int
    ) -> list[tuple[int, float]]:
        table = _table(dimensions)
        conn.exec_driver_sql("SET LOCAL enable_indexscan = off")
        distance = table.c.embedding.cosine_distance(vector)
        statement = (
            sa.select(table.c.chunk_id, distance.label("distance"))
            .where(table.c.chunk_id.in_(ids.scalar_subquery()))
            .order_by(distance)
            .limit(k)
        )
        found = [(int(i), float(d)) for i, d in conn.execute(statement)]
        conn.exec_driver_sql("SET LOCAL enable_indexscan = on")
        return found

    def delete(self, conn: sa.Connection, dimensions: int, ids: sa.Select[Any]) -> None:
        table = _table(dimensions)
        conn.execute(table.delete().where(table.c.chunk_id.in_(ids.scalar_subquery())))
