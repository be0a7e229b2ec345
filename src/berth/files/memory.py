"""An in-memory file store: the fake for tests, passing the same contract suite as the SQL one."""

from __future__ import annotations

from berth import errors
from berth.files.file import Purpose, StoredFile


class MemoryFileStore:
    """File records in a dict, by id."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}

    async def add(self, file: StoredFile) -> None:
        self._files[file.id] = file

    async def get(self, file_id: str) -> StoredFile:
        try:
            return self._files[file_id]
        except KeyError:
            raise errors.UnknownFile(f"No file has the id '{file_id}'.") from None

    async def list_files(
        self,
        *,
        purpose: Purpose | None = None,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredFile]:
        found = sorted(self._files.values(), key=lambda f: f.id, reverse=newest_first)
        if after is not None:
            found = [f for f in found if (f.id < after if newest_first else f.id > after)]
        return [
            f
            for f in found
            if (purpose is None or f.purpose is purpose) and (owner is None or f.owner == owner)
        ][:limit]

    async def delete(self, file_id: str) -> StoredFile:
        found = await self.get(file_id)
        del self._files[file_id]
        return found
