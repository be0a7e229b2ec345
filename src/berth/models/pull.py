"""Pulling a model from the hub: select its files, download each resumably, check every
sha256, then write the manifest that makes it cached."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from berth import errors
from berth.models.digest import Digest, digest_file
from berth.models.hub import HubClient, HubFile, HubListing
from berth.models.layout import ModelDir
from berth.models.manifest import FileRecord, Manifest, now
from berth.models.spec import HubSource, ModelSpec


@dataclass(frozen=True)
class PullProgress:
    """How far a pull is: bytes done (downloaded, resumed or reused) out of the total."""

    alias: str
    file: str
    phase: Literal["download", "verify"]
    done: int
    total: int


ProgressSink = Callable[[PullProgress], None]


def select_files(spec: ModelSpec, listing: HubListing) -> list[HubFile]:
    """The repo files the entry's ``files`` patterns pick (all of them without patterns)."""
    chosen = [file for file in listing.files if spec.wants(file.name)]
    if not chosen:
        patterns = ", ".join(spec.files)
        raise errors.CatalogError(
            f"Catalog entry '{spec.alias}': no file of {listing.repo} at {listing.commit} "
            f"matches its files patterns ({patterns}). Fix the patterns."
        )
    unknown = sorted(set(spec.sha256) - {file.name for file in chosen})
    if unknown:
        raise errors.CatalogError(
            f"Catalog entry '{spec.alias}': sha256 names '{unknown[0]}', which is not among "
            f"the files pulled from {listing.repo} at {listing.commit}. Fix the entry."
        )
    return chosen


class Pull:
    """One pull of one model into its cache folder; :meth:`run` does it."""

    def __init__(
        self,
        spec: ModelSpec,
        source: HubSource,
        folder: ModelDir,
        hub: HubClient,
        on_progress: ProgressSink | None = None,
    ) -> None:
        self.spec = spec
        self.source = source
        self.folder = folder
        self.hub = hub
        self.on_progress = on_progress
        self.done = 0
        self.total = 0

    def run(self, listing: HubListing) -> Manifest:
        """Fetch and check every selected file of ``listing``; write and return the manifest."""
        files = select_files(self.spec, listing)
        self.total = sum(file.size or 0 for file in files)
        self.folder.manifest.unlink(missing_ok=True)
        records = {file.name: self._fetch(listing, file) for file in files}
        self._prune(set(records))
        manifest = Manifest(
            alias=self.spec.alias,
            source=self.spec.source,
            patterns=self.spec.files,
            revision=listing.commit,
            endpoint=self.hub.url,
            files=records,
            pulled_at=now(),
            verified_at=now(),
        )
        manifest.write(self.folder.manifest)
        return manifest

    def _fetch(self, listing: HubListing, file: HubFile) -> FileRecord:
        final = self.folder.file(file.name)
        if final.exists() and (file.size is None or final.stat().st_size == file.size):
            self._report(file.name, "verify")
            digest = digest_file(final)
            if self._problem(file, digest) is None:
                self._advance(file.name, digest.size)
                return _record(digest, final.stat().st_mtime_ns)
            final.unlink()
        partial = self.folder.partial_file(file.name)
        if partial.exists():
            self._advance(file.name, partial.stat().st_size)
        try:
            self.hub.download(
                listing.repo, listing.commit, file, partial, lambda n: self._advance(file.name, n)
            )
        except errors.DownloadFailed as exc:
            raise errors.DownloadFailed(f"Model '{self.spec.alias}': {exc.message}") from exc
        self._report(file.name, "verify")
        digest = digest_file(partial)
        problem = self._problem(file, digest)
        if problem is not None:
            partial.unlink()
            raise errors.ModelCorrupt(
                f"Model '{self.spec.alias}': file '{file.name}' from {self.source} {problem}. "
                "The download was discarded and nothing was cached: pull again, or fix the "
                "catalog's sha256 if the model changed."
            )
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
        return _record(digest, final.stat().st_mtime_ns)

    def _problem(self, file: HubFile, digest: Digest) -> str | None:
        """Why the bytes are not the file the catalog and the hub describe, if they are not."""
        expected = self.spec.sha256.get(file.name)
        if expected is not None and digest.sha256 != expected:
            return f"has sha256 {digest.sha256}, but the catalog expects {expected}"
        if file.sha256 is not None and digest.sha256 != file.sha256:
            return f"has sha256 {digest.sha256}, but the hub lists {file.sha256}"
        if file.git_sha1 is not None and digest.git_sha1 != file.git_sha1:
            return f"has git blob id {digest.git_sha1}, but the hub lists {file.git_sha1}"
        if file.size is not None and digest.size != file.size:
            return f"has {digest.size} bytes, but the hub lists {file.size}"
        return None

    def _prune(self, keep: set[str]) -> None:
        """Drop files of an earlier revision that this one does not have, and partials."""
        if self.folder.files.exists():
            for path in sorted(self.folder.files.rglob("*"), reverse=True):
                name = path.relative_to(self.folder.files).as_posix()
                if path.is_file() and name not in keep:
                    path.unlink()
                elif path.is_dir() and not any(path.iterdir()):
                    path.rmdir()
        shutil.rmtree(self.folder.partial, ignore_errors=True)

    def _advance(self, name: str, count: int) -> None:
        self.done += count
        self._report(name, "download")

    def _report(self, name: str, phase: Literal["download", "verify"]) -> None:
        if self.on_progress is not None:
            total = max(self.total, self.done)
            self.on_progress(PullProgress(self.spec.alias, name, phase, self.done, total))


def _record(digest: Digest, mtime_ns: int) -> FileRecord:
    return FileRecord(size=digest.size, sha256=digest.sha256, mtime_ns=mtime_ns)
