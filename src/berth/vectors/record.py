"""The records of vector stores: a store, a file in a store, a batch of files, a chunk."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

STORE_ID_PREFIX = "vs_"
BATCH_ID_PREFIX = "vsfb_"
Attributes = dict[str, str | float | bool]
Vector = np.ndarray[Any, np.dtype[np.float32]]


class FileStatus(enum.StrEnum):
    """Where a file's ingestion stands, as OpenAI names it."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class FileCounts:
    """How many of a store's (or a batch's) files are in each status."""

    in_progress: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return self.in_progress + self.completed + self.failed + self.cancelled

    @classmethod
    def of(cls, statuses: dict[str, int]) -> FileCounts:
        return cls(**{status.value: statuses.get(status.value, 0) for status in FileStatus})


@dataclass(frozen=True, slots=True)
class ExpiresAfter:
    """A store expires ``days`` after its anchor (OpenAI knows only ``last_active_at``)."""

    days: int
    anchor: str = "last_active_at"


@dataclass(frozen=True, slots=True)
class VectorStore:
    """One vector store. ``file_counts`` and ``usage_bytes`` are what the store holds now,
    filled in by the store that reads it."""

    id: str
    name: str | None
    model: str
    """The catalog alias of the embedding model its chunks are embedded with."""
    created_at: float
    last_active_at: float
    owner: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    expires_after: ExpiresAfter | None = None
    expires_at: float | None = None
    file_counts: FileCounts = FileCounts()
    usage_bytes: int = 0

    def status(self, now: float) -> str:
        """``expired``, ``in_progress`` (a file is being ingested) or ``completed``."""
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "in_progress" if self.file_counts.in_progress else "completed"


@dataclass(frozen=True, slots=True)
class StoreFile:
    """One file in one store: its ingestion status, chunking and attributes."""

    store_id: str
    file_id: str
    status: FileStatus
    created_at: float
    chunking: dict[str, Any]
    """The chunking strategy, as OpenAI shapes it ({"type": "static", "static": {...}})."""
    attributes: Attributes = field(default_factory=dict)
    last_error: dict[str, str] | None = None
    """{"code": ..., "message": ...} once it failed."""
    usage_bytes: int = 0
    batch_id: str | None = None
    sha256: str | None = None
    """The hash of the file's bytes when it was ingested."""
    job_id: str | None = None


@dataclass(frozen=True, slots=True)
class FileBatch:
    """Files added to a store together; ``file_counts`` filled in by the store that reads it."""

    id: str
    store_id: str
    created_at: float
    cancelled: bool = False
    file_counts: FileCounts = FileCounts()

    @property
    def status(self) -> str:
        """``cancelled`` once asked, ``in_progress`` while a file is, else ``completed``
        (``failed`` when every file failed)."""
        if self.cancelled:
            return "cancelled"
        if self.file_counts.in_progress:
            return "in_progress"
        counts = self.file_counts
        return "failed" if counts.total and counts.failed == counts.total else "completed"


@dataclass(frozen=True, slots=True)
class Chunk:
    """One piece of a file's text and its embedding, numbered from 0 within the file."""

    file_id: str
    seq: int
    text: str
    tokens: int
    vector: Vector


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk a search found, and its cosine distance to the query (0 is the same)."""

    file_id: str
    seq: int
    text: str
    distance: float

    @property
    def score(self) -> float:
        """Cosine similarity, clipped to [0, 1]: what OpenAI's ``score`` and the
        ``score_threshold`` compare."""
        return min(1.0, max(0.0, 1.0 - self.distance))
