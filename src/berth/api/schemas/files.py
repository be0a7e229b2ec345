"""OpenAI-shaped bodies of the Files API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from berth.files.file import StoredFile


class FileObject(BaseModel):
    """One file, as OpenAI's Files API describes it (plus its sha256 and line count)."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: Literal["processed"] = "processed"
    status_details: str | None = None
    expires_at: int | None = None
    sha256: str
    lines: int | None = None

    @classmethod
    def of(cls, file: StoredFile) -> FileObject:
        return cls(
            id=file.id,
            bytes=file.bytes,
            created_at=int(file.created_at),
            filename=file.filename,
            purpose=file.purpose.value,
            sha256=file.sha256,
            lines=file.lines,
        )


class FileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class FileDeleted(BaseModel):
    id: str
    object: Literal["file"] = "file"
    deleted: bool = True
