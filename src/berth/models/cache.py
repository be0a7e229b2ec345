"""The model cache: where each catalog entry's files are, whether they are intact, and
pulling, verifying and removing them (layout in :mod:`berth.models.layout`)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

from filelock import FileLock, Timeout

from berth import errors
from berth.models.hub import HubClient
from berth.models.layout import ModelDir
from berth.models.manifest import Manifest, ModelState
from berth.models.pull import ProgressSink, Pull, PullProgress
from berth.models.spec import HubSource, LocalSource, ModelSpec, NoSource, PackageSource
from berth.models.verify import VerifyReport, judge, record, rehash
from berth.settings import Settings


class ModelCache:
    """The verified offline cache under ``settings.models_dir``.

    Reading (``path_for``, ``state``) never touches the network; only ``pull`` does, at the
    hub ``settings.hub_endpoint`` names. Every method blocks: call them from a thread (or a
    job) in async code.
    """

    def __init__(self, settings: Settings, hub: HubClient | None = None) -> None:
        self.root = settings.models_dir
        self.hub = hub or HubClient(settings.hub_endpoint)

    def folder(self, alias: str) -> ModelDir:
        """The cache paths of ``alias``."""
        return ModelDir(self.root, alias)

    def path_for(self, spec: ModelSpec) -> Path | None:
        """The folder a runner loads ``spec`` from (None: it needs no files).

        Raises ModelNotCached when the files are not there and ModelCorrupt when a check
        failed; never downloads.
        """
        source = spec.parsed_source
        if isinstance(source, NoSource):
            return None
        directory = self._directory(spec)
        state = self.state(spec)
        if state is ModelState.MISSING:
            raise errors.ModelNotCached(self._not_cached(spec))
        if state is ModelState.CORRUPT:
            raise errors.ModelCorrupt(
                f"Model '{spec.alias}' is corrupt in the cache: a file is missing or does not "
                f"match its sha256. Run `berth models verify {spec.alias}` to see which, then "
                f"{_remedy(spec)}"
            )
        return directory

    def state(self, spec: ModelSpec) -> ModelState:
        """Missing, cached, verified or corrupt, from sizes and times only (no hashing)."""
        source = spec.parsed_source
        if isinstance(source, NoSource):
            return ModelState.VERIFIED
        try:
            directory = self._directory(spec)
            manifest = self.manifest(spec)
        except errors.ModelNotCached:
            return ModelState.MISSING
        except errors.ModelCorrupt:
            return ModelState.CORRUPT
        owned = isinstance(source, HubSource)
        return judge(spec, manifest, self._present(spec, directory), owned=owned)

    def manifest(self, spec: ModelSpec) -> Manifest | None:
        """The manifest for ``spec`` as the catalog now describes it (None if none matches)."""
        manifest = Manifest.read(self.folder(spec.alias).manifest)
        if manifest is None or manifest.source != spec.source:
            return None
        if isinstance(spec.parsed_source, HubSource) and manifest.patterns != spec.files:
            return None
        return manifest

    def size(self, spec: ModelSpec) -> int | None:
        """Bytes the model's files take on disk (None: not there, or it has none)."""
        if isinstance(spec.parsed_source, NoSource):
            return None
        try:
            directory = self._directory(spec)
        except errors.ModelNotCached:
            return None
        present = self._present(spec, directory)
        return sum(path.stat().st_size for path in present.values()) if present else None

    def pull(self, spec: ModelSpec, on_progress: ProgressSink | None = None) -> Manifest:
        """Download ``spec``'s files from the hub, verify them and record the manifest.

        A pinned revision that is already verified needs no network. An interrupted pull
        leaves its partial files; the next one resumes them.
        """
        source = spec.parsed_source
        if not isinstance(source, HubSource):
            raise errors.InvalidRequest(f"Nothing to pull: {_not_on_hub(spec)}")
        with self._locked(spec.alias, "pull"):
            current = self._current(spec)
            if current is not None and current.revision == source.revision:
                return current
            listing = self.hub.listing(source)
            if current is not None and current.revision == listing.commit:
                return current
            return Pull(spec, source, self.folder(spec.alias), self.hub, on_progress).run(listing)

    def verify(self, spec: ModelSpec, on_progress: ProgressSink | None = None) -> VerifyReport:
        """Re-hash every file of ``spec``, record the outcome and return it."""
        source = spec.parsed_source
        if isinstance(source, NoSource):
            return VerifyReport(spec.alias, ModelState.VERIFIED)
        with self._locked(spec.alias, "verify"):
            try:
                directory = self._directory(spec)
                base = self._verified_against(spec)
            except errors.ModelNotCached:
                return VerifyReport(spec.alias, ModelState.MISSING)
            present = self._present(spec, directory)
            names = base.files or present
            expected: dict[str, str | None] = {name: None for name in names}
            expected.update({name: entry.sha256 for name, entry in base.files.items()})
            expected.update(spec.sha256)
            total = sum(path.stat().st_size for name, path in present.items() if name in expected)
            checks = rehash(spec, expected, present, _hash_progress(spec, total, on_progress))
            record(base, checks, present).write(self.folder(spec.alias).manifest)
        state = ModelState.VERIFIED if all(check.ok for check in checks) else ModelState.CORRUPT
        return VerifyReport(spec.alias, state, checks)

    def remove(self, spec: ModelSpec) -> int:
        """Delete ``spec``'s cached files (partial downloads too); return the bytes freed."""
        if not isinstance(spec.parsed_source, HubSource):
            raise errors.InvalidRequest(f"Nothing to remove: {_not_on_hub(spec)}")
        folder = self.folder(spec.alias)
        with self._locked(spec.alias, "removal"):
            freed = folder.size()
            folder.manifest.unlink(missing_ok=True)
            shutil.rmtree(folder.path, ignore_errors=True)
        return freed

    def _verified_against(self, spec: ModelSpec) -> Manifest:
        """What a verification compares with: a hub model's manifest (ModelNotCached without
        one); for a package or local folder, a fresh record of whatever files it holds."""
        if not isinstance(spec.parsed_source, HubSource):
            return Manifest(alias=spec.alias, source=spec.source, files={})
        manifest = self.manifest(spec)
        if manifest is None:
            raise errors.ModelNotCached(self._not_cached(spec))
        return manifest

    def _current(self, spec: ModelSpec) -> Manifest | None:
        """The manifest, if the cached files are verified for what the catalog names."""
        if self.state(spec) is not ModelState.VERIFIED:
            return None
        return self.manifest(spec)

    def _directory(self, spec: ModelSpec) -> Path:
        """Where the runner finds the files; raises ModelNotCached if it does not exist."""
        source = spec.parsed_source
        if isinstance(source, HubSource):
            return self.folder(spec.alias).files
        if isinstance(source, PackageSource):
            directory = _package_dir(spec, source)
        elif isinstance(source, LocalSource):
            directory = source.path
        else:
            raise errors.InvalidRequest(f"Model '{spec.alias}' needs no files.")
        if not directory.is_dir():
            raise errors.ModelNotCached(
                f"Model '{spec.alias}' reads its files from {directory}, which is not a folder. "
                "Fix the catalog's source."
            )
        return directory

    def _present(self, spec: ModelSpec, directory: Path) -> dict[str, Path]:
        """The model's files on disk by repo-relative name (selected by its patterns)."""
        if not directory.is_dir():
            return {}
        owned = isinstance(spec.parsed_source, HubSource)
        found = {}
        for path in directory.rglob("*"):
            name = path.relative_to(directory).as_posix()
            if path.is_file() and (owned or (spec.wants(name) and not _hidden(name))):
                found[name] = path
        return found

    def _not_cached(self, spec: ModelSpec) -> str:
        stale = Manifest.read(self.folder(spec.alias).manifest)
        if stale is not None and stale.source != spec.source:
            return (
                f"Model '{spec.alias}' is cached from {stale.source}, but the catalog now names "
                f"{spec.source}. Run `berth models pull {spec.alias}`."
            )
        return f"Model '{spec.alias}' is not in the cache. Run `berth models pull {spec.alias}`."

    @contextmanager
    def _locked(self, alias: str, doing: str) -> Iterator[None]:
        lock_path = self.folder(alias).lock
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with FileLock(str(lock_path), timeout=0):
                yield
        except Timeout:
            raise errors.ModelError(
                f"Cannot start the {doing} of '{alias}': another pull, verify or removal of it "
                f"is running (it holds {lock_path}). Wait for it to finish."
            ) from None


def _package_dir(spec: ModelSpec, source: PackageSource) -> Path:
    try:
        root = resources.files(source.module)
    except ModuleNotFoundError:
        raise errors.ModelNotCached(
            f"Model '{spec.alias}' ships with the Python package '{source.module}', which is "
            "not installed. Install it into Berth's environment."
        ) from None
    return Path(str(root.joinpath(source.subdir) if source.subdir else root))


def _hidden(name: str) -> bool:
    return any(part.startswith(".") or part == "__pycache__" for part in name.split("/"))


def _not_on_hub(spec: ModelSpec) -> str:
    source = spec.parsed_source
    if isinstance(source, PackageSource):
        return f"model '{spec.alias}' ships with the Python package '{source.module}'."
    if isinstance(source, LocalSource):
        return f"model '{spec.alias}' reads its files from {source.path}, which Berth does not own."
    return f"model '{spec.alias}' needs no files."


def _remedy(spec: ModelSpec) -> str:
    if isinstance(spec.parsed_source, HubSource):
        return f"run `berth models pull {spec.alias}` to fetch it again."
    return "reinstall or restore its files."


def _hash_progress(
    spec: ModelSpec, total: int, sink: ProgressSink | None
) -> Callable[[str, int], None] | None:
    """Report re-hashing as progress through the same sink pulls use."""
    if sink is None:
        return None
    report = sink
    done = 0

    def on_bytes(name: str, count: int) -> None:
        nonlocal done
        done += count
        report(PullProgress(spec.alias, name, "verify", done, max(total, done)))

    return on_bytes
