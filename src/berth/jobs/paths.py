"""Which files on the server a job's input may name: those under BERTH_HOME or a data folder.

Without this rule, anyone who may submit a job could have the server read any file it can
(``{"jsonl": "/etc/shadow"}``). A name is resolved first (relative names are relative to
BERTH_HOME; symbolic links and ``..`` are followed), so nothing escapes by spelling.

Input models declare such fields as :data:`ServerPath`; :meth:`JobKind.parse` checks them at
submit time when it is given the roots (``context={"roots": roots}``), and the job checks
them again where it runs, with :meth:`DataRoots.file`, against that worker's folders.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo
from pydantic_core import PydanticCustomError

from berth import errors
from berth.files.file import FILE_ID_PREFIX

ROOTS_CONTEXT = "roots"
"""The validation-context key under which :class:`DataRoots` travel."""


class DataRoots:
    """The folders job inputs may read from: BERTH_HOME first, then BERTH_DATA_DIRS."""

    def __init__(self, home: Path, data_dirs: Sequence[Path] = ()) -> None:
        self.home = home.expanduser().resolve()
        self.folders = (self.home, *(folder.expanduser().resolve() for folder in data_dirs))

    def rule(self) -> str:
        listed = ", ".join(str(folder) for folder in self.folders)
        return (
            f"Jobs read files only under BERTH_HOME or BERTH_DATA_DIRS ({listed}). Move the "
            "file there, add its folder to BERTH_DATA_DIRS, or upload it through /v1/files."
        )

    def resolve(self, name: str) -> Path:
        """The file ``name`` means, resolved; raises PathNotAllowed if it lies outside. An
        uploaded file's id (``file-...``) means its bytes under ``BERTH_HOME/files``."""
        if name.startswith(FILE_ID_PREFIX) and "/" not in name and "\\" not in name:
            return (self.home / "files" / name).resolve()
        path = Path(name).expanduser()
        resolved = (path if path.is_absolute() else self.home / path).resolve()
        if not any(resolved.is_relative_to(folder) for folder in self.folders):
            raise errors.PathNotAllowed(f"The path '{name}' is outside the allowed folders. "
                                        + self.rule())  # fmt: skip
        return resolved

    def file(self, name: str, what: str = "file", expect: str = "") -> Path:
        """The allowed, existing file ``name``; raises InvalidJobInput naming what to give
        (``what``: "audio file", ...; ``expect``: what it should hold)."""
        path = self.resolve(name)
        if not path.is_file():
            state = "is not a file" if path.exists() else "does not exist"
            raise errors.InvalidJobInput(
                f"The {what} {path} {state} on this worker. Give the path of {expect or 'a file'}"
                ", absolute or relative to BERTH_HOME."
            )
        return path


def _allowed(value: str, info: ValidationInfo) -> str:
    roots = (info.context or {}).get(ROOTS_CONTEXT)
    if isinstance(roots, DataRoots):
        try:
            roots.resolve(value)
        except errors.PathNotAllowed as exc:
            raise PydanticCustomError("path_not_allowed", exc.message) from None
    return value


ServerPath = Annotated[str, Field(min_length=1), AfterValidator(_allowed)]
"""A job input field naming a file on the server, checked against :class:`DataRoots`."""
