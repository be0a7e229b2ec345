"""OpenAI-shaped bodies of the Vector Stores API (plus the store's embedding ``model``, and a
file's ``sha256``)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from berth.services.vectorsearch import Found
from berth.vectors.record import Attributes, FileBatch, FileCounts, StoreFile, VectorStore

Scalar = str | float | bool


class Counts(BaseModel):
    in_progress: int
    completed: int
    failed: int
    cancelled: int
    total: int

    @classmethod
    def of(cls, counts: FileCounts) -> Counts:
        return cls(
            in_progress=counts.in_progress,
            completed=counts.completed,
            failed=counts.failed,
            cancelled=counts.cancelled,
            total=counts.total,
        )


class ExpiresAfterBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    anchor: Literal["last_active_at"] = "last_active_at"
    days: int = Field(ge=1, le=365)


class VectorStoreObject(BaseModel):
    id: str
    object: Literal["vector_store"] = "vector_store"
    created_at: int
    name: str
    usage_bytes: int
    file_counts: Counts
    status: Literal["expired", "in_progress", "completed"]
    expires_after: ExpiresAfterBody | None = None
    expires_at: int | None = None
    last_active_at: int | None = None
    metadata: dict[str, str] | None = None
    model: str = Field(description="The catalog embedding model its chunks are embedded with.")

    @classmethod
    def of(cls, store: VectorStore, now: float) -> VectorStoreObject:
        expires = store.expires_after
        return cls(
            id=store.id,
            created_at=int(store.created_at),
            name=store.name or "",
            usage_bytes=store.usage_bytes,
            file_counts=Counts.of(store.file_counts),
            status=store.status(now),  # type: ignore[arg-type]
            expires_after=ExpiresAfterBody(days=expires.days) if expires else None,
            expires_at=int(store.expires_at) if store.expires_at is not None else None,
            last_active_at=int(store.last_active_at),
            metadata=store.metadata,
            model=store.model,
        )


class ChunkingBody(BaseModel):
    """``{"type": "auto"}`` or ``{"type": "static", "static": {...}}``, checked by the
    service (which names the bad field)."""

    model_config = ConfigDict(extra="allow")

    type: str


class CreateVectorStore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=256)
    file_ids: list[str] = Field(default_factory=list, max_length=500)
    expires_after: ExpiresAfterBody | None = None
    chunking_strategy: ChunkingBody | None = None
    metadata: dict[str, str] | None = None
    description: str | None = Field(default=None, max_length=512)
    model: str | None = Field(
        default=None,
        max_length=200,
        description="The catalog embedding model (default the catalog's default one).",
    )


class UpdateVectorStore(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=256)
    expires_after: ExpiresAfterBody | None = None
    metadata: dict[str, str] | None = None
    model: str | None = Field(
        default=None,
        max_length=200,
        description="Another catalog embedding model: the store's files are embedded again "
        "with it, each by a vector-ingest job.",
    )


class VectorStoreList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VectorStoreObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VectorStoreDeleted(BaseModel):
    id: str
    object: Literal["vector_store.deleted"] = "vector_store.deleted"
    deleted: bool = True


class LastError(BaseModel):
    code: str
    message: str


class VectorStoreFileObject(BaseModel):
    id: str
    object: Literal["vector_store.file"] = "vector_store.file"
    created_at: int
    usage_bytes: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    last_error: LastError | None = None
    chunking_strategy: dict[str, Any] | None = None
    attributes: dict[str, Scalar] | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, file: StoreFile) -> VectorStoreFileObject:
        error = file.last_error
        return cls(
            id=file.file_id,
            created_at=int(file.created_at),
            usage_bytes=file.usage_bytes,
            vector_store_id=file.store_id,
            status=file.status.value,
            last_error=LastError(code=error["code"], message=error["message"]) if error else None,
            chunking_strategy=file.chunking,
            attributes=file.attributes,
            sha256=file.sha256,
        )


class CreateVectorStoreFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(max_length=40)
    attributes: dict[str, Scalar] | None = None
    chunking_strategy: ChunkingBody | None = None


class UpdateAttributes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    attributes: dict[str, Scalar] | None


class VectorStoreFileList(BaseModel):
    object: Literal["list"] = "list"
    data: list[VectorStoreFileObject]
    first_id: str | None
    last_id: str | None
    has_more: bool


class VectorStoreFileDeleted(BaseModel):
    id: str
    object: Literal["vector_store.file.deleted"] = "vector_store.file.deleted"
    deleted: bool = True


class TextContent(BaseModel):
    type: Literal["text"] = "text"
    text: str


class FileContentPage(BaseModel):
    object: Literal["vector_store.file_content.page"] = "vector_store.file_content.page"
    data: list[TextContent]
    has_more: bool = False
    next_page: str | None = None


class BatchFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_id: str = Field(max_length=40)
    attributes: dict[str, Scalar] | None = None
    chunking_strategy: ChunkingBody | None = None


class CreateFileBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    file_ids: list[str] | None = Field(default=None, max_length=500)
    files: list[BatchFile] | None = Field(default=None, max_length=500)
    attributes: dict[str, Scalar] | None = None
    chunking_strategy: ChunkingBody | None = None


class FileBatchObject(BaseModel):
    id: str
    object: Literal["vector_store.files_batch"] = "vector_store.files_batch"
    created_at: int
    vector_store_id: str
    status: Literal["in_progress", "completed", "cancelled", "failed"]
    file_counts: Counts

    @classmethod
    def of(cls, batch: FileBatch) -> FileBatchObject:
        return cls(
            id=batch.id,
            created_at=int(batch.created_at),
            vector_store_id=batch.store_id,
            status=batch.status,  # type: ignore[arg-type]
            file_counts=Counts.of(batch.file_counts),
        )


class RankingOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ranker: Literal["none", "auto", "default-2024-11-15"] | None = None
    score_threshold: float | None = Field(default=None, ge=0.0, le=1.0)


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | list[str]
    filters: dict[str, Any] | None = None
    max_num_results: int = Field(default=10, ge=1, le=50)
    ranking_options: RankingOptions | None = None
    rewrite_query: bool = False


class SearchResult(BaseModel):
    file_id: str
    filename: str
    score: float
    attributes: dict[str, Scalar] | None
    content: list[TextContent]

    @classmethod
    def of(cls, found: Found) -> SearchResult:
        attributes: Attributes = found.attributes
        return cls(
            file_id=found.hit.file_id,
            filename=found.filename,
            score=found.hit.score,
            attributes=attributes,
            content=[TextContent(text=found.hit.text)],
        )


class SearchPage(BaseModel):
    object: Literal["vector_store.search_results.page"] = "vector_store.search_results.page"
    search_query: list[str]
    data: list[SearchResult]
    has_more: bool = False
    next_page: str | None = None
