"""The vector-index port: each file's chunks with their embeddings, and nearest-neighbour
queries within one store.

``nearest`` may be approximate (an HNSW index) but answers ``min(k, chunks in the store)``
hits: an adapter whose index stops early (pgvector's ``ef_search``) must make up the rest.
``exact`` ranks exactly the chunks of the files named. Filtered search over these two is
written once, in :mod:`berth.vectors.search`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from berth.vectors.record import Chunk, Hit, Vector


class VectorIndex(Protocol):
    """Chunks and their vectors; shares the job store's database and lifecycle."""

    name: str
    """Which index it is (``sqlite-vec``, ``pgvector``, ``memory``), for status pages."""

    async def add(self, store_id: str, model: str, chunks: Sequence[Chunk]) -> None:
        """Store chunks (all of one file, in one transaction: all or none); a chunk whose
        ``(file, seq)`` is already stored is kept as it is."""
        ...

    async def stored(self, store_id: str, file_id: str) -> int:
        """How many chunks of the file are stored (seq ``0..n-1``, as they are added in
        order)."""
        ...

    async def count(self, store_id: str, file_ids: Collection[str] | None = None) -> int:
        """How many chunks the store holds (of these files)."""
        ...

    async def texts(self, store_id: str, file_id: str) -> list[str]:
        """The file's chunks' texts, in order."""
        ...

    async def models(self, store_id: str) -> set[str]:
        """The embedding models the store's chunks were made with."""
        ...

    async def nearest(self, store_id: str, vector: Vector, k: int) -> list[Hit]:
        """The ``k`` chunks of the store nearest ``vector`` (cosine), nearest first."""
        ...

    async def exact(
        self, store_id: str, vector: Vector, k: int, file_ids: Collection[str]
    ) -> list[Hit]:
        """The ``k`` chunks of these files nearest ``vector``, ranked exactly."""
        ...

    async def remove_file(self, store_id: str, file_id: str) -> None:
        """Forget the file's chunks."""
        ...

    async def remove_store(self, store_id: str) -> None:
        """Forget every chunk of the store."""
        ...
