"""Uploaded files as callers see them: upload (checked for its purpose), list, look up, read,
delete. Shared by the Files API, and by the jobs that read files (evals, fine-tunes, vector
store ingestion), which name them by id.

A file is written to a temporary name beside its final one, hashed as it is written, checked,
and only then renamed into place and recorded: a failed or refused upload leaves nothing. A
key sees only its own files unless it holds ``admin``; without a key (loopback) every file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from berth import errors
from berth.clock import Clock, SystemClock
from berth.files.checks import check_jsonl, records
from berth.files.file import FILE_ID_PREFIX, Purpose, StoredFile
from berth.files.store import FileStore
from berth.ids import new_id
from berth.keys.key import ApiKey
from berth.services.jobs import only_owner

CHUNK = 1 << 20
MAX_NAME = 255


def purpose_of(value: str) -> Purpose:
    """The purpose named ``value``; InvalidRequest listing the known ones otherwise."""
    try:
        return Purpose(value)
    except ValueError:
        known = ", ".join(p.value for p in Purpose)
        raise errors.InvalidRequest(
            f"There is no file purpose '{value}'. Use one of: {known}."
        ) from None


class FileService:
    """Files under ``folder`` (``BERTH_HOME/files``), recorded in ``store``."""

    def __init__(
        self, store: FileStore, folder: Path, *, max_bytes: int, clock: Clock | None = None
    ) -> None:
        self.store = store
        self.folder = folder
        self.max_bytes = max_bytes
        self.clock = clock or SystemClock()

    async def upload(
        self, caller: ApiKey | None, filename: str, purpose: str, stream: IO[bytes]
    ) -> StoredFile:
        """Store the bytes ``stream`` holds as a new file for ``purpose``."""
        kind = purpose_of(purpose)
        name = _checked_name(filename)
        file_id = new_id(FILE_ID_PREFIX)
        path = self.path_of(file_id)
        size, digest, lines = await asyncio.to_thread(self._write, stream, path, name, kind)
        stored = StoredFile(
            id=file_id,
            filename=name,
            purpose=kind,
            bytes=size,
            sha256=digest,
            created_at=self.clock.now(),
            owner=caller.id if caller is not None else None,
            lines=lines,
        )
        try:
            await self.store.add(stored)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return stored

    def _write(
        self, stream: IO[bytes], path: Path, name: str, purpose: Purpose
    ) -> tuple[int, str, int | None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        digest, size = hashlib.sha256(), 0
        try:
            with partial.open("wb") as out:
                while chunk := stream.read(CHUNK):
                    size += len(chunk)
                    if size > self.max_bytes:
                        raise errors.MediaTooLarge(
                            f"{name} is larger than {self.max_bytes} bytes, the most a file may "
                            "hold. Split it, or raise BERTH_MAX_FILE_BYTES."
                        )
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if size == 0:
                raise errors.InvalidRequest(f"{name} is empty. Upload a file with content.")
            lines = None
            if purpose.jsonl:
                with partial.open("rb") as written:
                    lines = check_jsonl(written, name, purpose)
            partial.rename(path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size, digest.hexdigest(), lines

    async def list_files(
        self,
        caller: ApiKey | None,
        *,
        purpose: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[StoredFile]:
        """The caller's files (every file for admins and loopback), newest first."""
        if not 1 <= limit <= 10_001:
            raise errors.InvalidRequest(f"limit must be between 1 and 10000, not {limit}.")
        return await self.store.list_files(
            purpose=purpose_of(purpose) if purpose else None,
            owner=only_owner(caller),
            after=after,
            limit=limit,
            newest_first=newest_first,
        )

    async def get(self, caller: ApiKey | None, file_id: str) -> StoredFile:
        """The file; UnknownFile (404) also for another key's file."""
        found = await self.store.get(file_id)
        owner = only_owner(caller)
        if owner is not None and found.owner != owner:
            raise errors.UnknownFile(f"No file has the id '{file_id}'.")
        return found

    async def content(self, caller: ApiKey | None, file_id: str) -> tuple[StoredFile, Path]:
        """The file and where its bytes are."""
        found = await self.get(caller, file_id)
        return found, self.path_of(found.id)

    async def delete(self, caller: ApiKey | None, file_id: str) -> StoredFile:
        """Forget the file and remove its bytes."""
        found = await self.get(caller, file_id)
        await self.store.delete(found.id)
        await asyncio.to_thread(self.path_of(found.id).unlink, True)
        return found

    def path_of(self, file_id: str) -> Path:
        """Where the bytes of ``file_id`` are (or would be)."""
        if not file_id.startswith(FILE_ID_PREFIX) or "/" in file_id or "\\" in file_id:
            raise errors.UnknownFile(f"No file has the id '{file_id}'.")
        return self.folder / file_id

    # -- for jobs ------------------------------------------------------------------------

    async def local(self, file_id: str) -> tuple[StoredFile, Path]:
        """The file and its path, for a job (whose submit checked the caller)."""
        found = await self.store.get(file_id)
        path = self.path_of(found.id)
        if not path.is_file():
            raise errors.UnknownFile(
                f"File '{file_id}' is recorded but its bytes are gone from {self.folder}."
            )
        return found, path

    def lines(self, path: Path, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
        """``(line number, object)`` of a stored JSONL file (blocks: run it in a thread)."""
        with path.open("rb") as stream:
            yield from records(stream, name)

    def copy(self, file_id: str, target: Path) -> None:
        """Copy a file's bytes to ``target`` (blocks), e.g. into a job's folder."""
        shutil.copyfile(self.path_of(file_id), target)


def _checked_name(filename: str) -> str:
    name = Path(filename.replace("\\", "/")).name.strip()
    if not name:
        raise errors.InvalidRequest("The upload has no file name. Send it as a named file part.")
    return name[:MAX_NAME]
