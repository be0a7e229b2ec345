"""The file store on the job store's SQL database (table ``berth_files``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from berth import errors
from berth.db.database import Database
from berth.db.schema import files
from berth.files.file import Purpose, StoredFile


def file_from_row(row: Mapping[Any, Any]) -> StoredFile:
    return StoredFile(
        id=row["id"],
        filename=row["filename"],
        purpose=Purpose(row["purpose"]),
        bytes=row["bytes"],
        sha256=row["sha256"],
        created_at=row["created_at"],
        owner=row["owner"],
        lines=row["lines"],
    )


class SqlFileStore:
    """A :class:`~berth.files.store.FileStore` sharing the job store's :class:`Database`."""

    def __init__(self, database: Database) -> None:
        self._db = database

    async def add(self, file: StoredFile) -> None:
        row = {
            "id": file.id,
            "filename": file.filename,
            "purpose": file.purpose.value,
            "bytes": file.bytes,
            "sha256": file.sha256,
            "created_at": file.created_at,
            "owner": file.owner,
            "lines": file.lines,
        }
        await self._db.transaction(lambda conn: conn.execute(files.insert().values(row)))

    def _get(self, conn: sa.Connection, file_id: str) -> StoredFile:
        row = conn.execute(sa.select(files).where(files.c.id == file_id)).first()
        if row is None:
            raise errors.UnknownFile(f"No file has the id '{file_id}'.")
        return file_from_row(row._mapping)

    async def get(self, file_id: str) -> StoredFile:
        return await self._db.transaction(lambda conn: self._get(conn, file_id), safe=True)

    async def list_files(
        self,
        *,
        purpose: Purpose | None = None,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredFile]:
        order = files.c.id.desc() if newest_first else files.c.id.asc()
        statement = sa.select(files).order_by(order).limit(limit)
        if purpose is not None:
            statement = statement.where(files.c.purpose == purpose.value)
        if owner is not None:
            statement = statement.where(files.c.owner == owner)
        if after is not None:
            statement = statement.where(files.c.id < after if newest_first else files.c.id > after)
        rows = await self._db.transaction(lambda conn: conn.execute(statement).all(), safe=True)
        return [file_from_row(row._mapping) for row in rows]

    async def delete(self, file_id: str) -> StoredFile:
        def delete(conn: sa.Connection) -> StoredFile:
            found = self._get(conn, file_id)
            conn.execute(files.delete().where(files.c.id == file_id))
            return found

        return await self._db.transaction(delete, safe=True)
