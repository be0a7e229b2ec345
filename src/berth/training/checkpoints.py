"""Checkpoints on disk, under the job's folder: ``checkpoints/step-00000010/``.

Each is written into a temporary folder, its files hashed into ``manifest.json`` (written
last), flushed, and renamed into place, so a folder named ``step-*`` is whole or absent. On
resume the newest checkpoint whose files all match the manifest wins; a torn or tampered one
is skipped, never loaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth import errors

MANIFEST = "manifest.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
STEP_PREFIX = "step-"
CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    """The sha256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checked_adapter(alias: str, folder: Path, sha256: str | None) -> Path:
    """The adapter weights in ``folder`` of model ``alias``, after checking they are there
    (ModelLoadFailed) and, with ``sha256``, that they have it (ModelCorrupt)."""
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        raise errors.ModelLoadFailed(f"Model '{alias}': no adapter weights at {weights}.")
    if sha256 and file_sha256(weights) != sha256:
        raise errors.ModelCorrupt(
            f"Model '{alias}': the adapter at {weights} does not match its sha256. "
            "Train it again or restore the file."
        )
    return weights


@dataclass(frozen=True, slots=True)
class SavedCheckpoint:
    """One complete checkpoint: its step, folder, file hashes and what the trainer noted."""

    step: int
    path: Path
    files: dict[str, str]
    """Each file's sha256, by its path inside the folder."""
    metrics: dict[str, float]

    @property
    def adapter_sha256(self) -> str:
        """The adapter weights' sha256 (what a catalog entry for this adapter pins)."""
        return self.files.get(ADAPTER_WEIGHTS, "")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class CheckpointStore:
    """A job's checkpoints in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, step: int) -> Path:
        return self.root / f"{STEP_PREFIX}{step:08d}"

    def save(
        self, step: int, write: Callable[[Path], None], metrics: dict[str, float] | None = None
    ) -> SavedCheckpoint:
        """Write a checkpoint: ``write(folder)`` fills a temporary folder, then it is hashed,
        flushed and renamed to ``step-NNNNNNNN`` (replacing one of the same step)."""
        self.root.mkdir(parents=True, exist_ok=True)
        temporary = self.root / f".tmp-{step:08d}-{os.getpid()}"
        shutil.rmtree(temporary, ignore_errors=True)
        temporary.mkdir()
        write(temporary)
        files = {}
        for path in sorted(p for p in temporary.rglob("*") if p.is_file()):
            _fsync(path)
            files[path.relative_to(temporary).as_posix()] = file_sha256(path)
        manifest = {"step": step, "files": files, "metrics": metrics or {}}
        (temporary / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        _fsync(temporary / MANIFEST)
        _fsync(temporary)
        target = self.path_for(step)
        if target.exists():
            shutil.rmtree(target)
        temporary.rename(target)
        _fsync(self.root)
        return SavedCheckpoint(step, target, files, dict(metrics or {}))

    def read(self, path: Path) -> SavedCheckpoint | None:
        """The checkpoint in ``path`` if its manifest is there and every file matches it."""
        try:
            manifest: dict[str, Any] = json.loads((path / MANIFEST).read_text())
            files = {str(name): str(digest) for name, digest in manifest["files"].items()}
            step = int(manifest["step"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for name, digest in files.items():
            try:
                if file_sha256(path / name) != digest:
                    return None
            except OSError:
                return None
        metrics = {str(k): float(v) for k, v in manifest.get("metrics", {}).items()}
        return SavedCheckpoint(step, path, files, metrics)

    def saved(self) -> list[Path]:
        """The renamed-into-place checkpoint folders, oldest step first."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob(f"{STEP_PREFIX}*") if p.is_dir())

    def latest(self) -> SavedCheckpoint | None:
        """The newest complete checkpoint, or None."""
        for path in reversed(self.saved()):
            if (found := self.read(path)) is not None:
                return found
        return None

    def clear_temporary(self) -> None:
        """Remove folders a killed writer left half written."""
        if self.root.is_dir():
            for path in self.root.glob(".tmp-*"):
                shutil.rmtree(path, ignore_errors=True)
