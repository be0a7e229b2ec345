"""The vector index on the job store's SQL database: chunk texts in ``berth_vector_chunks``,
their vectors in one ``berth_vec_<dimensions>`` table per width, kept by a
:class:`VectorTables` (sqlite-vec or pgvector). A chunk and its vector are written in one
transaction, so a chunk that is stored always has its vector."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, Protocol

import sqlalchemy as sa

from berth.db.database import Database
from berth.db.schema import vector_chunks as chunks
from berth.vectors.record import Chunk, Hit, Vector

Scored = list[tuple[int, float]]
"""(chunk id, cosine distance) pairs, nearest first."""


class VectorTables(Protocol):
    """What differs between databases in keeping vectors."""

    name: str

    def ensure(self, conn: sa.Connection, dimensions: int) -> None:
        """Make the table (and index) for vectors of this width, if it is not there."""
        ...

    def insert(
        self, conn: sa.Connection, dimensions: int, rows: Sequence[tuple[int, str, Vector]]
    ) -> None:
        """Store ``(chunk id, store id, vector)`` rows."""
        ...

    def nearest(
        self, conn: sa.Connection, dimensions: int, store_id: str, vector: Vector, k: int
    ) -> Scored:
        """The ``k`` nearest chunks of the store (may be approximate, but not short)."""
        ...

    def exact(
        self, conn: sa.Connection, dimensions: int, ids: sa.Select[Any], vector: Vector, k: int
    ) -> Scored:
        """The ``k`` nearest of the chunks ``ids`` selects, ranked exactly."""
        ...

    def delete(self, conn: sa.Connection, dimensions: int, ids: sa.Select[Any]) -> None:
        """Forget the vectors of the chunks ``ids`` selects."""
        ...


class SqlVectorIndex:
    """A :class:`~berth.vectors.index.VectorIndex` sharing the job store's Database."""

    def __init__(self, database: Database, tables: VectorTables) -> None:
        self._db = database
        self._tables = tables
        self.name = tables.name

    async def add(self, store_id: str, model: str, items: Sequence[Chunk]) -> None:
        if not items:
            return

        def add(conn: sa.Connection) -> None:
            dimensions = int(items[0].vector.shape[0])
            self._tables.ensure(conn, dimensions)
            file_ids = {chunk.file_id for chunk in items}
            have = {
                (row.file_id, row.seq)
                for row in conn.execute(
                    sa.select(chunks.c.file_id, chunks.c.seq).where(
                        chunks.c.store_id == store_id, chunks.c.file_id.in_(file_ids)
                    )
                )
            }
            new = [chunk for chunk in items if (chunk.file_id, chunk.seq) not in have]
            if not new:
                return
            rows = [
                {
                    "store_id": store_id,
                    "file_id": chunk.file_id,
                    "seq": chunk.seq,
                    "text": chunk.text,
                    "tokens": chunk.tokens,
                    "model": model,
                    "dimensions": dimensions,
                }
                for chunk in new
            ]
            made = conn.execute(
                chunks.insert().returning(chunks.c.id, sort_by_parameter_order=True), rows
            ).scalars()
            vectors = [
                (chunk_id, store_id, chunk.vector)
                for chunk_id, chunk in zip(made, new, strict=True)
            ]
            self._tables.insert(conn, dimensions, vectors)

        await self._db.transaction(add)

    def _where(self, store_id: str, file_ids: Collection[str] | None) -> list[Any]:
        where = [chunks.c.store_id == store_id]
        if file_ids is not None:
            where.append(chunks.c.file_id.in_(list(file_ids)))
        return where

    async def stored(self, store_id: str, file_id: str) -> int:
        return await self.count(store_id, [file_id])

    async def count(self, store_id: str, file_ids: Collection[str] | None = None) -> int:
        statement = sa.select(sa.func.count()).where(*self._where(store_id, file_ids))
        found = await self._db.transaction(lambda c: c.execute(statement).scalar_one(), safe=True)
        return int(found)

    async def texts(self, store_id: str, file_id: str) -> list[str]:
        statement = (
            sa.select(chunks.c.text).where(*self._where(store_id, [file_id])).order_by(chunks.c.seq)
        )
        return await self._db.transaction(lambda c: list(c.execute(statement).scalars()), safe=True)

    async def models(self, store_id: str) -> set[str]:
        statement = sa.select(chunks.c.model).where(chunks.c.store_id == store_id).distinct()
        return await self._db.transaction(lambda c: set(c.execute(statement).scalars()), safe=True)

    @staticmethod
    def _widths(conn: sa.Connection, where: list[Any]) -> list[int]:
        statement = sa.select(chunks.c.dimensions).where(*where).distinct()
        return [int(width) for width in conn.execute(statement).scalars()]

    @staticmethod
    def _hits(conn: sa.Connection, scored: Scored, k: int) -> list[Hit]:
        scored = sorted(scored, key=lambda pair: pair[1])[:k]
        if not scored:
            return []
        statement = sa.select(chunks.c.id, chunks.c.file_id, chunks.c.seq, chunks.c.text).where(
            chunks.c.id.in_([chunk_id for chunk_id, _ in scored])
        )
        rows = {row.id: row for row in conn.execute(statement)}
        return [
            Hit(rows[i].file_id, rows[i].seq, rows[i].text, distance)
            for i, distance in scored
            if i in rows
        ]

    async def nearest(self, store_id: str, vector: Vector, k: int) -> list[Hit]:
        def nearest(conn: sa.Connection) -> list[Hit]:
            scored: Scored = []
            for width in self._widths(conn, self._where(store_id, None)):
                if width == vector.shape[0]:
                    scored += self._tables.nearest(conn, width, store_id, vector, k)
            return self._hits(conn, scored, k)

        return await self._db.transaction(nearest, safe=True)

    async def exact(
        self, store_id: str, vector: Vector, k: int, file_ids: Collection[str]
    ) -> list[Hit]:
        where = self._where(store_id, file_ids)

        def exact(conn: sa.Connection) -> list[Hit]:
            scored: Scored = []
            for width in self._widths(conn, where):
                if width == vector.shape[0]:
                    ids = sa.select(chunks.c.id).where(*where, chunks.c.dimensions == width)
                    scored += self._tables.exact(conn, width, ids, vector, k)
            return self._hits(conn, scored, k)

        return await self._db.transaction(exact, safe=True)

    async def _remove(self, where: list[Any]) -> None:
        def remove(conn: sa.Connection) -> None:
            for width in self._widths(conn, where):
                ids = sa.select(chunks.c.id).where(*where, chunks.c.dimensions == width)
                self._tables.delete(conn, width, ids)
            conn.execute(chunks.delete().where(*where))

        await self._db.transaction(remove, safe=True)

    async def remove_file(self, store_id: str, file_id: str) -> None:
        await self._remove(self._where(store_id, [file_id]))

    async def remove_store(self, store_id: str) -> None:
        await self._remove(self._where(store_id, None))
