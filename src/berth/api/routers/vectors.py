"""``/v1/vector_stores``: stores, their files and file batches, and search (OpenAI's Vector
Stores API). Adding a file submits a ``vector-ingest`` job; the file's status follows it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from berth import errors
from berth.api.schemas.pages import page_of
from berth.api.schemas.vectors import (
    CreateFileBatch,
    CreateVectorStore,
    CreateVectorStoreFile,
    FileBatchObject,
    FileContentPage,
    SearchPage,
    SearchRequest,
    SearchResult,
    TextContent,
    UpdateAttributes,
    UpdateVectorStore,
    VectorStoreDeleted,
    VectorStoreFileDeleted,
    VectorStoreFileList,
    VectorStoreFileObject,
    VectorStoreList,
    VectorStoreObject,
)
from berth.http.auth import JobsCaller
from berth.http.runtime import ServicesDep
from berth.services import Services
from berth.vectors.record import StoreFile
from berth.vectors.store import UNSET

router = APIRouter(prefix="/v1/vector_stores", tags=["vector stores"])
Limit = Annotated[int, Query(ge=1, le=100)]
Order = Annotated[Literal["asc", "desc"], Query()]
After = Annotated[str | None, Query(max_length=40, description="An id: the cursor.")]
Before = Annotated[str | None, Query(max_length=40)]


def _no_before(before: str | None) -> None:
    if before is not None:
        raise errors.InvalidRequest("before: Berth pages forward only; use after (and order).")


def _store(services: Services, store: Any) -> VectorStoreObject:
    return VectorStoreObject.of(store, services.vectors.clock.now())


def _dump(body: Any) -> Any:
    return body.model_dump() if body is not None else None


@router.post("", response_model=VectorStoreObject)
async def create_store(
    body: CreateVectorStore, key: JobsCaller, services: ServicesDep
) -> VectorStoreObject:
    """A new store; ``file_ids`` are added to it (each ingested by a job)."""
    store = await services.vectors.create_store(
        key,
        name=body.name,
        metadata=body.metadata,
        expires_after=_dump(body.expires_after),
        file_ids=body.file_ids,
        chunking_strategy=_dump(body.chunking_strategy),
        model=body.model,
    )
    return _store(services, store)


@router.get("", response_model=VectorStoreList)
async def list_stores(
    key: JobsCaller,
    services: ServicesDep,
    limit: Limit = 20,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
) -> VectorStoreList:
    """The caller's stores, newest first (``order=asc`` for oldest first)."""
    _no_before(before)
    found = await services.vectors.list_stores(
        key, after=after, limit=limit + 1, newest_first=order == "desc"
    )
    page = page_of(found, limit, lambda store: store.id)
    return VectorStoreList(data=[_store(services, s) for s in page.items], **page.cursors())


@router.get("/{store_id}", response_model=VectorStoreObject)
async def get_store(store_id: str, key: JobsCaller, services: ServicesDep) -> VectorStoreObject:
    return _store(services, await services.vectors.get_store(key, store_id))


@router.post("/{store_id}", response_model=VectorStoreObject)
async def update_store(
    store_id: str, body: UpdateVectorStore, key: JobsCaller, services: ServicesDep
) -> VectorStoreObject:
    """Change the name, metadata or expiry (fields left out stay as they are); a new
    ``model`` re-embeds the store's files with it, each by a job."""
    given = body.model_fields_set
    if body.model is not None:
        await services.vectors.reembed(key, store_id, body.model)
    store = await services.vectors.update_store(
        key,
        store_id,
        name=body.name if "name" in given else UNSET,
        metadata=body.metadata if "metadata" in given else UNSET,
        expires_after=_dump(body.expires_after) if "expires_after" in given else UNSET,
    )
    return _store(services, store)


@router.delete("/{store_id}", response_model=VectorStoreDeleted)
async def delete_store(store_id: str, key: JobsCaller, services: ServicesDep) -> VectorStoreDeleted:
    """Delete the store and its chunks (the uploaded files stay)."""
    store = await services.vectors.delete_store(key, store_id)
    return VectorStoreDeleted(id=store.id)


@router.post("/{store_id}/search", response_model=SearchPage)
async def search(
    store_id: str, body: SearchRequest, key: JobsCaller, services: ServicesDep
) -> SearchPage:
    """The chunks nearest the query, with attribute filters and a score threshold."""
    if body.rewrite_query:
        raise errors.InvalidRequest(
            "rewrite_query: Berth searches for the query as it is sent; send false or leave it out."
        )
    queries = [body.query] if isinstance(body.query, str) else body.query
    threshold = body.ranking_options.score_threshold if body.ranking_options else None
    found = await services.vectors.search(
        key,
        store_id,
        queries,
        filters=body.filters,
        max_num_results=body.max_num_results,
        score_threshold=threshold,
    )
    return SearchPage(search_query=queries, data=[SearchResult.of(f) for f in found])


# -- files ---------------------------------------------------------------------------------


def _file_page(found: list[StoreFile], limit: int) -> VectorStoreFileList:
    page = page_of(found, limit, lambda record: record.file_id)
    return VectorStoreFileList(
        data=[VectorStoreFileObject.of(f) for f in page.items], **page.cursors()
    )


@router.post("/{store_id}/files", response_model=VectorStoreFileObject)
async def add_file(
    store_id: str, body: CreateVectorStoreFile, key: JobsCaller, services: ServicesDep
) -> VectorStoreFileObject:
    """Put an uploaded file in the store; a ``vector-ingest`` job chunks and embeds it."""
    added = await services.vectors.add_file(
        key,
        store_id,
        body.file_id,
        attributes=body.attributes,
        chunking_strategy=_dump(body.chunking_strategy),
    )
    return VectorStoreFileObject.of(added)


@router.get("/{store_id}/files", response_model=VectorStoreFileList)
async def list_files(
    store_id: str,
    key: JobsCaller,
    services: ServicesDep,
    limit: Limit = 20,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
    filter: Annotated[
        Literal["in_progress", "completed", "failed", "cancelled"] | None, Query()
    ] = None,
) -> VectorStoreFileList:
    """The store's files (of one status)."""
    _no_before(before)
    found = await services.vectors.list_files(
        key, store_id, status=filter, after=after, limit=limit + 1, newest_first=order == "desc"
    )
    return _file_page(found, limit)


@router.get("/{store_id}/files/{file_id}", response_model=VectorStoreFileObject)
async def get_file(
    store_id: str, file_id: str, key: JobsCaller, services: ServicesDep
) -> VectorStoreFileObject:
    return VectorStoreFileObject.of(await services.vectors.get_file(key, store_id, file_id))


@router.post("/{store_id}/files/{file_id}", response_model=VectorStoreFileObject)
async def update_file(
    store_id: str, file_id: str, body: UpdateAttributes, key: JobsCaller, services: ServicesDep
) -> VectorStoreFileObject:
    """Replace the file's attributes (what filters compare)."""
    changed = await services.vectors.update_attributes(key, store_id, file_id, body.attributes)
    return VectorStoreFileObject.of(changed)


@router.delete("/{store_id}/files/{file_id}", response_model=VectorStoreFileDeleted)
async def delete_file(
    store_id: str, file_id: str, key: JobsCaller, services: ServicesDep
) -> VectorStoreFileDeleted:
    """Take the file out of the store (the uploaded file stays)."""
    found = await services.vectors.delete_file(key, store_id, file_id)
    return VectorStoreFileDeleted(id=found.file_id)


@router.get("/{store_id}/files/{file_id}/content", response_model=FileContentPage)
async def file_content(
    store_id: str, file_id: str, key: JobsCaller, services: ServicesDep
) -> FileContentPage:
    """The file's chunks' texts, in order."""
    _, texts = await services.vectors.file_content(key, store_id, file_id)
    return FileContentPage(data=[TextContent(text=text) for text in texts])


# -- file batches --------------------------------------------------------------------------


@router.post("/{store_id}/file_batches", response_model=FileBatchObject)
async def create_batch(
    store_id: str, body: CreateFileBatch, key: JobsCaller, services: ServicesDep
) -> FileBatchObject:
    """Add several files at once (``file_ids``, or ``files`` each with its own attributes)."""
    batch = await services.vectors.create_batch(
        key,
        store_id,
        file_ids=body.file_ids or (),
        files=[
            {
                "file_id": f.file_id,
                **({"attributes": f.attributes} if f.attributes is not None else {}),
                **(
                    {"chunking_strategy": _dump(f.chunking_strategy)}
                    if f.chunking_strategy is not None
                    else {}
                ),
            }
            for f in body.files or ()
        ],
        attributes=body.attributes,
        chunking_strategy=_dump(body.chunking_strategy),
    )
    return FileBatchObject.of(batch)


@router.get("/{store_id}/file_batches/{batch_id}", response_model=FileBatchObject)
async def get_batch(
    store_id: str, batch_id: str, key: JobsCaller, services: ServicesDep
) -> FileBatchObject:
    return FileBatchObject.of(await services.vectors.get_batch(key, store_id, batch_id))


@router.post("/{store_id}/file_batches/{batch_id}/cancel", response_model=FileBatchObject)
async def cancel_batch(
    store_id: str, batch_id: str, key: JobsCaller, services: ServicesDep
) -> FileBatchObject:
    """Cancel the batch's files still in progress."""
    return FileBatchObject.of(await services.vectors.cancel_batch(key, store_id, batch_id))


@router.get("/{store_id}/file_batches/{batch_id}/files", response_model=VectorStoreFileList)
async def list_batch_files(
    store_id: str,
    batch_id: str,
    key: JobsCaller,
    services: ServicesDep,
    limit: Limit = 20,
    order: Order = "desc",
    after: After = None,
    before: Before = None,
    filter: Annotated[
        Literal["in_progress", "completed", "failed", "cancelled"] | None, Query()
    ] = None,
) -> VectorStoreFileList:
    """The batch's files (of one status)."""
    _no_before(before)
    await services.vectors.get_batch(key, store_id, batch_id)
    found = await services.vectors.list_files(
        key,
        store_id,
        status=filter,
        batch_id=batch_id,
        after=after,
        limit=limit + 1,
        newest_first=order == "desc",
    )
    return _file_page(found, limit)
