"""Checking a model's files: the cheap check (sizes and modification times against the
manifest) behind a model's state, and the full one that re-hashes every file."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.models.digest import digest_file
from berth.models.manifest import FileRecord, Manifest, ModelState, now
from berth.models.spec import ModelSpec


@dataclass(frozen=True)
class FileCheck:
    """One file re-hashed: what it should be and what it is (None: the file is missing)."""

    name: str
    expected: str | None
    actual: str | None
    size: int | None

    @property
    def ok(self) -> bool:
        return self.actual is not None and self.expected in (None, self.actual)

    def describe(self) -> str:
        """Why the file is bad, in words."""
        if self.actual is None:
            return f"'{self.name}' is missing"
        return f"'{self.name}' has sha256 {self.actual}, expected {self.expected}"


@dataclass(frozen=True)
class VerifyReport:
    """The outcome of re-hashing one model's files."""

    alias: str
    state: ModelState
    files: tuple[FileCheck, ...] = ()

    @property
    def bad(self) -> tuple[FileCheck, ...]:
        return tuple(check for check in self.files if not check.ok)

    @property
    def total_bytes(self) -> int:
        return sum(check.size or 0 for check in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "alias": self.alias,
            "state": self.state.value,
            "files": len(self.files),
            "bytes": self.total_bytes,
            "problems": [check.describe() for check in self.bad],
        }


def judge(
    spec: ModelSpec, manifest: Manifest | None, present: Mapping[str, Path], *, owned: bool
) -> ModelState:
    """A model's state from its manifest and the files on disk, without hashing anything.

    ``owned``: the cache put the files there (a hub pull), so the manifest lists exactly what
    must be present; otherwise (a package or local folder) the manifest is only the record of
    the last verification, and a difference means "changed since", not "corrupt".
    """
    if owned and manifest is None:
        return ModelState.MISSING
    if any(name not in present for name in spec.sha256):
        return ModelState.CORRUPT
    if manifest is None:
        return ModelState.CACHED
    for name, record in manifest.files.items():
        path = present.get(name)
        if owned and (path is None or path.stat().st_size != record.size):
            return ModelState.CORRUPT
        if owned and spec.sha256.get(name, record.sha256) != record.sha256:
            return ModelState.CORRUPT
    if manifest.corrupt:
        return ModelState.CORRUPT
    if manifest.verified_at is None or not _unchanged(manifest.files, present):
        return ModelState.CACHED
    return ModelState.VERIFIED


def rehash(
    spec: ModelSpec,
    expected: Mapping[str, str | None],
    present: Mapping[str, Path],
    on_bytes: Callable[[str, int], None] | None = None,
) -> tuple[FileCheck, ...]:
    """Hash every file in ``expected`` (name -> sha256, None if unknown) that is present."""
    checks = []
    for name in sorted(expected):
        path = present.get(name)
        if path is None:
            checks.append(FileCheck(name, expected[name], None, None))
            continue
        digest = digest_file(path, _named(on_bytes, name))
        want = spec.sha256.get(name, expected[name])
        checks.append(FileCheck(name, want, digest.sha256, digest.size))
    return tuple(checks)


def record(base: Manifest, checks: tuple[FileCheck, ...], present: Mapping[str, Path]) -> Manifest:
    """``base`` updated with a verification's outcome (bad files keep their expected hash)."""
    files = dict(base.files)
    for check in checks:
        path = present.get(check.name)
        if check.ok and check.actual is not None and path is not None:
            stat = path.stat()
            files[check.name] = FileRecord(
                size=stat.st_size, sha256=check.actual, mtime_ns=stat.st_mtime_ns
            )
    corrupt = tuple(check.name for check in checks if not check.ok)
    return base.model_copy(update={"files": files, "verified_at": now(), "corrupt": corrupt})


def _named(on_bytes: Callable[[str, int], None] | None, name: str) -> Callable[[int], None] | None:
    if on_bytes is None:
        return None
    report = on_bytes
    return lambda count: report(name, count)


def _unchanged(files: Mapping[str, FileRecord], present: Mapping[str, Path]) -> bool:
    if set(files) != set(present):
        return False
    for name, entry in files.items():
        stat = present[name].stat()
        if stat.st_size != entry.size or stat.st_mtime_ns != entry.mtime_ns:
            return False
    return True
