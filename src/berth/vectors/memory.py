"""In-memory vector-store records and index: the fakes for tests, passing the same contract
suites as the SQL adapters."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np

from berth import errors
from berth.vectors.record import (
    Chunk,
    FileBatch,
    FileCounts,
    FileStatus,
    Hit,
    StoreFile,
    Vector,
    VectorStore,
)
from berth.vectors.store import UNSET, FileChanges, StoreChanges


def _changed(record: object, changes: object) -> dict[str, object]:
    return {
        f.name: getattr(changes, f.name)
        for f in dataclasses.fields(changes)  # type: ignore[arg-type]
        if getattr(changes, f.name) is not UNSET
    }


def unknown_store(store_id: str) -> errors.UnknownVectorStore:
    return errors.UnknownVectorStore(f"No vector store has the id '{store_id}'.")


def unknown_file(store_id: str, file_id: str) -> errors.UnknownVectorStoreFile:
    return errors.UnknownVectorStoreFile(f"Vector store '{store_id}' has no file '{file_id}'.")


def unknown_batch(store_id: str, batch_id: str) -> errors.UnknownFileBatch:
    return errors.UnknownFileBatch(f"Vector store '{store_id}' has no file batch '{batch_id}'.")


class MemoryVectorRecords:
    """Stores, files and batches in dicts."""

    def __init__(self) -> None:
        self._stores: dict[str, VectorStore] = {}
        self._files: dict[tuple[str, str], StoreFile] = {}
        self._batches: dict[tuple[str, str], FileBatch] = {}

    def _counts(self, store_id: str, batch_id: str | None = None) -> FileCounts:
        statuses = Counter(
            f.status.value
            for (sid, _), f in self._files.items()
            if sid == store_id and (batch_id is None or f.batch_id == batch_id)
        )
        return FileCounts.of(dict(statuses))

    def _filled(self, store: VectorStore) -> VectorStore:
        usage = sum(f.usage_bytes for (sid, _), f in self._files.items() if sid == store.id)
        return dataclasses.replace(store, file_counts=self._counts(store.id), usage_bytes=usage)

    def _store(self, store_id: str) -> VectorStore:
        try:
            return self._stores[store_id]
        except KeyError:
            raise unknown_store(store_id) from None

    async def add_store(self, store: VectorStore) -> None:
        self._stores[store.id] = dataclasses.replace(store, file_counts=FileCounts(), usage_bytes=0)

    async def get_store(self, store_id: str) -> VectorStore:
        return self._filled(self._store(store_id))

    async def list_stores(
        self,
        *,
        owner: str | None = None,
        after: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[VectorStore]:
        found = sorted(self._stores.values(), key=lambda s: s.id, reverse=newest_first)
        if after is not None:
            found = [s for s in found if (s.id < after if newest_first else s.id > after)]
        kept = [s for s in found if owner is None or s.owner == owner]
        return [self._filled(s) for s in kept[:limit]]

    async def update_store(self, store_id: str, changes: StoreChanges) -> VectorStore:
        store = dataclasses.replace(self._store(store_id), **_changed(self, changes))  # type: ignore[arg-type]
        self._stores[store_id] = store
        return self._filled(store)

    async def delete_store(self, store_id: str) -> None:
        self._store(store_id)
        del self._stores[store_id]
        for table in (self._files, self._batches):
            for key in [key for key in table if key[0] == store_id]:
                del table[key]

    async def add_file(self, file: StoreFile) -> StoreFile:
        self._store(file.store_id)
        self._files[(file.store_id, file.file_id)] = file
        return file

    async def get_file(self, store_id: str, file_id: str) -> StoreFile:
        try:
            return self._files[(store_id, file_id)]
        except KeyError:
            raise unknown_file(store_id, file_id) from None

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
        found = sorted(
            (f for (sid, _), f in self._files.items() if sid == store_id),
            key=lambda f: f.file_id,
            reverse=newest_first,
        )
        if after is not None:
            found = [f for f in found if (f.file_id < after if newest_first else f.file_id > after)]
        return [
            f
            for f in found
            if (status is None or f.status is status)
            and (batch_id is None or f.batch_id == batch_id)
        ][:limit]

    async def update_file(self, store_id: str, file_id: str, changes: FileChanges) -> StoreFile:
        found = await self.get_file(store_id, file_id)
        updated = dataclasses.replace(found, **_changed(found, changes))  # type: ignore[arg-type]
        self._files[(store_id, file_id)] = updated
        return updated

    async def delete_file(self, store_id: str, file_id: str) -> StoreFile:
        found = await self.get_file(store_id, file_id)
        del self._files[(store_id, file_id)]
        return found

    async def add_batch(self, batch: FileBatch) -> None:
        self._store(batch.store_id)
        self._batches[(batch.store_id, batch.id)] = batch

    async def get_batch(self, store_id: str, batch_id: str) -> FileBatch:
        try:
            batch = self._batches[(store_id, batch_id)]
        except KeyError:
            raise unknown_batch(store_id, batch_id) from None
        return dataclasses.replace(batch, file_counts=self._counts(store_id, batch_id))

    async def cancel_batch(self, store_id: str, batch_id: str) -> FileBatch:
        batch = await self.get_batch(store_id, batch_id)
        self._batches[(store_id, batch_id)] = dataclasses.replace(batch, cancelled=True)
        for key, f in list(self._files.items()):
            if key[0] == store_id and f.batch_id == batch_id and f.status is FileStatus.IN_PROGRESS:
                self._files[key] = dataclasses.replace(f, status=FileStatus.CANCELLED)
        return await self.get_batch(store_id, batch_id)


def cosine_distances(matrix: Vector, vector: Vector) -> Vector:
    """``1 - cos`` between each row of ``matrix`` and ``vector``."""
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(vector))
    similarity = matrix @ vector / np.where(norms == 0, 1.0, norms)
    return np.asarray(1.0 - similarity, dtype=np.float32)


class MemoryVectorIndex:
    """Chunks in a dict; every query ranks exactly."""

    name = "memory"

    def __init__(self) -> None:
        self._chunks: dict[tuple[str, str, int], tuple[Chunk, str]] = {}

    async def add(self, store_id: str, model: str, chunks: Sequence[Chunk]) -> None:
        for chunk in chunks:
            self._chunks.setdefault((store_id, chunk.file_id, chunk.seq), (chunk, model))

    def _of(self, store_id: str, file_ids: Collection[str] | None = None) -> list[Chunk]:
        return [
            chunk
            for (sid, fid, _), (chunk, _) in sorted(self._chunks.items())
            if sid == store_id and (file_ids is None or fid in file_ids)
        ]

    async def stored(self, store_id: str, file_id: str) -> int:
        return len(self._of(store_id, {file_id}))

    async def count(self, store_id: str, file_ids: Collection[str] | None = None) -> int:
        return len(self._of(store_id, file_ids))

    async def texts(self, store_id: str, file_id: str) -> list[str]:
        return [chunk.text for chunk in self._of(store_id, {file_id})]

    async def models(self, store_id: str) -> set[str]:
        return {model for (sid, _, _), (_, model) in self._chunks.items() if sid == store_id}

    def _rank(self, chunks: list[Chunk], vector: Vector, k: int) -> list[Hit]:
        if not chunks:
            return []
        distances = cosine_distances(np.stack([c.vector for c in chunks]), vector)
        order = np.argsort(distances, kind="stable")[:k]
        return [
            Hit(chunks[i].file_id, chunks[i].seq, chunks[i].text, float(distances[i]))
            for i in order
        ]

    async def nearest(self, store_id: str, vector: Vector, k: int) -> list[Hit]:
        return self._rank(self._of(store_id), vector, k)

    async def exact(
        self, store_id: str, vector: Vector, k: int, file_ids: Collection[str]
    ) -> list[Hit]:
        return self._rank(self._of(store_id, set(file_ids)), vector, k)

    async def remove_file(self, store_id: str, file_id: str) -> None:
        for key in [key for key in self._chunks if key[:2] == (store_id, file_id)]:
            del self._chunks[key]

    async def remove_store(self, store_id: str) -> None:
        for key in [key for key in self._chunks if key[0] == store_id]:
            del self._chunks[key]
