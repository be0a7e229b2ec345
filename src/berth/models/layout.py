"""Where one model lives in the cache::

HOME/models/
  .locks/<alias>.lock          held while a pull or a removal runs
  <alias>/
    manifest.json              written last: the model is cached once it exists
    files/<repo path>          the model's files, as the runner loads them
    .partial/<repo path>.incomplete   downloads in progress, resumed by the next pull
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from berth import errors


class ModelDir:
    """The cache paths of one alias."""

    def __init__(self, root: Path, alias: str) -> None:
        self.root = root
        self.alias = alias
        self.path = root / alias
        self.files = self.path / "files"
        self.partial = self.path / ".partial"
        self.manifest = self.path / "manifest.json"
        self.lock = root / ".locks" / f"{alias}.lock"

    def file(self, name: str) -> Path:
        """Where the file ``name`` (a repo-relative POSIX path) lives once complete."""
        return self.files.joinpath(*self._parts(name))

    def partial_file(self, name: str) -> Path:
        """Where the file ``name`` is downloaded to before it is checked and moved in place."""
        *folders, leaf = self._parts(name)
        return self.partial.joinpath(*folders, leaf + ".incomplete")

    def size(self) -> int:
        """Bytes everything under the alias's folder takes (files, partial downloads)."""
        if not self.path.exists():
            return 0
        return sum(entry.stat().st_size for entry in self.path.rglob("*") if entry.is_file())

    def _parts(self, name: str) -> tuple[str, ...]:
        path = PurePosixPath(name)
        if path.is_absolute() or not path.parts or ".." in path.parts or "\\" in name:
            raise errors.DownloadFailed(
                f"Model '{self.alias}': the file name '{name}' would leave the model's folder; "
                "refusing it. Check the model's source."
            )
        return path.parts
