"""File digests: the sha256 Berth records, and the git blob id a model hub reports."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Digest:
    """What one file hashes to."""

    size: int
    sha256: str
    git_sha1: str
    """The file's git blob id (``sha1("blob <size>\\0" + content)``): what a hub reports as
    ``blobId`` for files kept in git rather than LFS."""


def digest_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> Digest:
    """Hash ``path`` in one pass; ``on_bytes`` is told how many bytes each chunk had."""
    size = path.stat().st_size
    sha256 = hashlib.sha256()
    git = hashlib.sha1(f"blob {size}\0".encode(), usedforsecurity=False)
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            sha256.update(chunk)
            git.update(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return Digest(size, sha256.hexdigest(), git.hexdigest())
