"""The record of an uploaded file, and the purposes a file may have."""

from __future__ import annotations

import enum
from dataclasses import dataclass

FILE_ID_PREFIX = "file-"


class Purpose(enum.StrEnum):
    """What a file is for, as OpenAI names it; JSONL purposes are checked line by line."""

    EVALS = "evals"
    FINE_TUNE = "fine-tune"
    ASSISTANTS = "assistants"
    BATCH = "batch"
    USER_DATA = "user_data"

    @property
    def jsonl(self) -> bool:
        """Whether files of this purpose must be JSONL (one JSON object per line)."""
        return self in {Purpose.EVALS, Purpose.FINE_TUNE, Purpose.BATCH}


@dataclass(frozen=True, slots=True)
class StoredFile:
    """One uploaded file, as the store holds it."""

    id: str
    filename: str
    purpose: Purpose
    bytes: int
    sha256: str
    created_at: float
    owner: str | None = None
    """The API key (its id) that uploaded it; None for an anonymous loopback caller."""
    lines: int | None = None
    """For a JSONL file, how many records it holds."""
