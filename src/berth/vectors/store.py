"""The vector-store records port: stores, the files in them, and file batches."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from berth.vectors.record import (
    Attributes,
    ExpiresAfter,
    FileBatch,
    FileStatus,
    StoreFile,
    VectorStore,
)

UNSET: Any = object()
"""For an update: leave this field as it is."""


@dataclass(frozen=True, slots=True)
class StoreChanges:
    """What an update changes; a field left UNSET stays."""

    name: str | None = UNSET
    metadata: dict[str, str] = UNSET
    expires_after: ExpiresAfter | None = UNSET
    expires_at: float | None = UNSET
    last_active_at: float = UNSET
    model: str = UNSET


@dataclass(frozen=True, slots=True)
class FileChanges:
    """What a file update changes; a field left UNSET stays."""

    status: FileStatus = UNSET
    last_error: dict[str, str] | None = UNSET
    attributes: Attributes = UNSET
    usage_bytes: int = UNSET
    sha256: str | None = UNSET
    job_id: str | None = UNSET


class VectorRecords(Protocol):
    """Stores, files and batches; shares the job store's database and lifecycle. Reads fill in
    ``file_counts`` (and a store's ``usage_bytes``, the sum of its files')."""

    async def add_store(self, store: VectorStore) -> None:
        """Record a new store."""
        ...

    async def get_store(self, store_id: str) -> VectorStore:
        """The store; raises UnknownVectorStore."""
        ...

    async def list_stores(
        self,
        *,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[VectorStore]:
        """Stores (of one owner) by id in the order asked; ``after`` is a cursor."""
        ...

    async def update_store(self, store_id: str, changes: StoreChanges) -> VectorStore:
        """Apply ``changes``; raises UnknownVectorStore."""
        ...

    async def delete_store(self, store_id: str) -> None:
        """Forget the store, its files and batches; raises UnknownVectorStore."""
        ...

    async def add_file(self, file: StoreFile) -> StoreFile:
        """Record a file in a store; a file already there is replaced by this record (an
        add again re-ingests it). Raises UnknownVectorStore."""
        ...

    async def get_file(self, store_id: str, file_id: str) -> StoreFile:
        """The file in the store; raises UnknownVectorStoreFile."""
        ...

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
        """The store's files (of one status, of one batch), by file id in the order asked."""
        ...

    async def update_file(self, store_id: str, file_id: str, changes: FileChanges) -> StoreFile:
        """Apply ``changes``; raises UnknownVectorStoreFile."""
        ...

    async def delete_file(self, store_id: str, file_id: str) -> StoreFile:
        """Forget the file in the store and return its record; raises UnknownVectorStoreFile."""
        ...

    async def add_batch(self, batch: FileBatch) -> None:
        """Record a batch (its files are added with its id)."""
        ...

    async def get_batch(self, store_id: str, batch_id: str) -> FileBatch:
        """The batch; raises UnknownFileBatch."""
        ...

    async def cancel_batch(self, store_id: str, batch_id: str) -> FileBatch:
        """Mark the batch cancelled, and its files still in progress; raises UnknownFileBatch."""
        ...
