"""What the ``vector-ingest`` job asks of the vector stores (the VectorService answers): the
file to read, the model's tokenizer, how far an earlier attempt got, and where to write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from berth.vectors.chunking import Chunking, Tokenizer
from berth.vectors.record import Chunk


@dataclass(frozen=True, slots=True)
class IngestSource:
    """What the ingest job reads: the store's model, the file's bytes and its chunking."""

    store_id: str
    file_id: str
    model: str
    filename: str
    path: Path
    sha256: str
    chunking: Chunking


class VectorWriter(Protocol):
    """The vector stores, as an ingest job sees them (its submit checked the caller)."""

    async def source(self, store_id: str, file_id: str) -> IngestSource | None:
        """What to ingest, or None when the file left the store or was cancelled."""
        ...

    def tokenizer(self, alias: str) -> Tokenizer | None:
        """The model's own tokenizer, if it has one (blocks: run it in a thread)."""
        ...

    async def stored(self, store_id: str, file_id: str) -> int:
        """How many of the file's chunks are already stored (0 to n-1)."""
        ...

    async def wanted(self, store_id: str, file_id: str, model: str) -> bool:
        """Whether the file is still in the store and in progress, and the store still
        embeds with ``model``."""
        ...

    async def write(self, store_id: str, model: str, chunks: Sequence[Chunk]) -> None:
        """Store chunks and their vectors, all or none."""
        ...

    async def finish(
        self,
        store_id: str,
        file_id: str,
        *,
        usage_bytes: int = 0,
        error: dict[str, str] | None = None,
    ) -> None:
        """Mark the file completed (or failed with ``error``) if it is still in progress."""
        ...
