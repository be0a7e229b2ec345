"""Manifests: the record, written last, that says a model's files are complete and verified.

A model is cached only when its manifest exists: a pull writes it after every file is in place
and matches its sha256, so a download that stopped half-way never looks complete.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import os
from pathlib import Path
from typing import Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from berth import errors


class ModelState(enum.StrEnum):
    """Where a model stands, as `berth models ls` shows it."""

    MISSING = "missing"
    """Its files are not in the cache (never pulled, removed, or pulled for another source)."""
    CACHED = "cached"
    """Its files are complete, but changed on disk (or were never hashed) since the last
    verification: `berth models verify` re-hashes them."""
    VERIFIED = "verified"
    """Its files are complete and unchanged since they last matched their sha256."""
    CORRUPT = "corrupt"
    """A file is missing, has the wrong size, or did not match its sha256 when last hashed."""
    LOADED = "loaded"
    """A live worker holds it in memory (reported by the workers, not by the cache)."""


class FileRecord(BaseModel):
    """One file of a model, as it was when last hashed."""

    model_config = ConfigDict(frozen=True)

    size: int = Field(ge=0)
    sha256: str
    mtime_ns: int | None = None
    """Modification time when hashed; a different one means the file changed since."""


class Manifest(BaseModel):
    """What the cache holds for one alias (``HOME/models/<alias>/manifest.json``)."""

    model_config = ConfigDict(frozen=True)

    format: Literal[1] = 1
    alias: str
    source: str
    patterns: tuple[str, ...] = ()
    """The catalog's ``files`` patterns the pull selected with."""
    revision: str | None = None
    """For hub sources, the commit the revision resolved to when pulled."""
    endpoint: str | None = None
    files: dict[str, FileRecord]
    pulled_at: dt.datetime | None = None
    verified_at: dt.datetime | None = None
    corrupt: tuple[str, ...] = ()
    """Files that did not match their sha256 when last verified."""

    @property
    def total_bytes(self) -> int:
        return sum(record.size for record in self.files.values())

    @classmethod
    def read(cls, path: Path) -> Manifest | None:
        """The manifest at ``path``, None if there is none; raises ModelCorrupt if unreadable."""
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            raise errors.ModelCorrupt(
                f"Cannot read the manifest {path}: {exc}. Pull the model again."
            ) from exc
        try:
            return cls.model_validate_json(text)
        except pydantic.ValidationError as exc:
            raise errors.ModelCorrupt(
                f"The manifest {path} is damaged ({exc.error_count()} problems). "
                "Pull the model again."
            ) from exc

    def write(self, path: Path) -> None:
        """Write atomically: readers see the old manifest or the new one, never half of one."""
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(self.model_dump(mode="json"), indent=2) + "\n")
        with temporary.open("rb") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, path)


def now() -> dt.datetime:
    """The current time in UTC, as manifests record it."""
    return dt.datetime.now(dt.UTC)
