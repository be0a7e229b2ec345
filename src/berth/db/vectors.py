"""Vector-store records on the job store's SQL database (stores, their files, batches)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth.db.database import Database
from berth.db.schema import vector_file_batches as batches
from berth.db.schema import vector_store_files as store_files
from berth.db.schema import vector_stores as stores
from berth.vectors.memory import unknown_batch, unknown_file, unknown_store
from berth.vectors.record import (
    ExpiresAfter,
    FileBatch,
    FileCounts,
    FileStatus,
    StoreFile,
    VectorStore,
)
from berth.vectors.store import UNSET, FileChanges, StoreChanges


def _expires(data: Any) -> ExpiresAfter | None:
    return ExpiresAfter(int(data["days"]), str(data["anchor"])) if data else None


def store_from_row(row: Mapping[Any, Any], counts: FileCounts, usage: int) -> VectorStore:
    return VectorStore(
        id=row["id"],
        name=row["name"],
        model=row["model"],
        created_at=row["created_at"],
        last_active_at=row["last_active_at"],
        owner=row["owner"],
        metadata=dict(row["metadata"] or {}),
        expires_after=_expires(row["expires_after"]),
        expires_at=row["expires_at"],
        file_counts=counts,
        usage_bytes=usage,
    )


def file_from_row(row: Mapping[Any, Any]) -> StoreFile:
    return StoreFile(
        store_id=row["store_id"],
        file_id=row["file_id"],
        status=FileStatus(row["status"]),
        created_at=row["created_at"],
        chunking=dict(row["chunking"]),
        attributes=dict(row["attributes"] or {}),
        last_error=row["last_error"],
        usage_bytes=row["usage_bytes"],
        batch_id=row["batch_id"],
        sha256=row["sha256"],
        job_id=row["job_id"],
    )


def _store_row(store: VectorStore) -> dict[str, Any]:
    expires = store.expires_after
    return {
        "id": store.id,
        "name": store.name,
        "model": store.model,
        "owner": store.owner,
        "metadata": store.metadata,
        "expires_after": {"anchor": expires.anchor, "days": expires.days} if expires else None,
        "expires_at": store.expires_at,
        "last_active_at": store.last_active_at,
        "created_at": store.created_at,
    }


def _file_row(file: StoreFile) -> dict[str, Any]:
    return {
        "store_id": file.store_id,
        "file_id": file.file_id,
        "status": file.status.value,
        "created_at": file.created_at,
        "chunking": file.chunking,
        "attributes": file.attributes,
        "last_error": file.last_error,
        "usage_bytes": file.usage_bytes,
        "batch_id": file.batch_id,
        "sha256": file.sha256,
        "job_id": file.job_id,
    }


def _set(changes: object) -> dict[str, Any]:
    values = {
        f.name: getattr(changes, f.name)
        for f in dataclasses.fields(changes)  # type: ignore[arg-type]
        if getattr(changes, f.name) is not UNSET
    }
    if isinstance(values.get("status"), FileStatus):
        values["status"] = values["status"].value
    if "expires_after" in values:
        expires = values["expires_after"]
        values["expires_after"] = (
            {"anchor": expires.anchor, "days": expires.days} if expires else None
        )
    return values


class SqlVectorRecords:
    """A :class:`~berth.vectors.store.VectorRecords` sharing the job store's Database."""

    def __init__(self, database: Database) -> None:
        self._db = database

    @staticmethod
    def _counts(conn: sa.Connection, store_id: str, batch_id: str | None = None) -> FileCounts:
        statement = (
            sa.select(store_files.c.status, sa.func.count())
            .where(store_files.c.store_id == store_id)
            .group_by(store_files.c.status)
        )
        if batch_id is not None:
            statement = statement.where(store_files.c.batch_id == batch_id)
        return FileCounts.of({status: count for status, count in conn.execute(statement)})

    def _filled(self, conn: sa.Connection, row: Mapping[Any, Any]) -> VectorStore:
        usage = conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(store_files.c.usage_bytes), 0)).where(
                store_files.c.store_id == row["id"]
            )
        ).scalar_one()
        return store_from_row(row, self._counts(conn, row["id"]), int(usage))

    def _get_store(self, conn: sa.Connection, store_id: str) -> VectorStore:
        row = conn.execute(sa.select(stores).where(stores.c.id == store_id)).first()
        if row is None:
            raise unknown_store(store_id)
        return self._filled(conn, row._mapping)

    async def add_store(self, store: VectorStore) -> None:
        row = _store_row(store)
        await self._db.transaction(lambda conn: conn.execute(stores.insert().values(row)))

    async def get_store(self, store_id: str) -> VectorStore:
        return await self._db.transaction(lambda conn: self._get_store(conn, store_id), safe=True)

    async def list_stores(
        self,
        *,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[VectorStore]:
        order = stores.c.id.desc() if newest_first else stores.c.id.asc()
        statement = sa.select(stores).order_by(order).limit(limit)
        if owner is not None:
            statement = statement.where(stores.c.owner == owner)
        if after is not None:
            statement = statement.where(
                stores.c.id < after if newest_first else stores.c.id > after
            )

        def read(conn: sa.Connection) -> list[VectorStore]:
            return [self._filled(conn, row._mapping) for row in conn.execute(statement)]

        return await self._db.transaction(read, safe=True)

    async def update_store(self, store_id: str, changes: StoreChanges) -> VectorStore:
        values = _set(changes)

        def update(conn: sa.Connection) -> VectorStore:
            self._get_store(conn, store_id)
            if values:
                conn.execute(stores.update().where(stores.c.id == store_id).values(values))
            return self._get_store(conn, store_id)

        return await self._db.transaction(update, safe=True)

    async def delete_store(self, store_id: str) -> None:
        def delete(conn: sa.Connection) -> None:
            self._get_store(conn, store_id)
            conn.execute(store_files.delete().where(store_files.c.store_id == store_id))
            conn.execute(batches.delete().where(batches.c.store_id == store_id))
            conn.execute(stores.delete().where(stores.c.id == store_id))

        await self._db.transaction(delete, safe=True)

    def _get_file(self, conn: sa.Connection, store_id: str, file_id: str) -> StoreFile:
        row = conn.execute(
            sa.select(store_files).where(
                store_files.c.store_id == store_id, store_files.c.file_id == file_id
            )
        ).first()
        if row is None:
            raise unknown_file(store_id, file_id)
        return file_from_row(row._mapping)

    async def add_file(self, file: StoreFile) -> StoreFile:
        row = _file_row(file)

        def add(conn: sa.Connection) -> StoreFile:
            self._get_store(conn, file.store_id)
            conn.execute(
                store_files.delete().where(
                    store_files.c.store_id == file.store_id, store_files.c.file_id == file.file_id
                )
            )
            conn.execute(store_files.insert().values(row))
            return file

        return await self._db.transaction(add, safe=True)

    async def get_file(self, store_id: str, file_id: str) -> StoreFile:
        return await self._db.transaction(
            lambda conn: self._get_file(conn, store_id, file_id), safe=True
        )

    async def list_files(
        self,
        store_id: str,
        *,
        status: FileStatus | None = None,
        batch_id: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoreFile]:
        column = store_files.c.file_id
        statement = (
            sa.select(store_files)
            .where(store_files.c.store_id == store_id)
            .order_by(column.desc() if newest_first else column.asc())
            .limit(limit)
        )
        if status is not None:
            statement = statement.where(store_files.c.status == status.value)
        if batch_id is not None:
            statement = statement.where(store_files.c.batch_id == batch_id)
        if after is not None:
            statement = statement.where(column < after if newest_first else column > after)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [file_from_row(row._mapping) for row in rows]

    async def update_file(self, store_id: str, file_id: str, changes: FileChanges) -> StoreFile:
        values = _set(changes)

        def update(conn: sa.Connection) -> StoreFile:
            self._get_file(conn, store_id, file_id)
            if values:
                conn.execute(
                    store_files.update()
                    .where(store_files.c.store_id == store_id, store_files.c.file_id == file_id)
                    .values(values)
                )
            return self._get_file(conn, store_id, file_id)

        return await self._db.transaction(update, safe=True)

    async def delete_file(self, store_id: str, file_id: str) -> StoreFile:
        def delete(conn: sa.Connection) -> StoreFile:
            found = self._get_file(conn, store_id, file_id)
            conn.execute(
                store_files.delete().where(
                    store_files.c.store_id == store_id, store_files.c.file_id == file_id
                )
            )
            return found

        return await self._db.transaction(delete, safe=True)

    async def add_batch(self, batch: FileBatch) -> None:
        row = {
            "id": batch.id,
            "store_id": batch.store_id,
            "created_at": batch.created_at,
            "cancelled": batch.cancelled,
        }

        def add(conn: sa.Connection) -> None:
            self._get_store(conn, batch.store_id)
            conn.execute(batches.insert().values(row))

        await self._db.transaction(add)

    def _get_batch(self, conn: sa.Connection, store_id: str, batch_id: str) -> FileBatch:
        row = conn.execute(
            sa.select(batches).where(batches.c.id == batch_id, batches.c.store_id == store_id)
        ).first()
        if row is None:
            raise unknown_batch(store_id, batch_id)
        return FileBatch(
            id=row.id,
            store_id=row.store_id,
            created_at=row.created_at,
            cancelled=bool(row.cancelled),
            file_counts=self._counts(conn, store_id, batch_id),
        )

    async def get_batch(self, store_id: str, batch_id: str) -> FileBatch:
        return await self._db.transaction(
            lambda conn: self._get_batch(conn, store_id, batch_id), safe=True
        )

    async def cancel_batch(self, store_id: str, batch_id: str) -> FileBatch:
        def cancel(conn: sa.Connection) -> FileBatch:
            self._get_batch(conn, store_id, batch_id)
            conn.execute(batches.update().where(batches.c.id == batch_id).values(cancelled=True))
            conn.execute(
                store_files.update()
                .where(
                    store_files.c.store_id == store_id,
                    store_files.c.batch_id == batch_id,
                    store_files.c.status == FileStatus.IN_PROGRESS.value,
                )
                .values(status=FileStatus.CANCELLED.value)
            )
            return self._get_batch(conn, store_id, batch_id)

        return await self._db.transaction(cancel, safe=True)
