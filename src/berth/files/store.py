"""The file-store port: where file records live (the bytes are on disk, see FileService)."""

from __future__ import annotations

from typing import Protocol

from berth.files.file import Purpose, StoredFile


class FileStore(Protocol):
    """File records; shares the job store's database and lifecycle."""

    async def add(self, file: StoredFile) -> None:
        """Record a new file."""
        ...

    async def get(self, file_id: str) -> StoredFile:
        """The file with this id; raises UnknownFile."""
        ...

    async def list_files(
        self,
        *,
        purpose: Purpose | None = None,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredFile]:
        """Files (of one purpose, of one owner), by id in the order asked; ``after`` is a
        cursor (a file id)."""
        ...

    async def delete(self, file_id: str) -> StoredFile:
        """Forget the file and return its record; raises UnknownFile."""
        ...
