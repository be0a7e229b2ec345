"""Vectors on SQLite with sqlite-vec: one ``vec0`` virtual table per width, partitioned by
store, cosine distance. vec0 ranks by brute force (exact), so ``nearest`` is never short.

sqlite-vec is a loadable extension. Where Python's sqlite3 can load extensions it is loaded on
each connection; where it cannot (a Python built without them), it is registered once per
process with SQLite's ``sqlite3_auto_extension``, so every connection opened afterwards has it.
"""

from __future__ import annotations

import ctypes
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from berth import errors
from berth.vectors.record import Vector

MAX_K = 4096
"""The most neighbours one vec0 query returns; past it, rank exactly."""
_registered = False
_lock = threading.Lock()


def _vec() -> Any:
    try:
        import sqlite_vec  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - sqlite-vec is in the lock
        raise errors.VectorIndexUnavailable(
            "sqlite-vec is not installed, so this SQLite database cannot hold vectors. "
            "Install Berth's locked dependencies (scripts/bootstrap)."
        ) from exc
    return sqlite_vec


def register() -> None:
    """Make sqlite-vec part of every SQLite connection this process opens from now on (when
    Python's sqlite3 cannot load extensions itself); call before connecting."""
    global _registered
    if _registered or hasattr(sqlite3.Connection, "enable_load_extension"):
        return
    with _lock:
        if _registered:
            return
        import _sqlite3

        library = ctypes.CDLL(_sqlite3.__file__)
        init = ctypes.CDLL(_vec().loadable_path() + ".so").sqlite3_vec_init
        code = library.sqlite3_auto_extension(ctypes.cast(init, ctypes.c_void_p))
        if code != 0:
            raise errors.VectorIndexUnavailable(
                f"SQLite refused to register sqlite-vec (code {code})."
            )
        _registered = True


def load(dbapi_connection: sqlite3.Connection) -> None:
    """Load sqlite-vec into a new connection, where Python's sqlite3 can load extensions."""
    if not hasattr(dbapi_connection, "enable_load_extension"):
        return  # registered as an auto extension instead
    dbapi_connection.enable_load_extension(True)
    try:
        _vec().load(dbapi_connection)
    finally:
        dbapi_connection.enable_load_extension(False)


def _table(dimensions: int) -> str:
    return f"berth_vec_{int(dimensions)}"


def _blob(vector: Vector) -> bytes:
    return bytes(vector.astype("<f4").tobytes())


class SqliteVecTables:
    """:class:`~berth.db.vecindex.VectorTables` on sqlite-vec."""

    name = "sqlite-vec"

    def ensure(self, conn: sa.Connection, dimensions: int) -> None:
        try:
            conn.exec_driver_sql(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {_table(dimensions)} USING vec0("
                "chunk_id INTEGER PRIMARY KEY, store_id TEXT PARTITION KEY, "
                f"embedding FLOAT[{int(dimensions)}] distance_metric=cosine)"
            )
        except sa.exc.OperationalError as exc:
            if "no such module" not in str(exc.orig):
                raise
            raise errors.VectorIndexUnavailable(
                "This SQLite connection has no sqlite-vec (vec0): "
                f"{exc.orig}. Install Berth's locked dependencies."
            ) from exc

    def insert(
        self, conn: sa.Connection, dimensions: int, rows: Sequence[tuple[int, str, Vector]]
    ) -> None:
        conn.exec_driver_sql(
            f"INSERT INTO {_table(dimensions)} (chunk_id, store_id, embedding) VALUES (?, ?, ?)",
            [(chunk_id, store_id, _blob(vector)) for chunk_id, store_id, vector in rows],
        )

    def nearest(
        self, conn: sa.Connection, dimensions: int, store_id: str, vector: Vector, k: int
    ) -> list[tuple[int, float]]:
        if k > MAX_K:
            table = sa.table(_table(dimensions), sa.column("chunk_id"), sa.column("store_id"))
            ids: sa.Select[Any] = sa.select(table.c.chunk_id).where(table.c.store_id == store_id)
            return self.exact(conn, dimensions, ids, vector, k)
        rows = conn.exec_driver_sql(
            f"SELECT chunk_id, distance FROM {_table(dimensions)} "
            "WHERE embedding MATCH ? AND k = ? AND store_id = ? ORDER BY distance",
            (_blob(vector), k, store_id),
        )
        return [(int(i), float(d)) for i, d in rows]

    def exact(
        self, conn: sa.Connection, dimensions: int, ids: sa.Select[Any], vector: Vector, k: int
    ) -> list[tuple[int, float]]:
        table = sa.table(_table(dimensions), sa.column("chunk_id"), sa.column("embedding"))
        distance = sa.func.vec_distance_cosine(
            table.c.embedding, sa.bindparam("q", _blob(vector), type_=sa.LargeBinary)
        ).label("distance")
        statement = (
            sa.select(table.c.chunk_id, distance)
            .where(table.c.chunk_id.in_(ids.scalar_subquery()))
            .order_by(distance)
            .limit(k)
        )
        return [(int(i), float(d)) for i, d in conn.execute(statement)]

    def delete(self, conn: sa.Connection, dimensions: int, ids: sa.Select[Any]) -> None:
        table = sa.table(_table(dimensions), sa.column("chunk_id"))
        conn.execute(table.delete().where(table.c.chunk_id.in_(ids.scalar_subquery())))
