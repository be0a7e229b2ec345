"""``/v1/files``: upload, list, look up, download and delete files (OpenAI's Files API).

Uploads are multipart (``file``, ``purpose``), checked for their purpose before they are
stored (JSONL purposes line by line); bodies may be up to BERTH_MAX_FILE_BYTES.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse

from berth.api.schemas.files import FileDeleted, FileList, FileObject
from berth.http.auth import JobsCaller
from berth.http.runtime import ServicesDep

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("", response_model=FileObject)
async def upload_file(
    key: JobsCaller,
    services: ServicesDep,
    file: Annotated[UploadFile, File(description="The file's bytes.")],
    purpose: Annotated[str, Form(description="evals, fine-tune, assistants, batch or user_data")],
) -> FileObject:
    """Store a file for ``purpose``; JSONL purposes (evals, fine-tune, batch) are checked line
    by line and refused with the line and field named."""
    stored = await services.files.upload(key, file.filename or "upload", purpose, file.file)
    return FileObject.of(stored)


@router.get("", response_model=FileList)
async def list_files(
    key: JobsCaller,
    services: ServicesDep,
    purpose: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 10_000,
    order: Annotated[Literal["asc", "desc"], Query()] = "desc",
    after: Annotated[str | None, Query(max_length=40, description="A file id: the cursor.")] = None,
) -> FileList:
    """The caller's files, newest first (``order=asc`` for oldest first)."""
    found = await services.files.list_files(
        key, purpose=purpose, after=after, limit=limit + 1, newest_first=order == "desc"
    )
    page = found[:limit]
    return FileList(
        data=[FileObject.of(f) for f in page],
        first_id=page[0].id if page else None,
        last_id=page[-1].id if page else None,
        has_more=len(found) > limit,
    )


@router.get("/{file_id}", response_model=FileObject)
async def get_file(file_id: str, key: JobsCaller, services: ServicesDep) -> FileObject:
    """One file's record."""
    return FileObject.of(await services.files.get(key, file_id))


@router.get("/{file_id}/content", response_class=FileResponse)
async def file_content(file_id: str, key: JobsCaller, services: ServicesDep) -> FileResponse:
    """The file's bytes."""
    stored, path = await services.files.content(key, file_id)
    return FileResponse(path, filename=stored.filename, media_type="application/octet-stream")


@router.delete("/{file_id}", response_model=FileDeleted)
async def delete_file(file_id: str, key: JobsCaller, services: ServicesDep) -> FileDeleted:
    """Delete the file (its record and its bytes)."""
    stored = await services.files.delete(key, file_id)
    return FileDeleted(id=stored.id)
