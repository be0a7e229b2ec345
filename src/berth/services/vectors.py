"""Vector stores as callers see them (OpenAI's Vector Stores API), and what the ingest job
asks of them. The rules: a store and the files put in it belong to the caller (a key sees
only its own unless it is an admin; 404 otherwise, so ids leak nothing); the store's
embedding model is in the catalog, allowed for the key, and embeds; each file is ingested by
a ``vector-ingest`` job (durable, resumable, in the background lane).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from berth import errors
from berth.clock import Clock, SystemClock
from berth.ids import new_id
from berth.keys.key import ApiKey
from berth.services.files import FileService
from berth.services.filesearch import FileSearch
from berth.services.inference import InferenceService
from berth.services.jobs import JobService, only_owner
from berth.services.vectorsearch import VectorSearch
from berth.tasks.embed import EMBED
from berth.vectors.chunking import Chunking, HuggingFaceTokenizer, Tokenizer, chunking_of
from berth.vectors.filters import check_attributes
from berth.vectors.index import VectorIndex
from berth.vectors.record import (
    BATCH_ID_PREFIX,
    STORE_ID_PREFIX,
    Chunk,
    ExpiresAfter,
    FileBatch,
    FileStatus,
    StoreFile,
    VectorStore,
)
from berth.vectors.store import UNSET, FileChanges, StoreChanges, VectorRecords
from berth.vectors.writer import IngestSource

DEFAULT_MODEL = "all-minilm-l6-v2"
INGEST_KIND = "vector-ingest"
MAX_METADATA = 16
MAX_BATCH_FILES = 500
DAY = 86_400.0
EVERY_FILE = 1_000_000
TokenizerPath = Callable[[str], Path | None]


def check_metadata(data: Any) -> dict[str, str]:
    """Metadata as OpenAI allows it: up to 16 string keys (64 characters) and string values
    (512 characters)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or len(data) > MAX_METADATA:
        raise errors.InvalidRequest(f"metadata: an object of at most {MAX_METADATA} keys.")
    for key, value in data.items():
        if (
            not isinstance(key, str)
            or len(key) > 64
            or not isinstance(value, str)
            or len(value) > 512
        ):
            raise errors.InvalidRequest(
                f"metadata.{key}: keys are strings of up to 64 characters, values strings of "
                "up to 512."
            )
    return dict(data)


def expires_after_of(data: Any) -> ExpiresAfter | None:
    """``{"anchor": "last_active_at", "days": 1..365}``; InvalidRequest naming the field."""
    if data is None:
        return None
    if not isinstance(data, dict) or data.get("anchor") != "last_active_at":
        raise errors.InvalidRequest("expires_after.anchor: must be 'last_active_at'.")
    days = data.get("days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
        raise errors.InvalidRequest(
            f"expires_after.days: a whole number from 1 to 365, not {days!r}."
        )
    return ExpiresAfter(days)


def _expiry(expires: ExpiresAfter | None, active: float) -> float | None:
    return active + expires.days * DAY if expires is not None else None


class VectorService:
    """Vector stores over ``records`` and ``index``; files from ``files``, ingestion through
    ``jobs``, queries embedded through ``inference``."""

    def __init__(
        self,
        records: VectorRecords,
        index: VectorIndex,
        *,
        files: FileService,
        jobs: JobService,
        inference: InferenceService,
        tokenizer_path: TokenizerPath,
        default_model: str = DEFAULT_MODEL,
        clock: Clock | None = None,
    ) -> None:
        self.records = records
        self.index = index
        self.files = files
        self.jobs = jobs
        self.inference = inference
        self.tokenizer_path = tokenizer_path
        self.default_model = default_model
        self.clock = clock or SystemClock()
        self.searcher = VectorSearch(records, index, files, inference, self.active_store)
        self.search = self.searcher.search
        """The chunks nearest the queries, of completed files (see VectorSearch.search)."""
        self.file_search = FileSearch(self.searcher)

    # -- stores --------------------------------------------------------------------------

    async def create_store(
        self,
        caller: ApiKey | None,
        *,
        name: str | None = None,
        metadata: Any = None,
        expires_after: Any = None,
        file_ids: Sequence[str] = (),
        chunking_strategy: Any = None,
        model: str | None = None,
    ) -> VectorStore:
        """A new store embedded by ``model`` (default the catalog's default embedding model),
        with ``file_ids`` added to it."""
        alias = model or self.default_model
        self.inference.model(caller, alias, EMBED)
        checked_metadata = check_metadata(metadata)
        expires = expires_after_of(expires_after)
        chunking_of(chunking_strategy)
        for file_id in file_ids:
            await self.files.get(caller, file_id)
        now = self.clock.now()
        store = VectorStore(
            id=new_id(STORE_ID_PREFIX),
            name=name,
            model=alias,
            created_at=now,
            last_active_at=now,
            owner=caller.id if caller is not None else None,
            metadata=checked_metadata,
            expires_after=expires,
            expires_at=_expiry(expires, now),
        )
        await self.records.add_store(store)
        for file_id in file_ids:
            await self._add(caller, store, file_id, {}, chunking_strategy, None)
        return await self.records.get_store(store.id)

    async def get_store(self, caller: ApiKey | None, store_id: str) -> VectorStore:
        """The store; UnknownVectorStore (404) also for another key's store."""
        found = await self.records.get_store(store_id)
        owner = only_owner(caller)
        if owner is not None and found.owner != owner:
            raise errors.UnknownVectorStore(f"No vector store has the id '{store_id}'.")
        return found

    async def list_stores(
        self,
        caller: ApiKey | None,
        *,
        after: str | None = None,
        limit: int = 20,
        newest_first: bool = True,
    ) -> list[VectorStore]:
        """The caller's stores (every store for admins and loopback)."""
        return await self.records.list_stores(
            owner=only_owner(caller), after=after, limit=limit, newest_first=newest_first
        )

    async def update_store(
        self,
        caller: ApiKey | None,
        store_id: str,
        *,
        name: str | None = UNSET,
        metadata: Any = UNSET,
        expires_after: Any = UNSET,
    ) -> VectorStore:
        """Rename, re-label, or change when the store expires."""
        store = await self.get_store(caller, store_id)
        changes = StoreChanges(
            name=name,
            metadata=UNSET if metadata is UNSET else check_metadata(metadata),
        )
        if expires_after is not UNSET:
            expires = expires_after_of(expires_after)
            changes = dataclasses.replace(
                changes,
                expires_after=expires,
                expires_at=_expiry(expires, store.last_active_at),
            )
        return await self.records.update_store(store_id, changes)

    async def reembed(self, caller: ApiKey | None, store_id: str, model: str) -> VectorStore:
        """Move the store to another embedding model: each file's chunks are dropped and the
        file ingested again by a ``vector-ingest`` job with ``model`` (searches meanwhile find
        the files already done). The jobs of the old model stop at their next batch."""
        store = await self.get_store(caller, store_id)
        self.inference.model(caller, model, EMBED)
        if model == store.model:
            return store
        await self.records.update_store(store.id, StoreChanges(model=model))
        for record in await self.records.list_files(store.id, limit=EVERY_FILE):
            if record.status is FileStatus.CANCELLED:
                continue
            await self.index.remove_file(store.id, record.file_id)
            again = FileChanges(status=FileStatus.IN_PROGRESS, last_error=None, usage_bytes=0)
            await self.records.update_file(store.id, record.file_id, again)
            submitted = await self.jobs.submit(
                caller, INGEST_KIND, {"store_id": store.id, "file_id": record.file_id}, model=model
            )
            job = FileChanges(job_id=submitted.job.id)
            await self.records.update_file(store.id, record.file_id, job)
        return await self.records.get_store(store.id)

    async def delete_store(self, caller: ApiKey | None, store_id: str) -> VectorStore:
        """Forget the store, its files' chunks and vectors (the uploaded files stay)."""
        store = await self.get_store(caller, store_id)
        await self.records.delete_store(store.id)
        await self.index.remove_store(store.id)
        return store

    # -- files ---------------------------------------------------------------------------

    async def _add(
        self,
        caller: ApiKey | None,
        store: VectorStore,
        file_id: str,
        attributes: Any,
        chunking_strategy: Any,
        batch_id: str | None,
    ) -> StoreFile:
        uploaded = await self.files.get(caller, file_id)
        record = StoreFile(
            store_id=store.id,
            file_id=uploaded.id,
            status=FileStatus.IN_PROGRESS,
            created_at=self.clock.now(),
            chunking=chunking_of(chunking_strategy).as_openai(),
            attributes=check_attributes(attributes),
            batch_id=batch_id,
            sha256=uploaded.sha256,
        )
        await self.index.remove_file(store.id, uploaded.id)
        await self.records.add_file(record)
        submitted = await self.jobs.submit(
            caller, INGEST_KIND, {"store_id": store.id, "file_id": uploaded.id}, model=store.model
        )
        return await self.records.update_file(
            store.id, uploaded.id, FileChanges(job_id=submitted.job.id)
        )

    async def add_file(
        self,
        caller: ApiKey | None,
        store_id: str,
        file_id: str,
        *,
        attributes: Any = None,
        chunking_strategy: Any = None,
    ) -> StoreFile:
        """Put an uploaded file of the caller's in the store; a job chunks and embeds it.
        A file already there is ingested again."""
        store = await self.get_store(caller, store_id)
        check_attributes(attributes)
        chunking_of(chunking_strategy)
        return await self._add(caller, store, file_id, attributes, chunking_strategy, None)

    async def get_file(self, caller: ApiKey | None, store_id: str, file_id: str) -> StoreFile:
        await self.get_store(caller, store_id)
        return await self.records.get_file(store_id, file_id)

    async def list_files(
        self,
        caller: ApiKey | None,
        store_id: str,
        *,
        status: str | None = None,
        batch_id: str | None = None,
        after: str | None = None,
        limit: int = 20,
        newest_first: bool = True,
    ) -> list[StoreFile]:
        await self.get_store(caller, store_id)
        return await self.records.list_files(
            store_id,
            status=_status(status),
            batch_id=batch_id,
            after=after,
            limit=limit,
            newest_first=newest_first,
        )

    async def update_attributes(
        self, caller: ApiKey | None, store_id: str, file_id: str, attributes: Any
    ) -> StoreFile:
        await self.get_file(caller, store_id, file_id)
        changes = FileChanges(attributes=check_attributes(attributes))
        return await self.records.update_file(store_id, file_id, changes)

    async def delete_file(self, caller: ApiKey | None, store_id: str, file_id: str) -> StoreFile:
        """Take the file out of the store (its chunks too; the uploaded file stays)."""
        await self.get_file(caller, store_id, file_id)
        found = await self.records.delete_file(store_id, file_id)
        await self.index.remove_file(store_id, file_id)
        return found

    async def file_content(
        self, caller: ApiKey | None, store_id: str, file_id: str
    ) -> tuple[StoreFile, list[str]]:
        """The file and its chunks' texts, in order."""
        found = await self.get_file(caller, store_id, file_id)
        return found, await self.index.texts(store_id, file_id)

    # -- batches -------------------------------------------------------------------------

    async def create_batch(
        self,
        caller: ApiKey | None,
        store_id: str,
        *,
        file_ids: Sequence[str] = (),
        files: Sequence[dict[str, Any]] = (),
        attributes: Any = None,
        chunking_strategy: Any = None,
    ) -> FileBatch:
        """Add several files at once; ``files`` may give each its own attributes and
        chunking."""
        store = await self.get_store(caller, store_id)
        wanted = [{"file_id": f} for f in file_ids] + list(files)
        if not wanted or len(wanted) > MAX_BATCH_FILES or (file_ids and files):
            raise errors.InvalidRequest(
                f"file_ids or files: give one of them, with 1 to {MAX_BATCH_FILES} files."
            )
        check_attributes(attributes)
        chunking_of(chunking_strategy)
        for i, item in enumerate(wanted):
            if not isinstance(item, dict) or not isinstance(item.get("file_id"), str):
                raise errors.InvalidRequest(f"files[{i}].file_id: the id of an uploaded file.")
            check_attributes(item.get("attributes"), f"files[{i}].attributes")
            chunking_of(item.get("chunking_strategy"), f"files[{i}].chunking_strategy")
            await self.files.get(caller, item["file_id"])
        batch = FileBatch(new_id(BATCH_ID_PREFIX), store.id, self.clock.now())
        await self.records.add_batch(batch)
        for item in wanted:
            await self._add(
                caller,
                store,
                item["file_id"],
                item.get("attributes", attributes),
                item.get("chunking_strategy", chunking_strategy),
                batch.id,
            )
        return await self.records.get_batch(store.id, batch.id)

    async def get_batch(self, caller: ApiKey | None, store_id: str, batch_id: str) -> FileBatch:
        await self.get_store(caller, store_id)
        return await self.records.get_batch(store_id, batch_id)

    async def cancel_batch(self, caller: ApiKey | None, store_id: str, batch_id: str) -> FileBatch:
        """Stop the batch: its files still in progress are cancelled (their jobs stop at the
        next chunk batch)."""
        await self.get_store(caller, store_id)
        return await self.records.cancel_batch(store_id, batch_id)

    # -- search ------------------------------------------------------------------------

    async def active_store(self, caller: ApiKey | None, store_id: str) -> VectorStore:
        """The caller's store, ready to be searched (not expired, its model allowed and the
        only one its chunks hold), marked active now."""
        store = await self.get_store(caller, store_id)
        now = self.clock.now()
        if store.status(now) == "expired":
            raise errors.InvalidRequest(
                f"Vector store '{store_id}' has expired. Make a new one (or set expires_after "
                "before it expires)."
            )
        self.inference.model(caller, store.model, EMBED)
        models = await self.index.models(store.id)
        if models - {store.model}:
            raise errors.InvalidRequest(
                f"Vector store '{store_id}' holds chunks embedded by {sorted(models)}, and "
                f"queries are embedded by '{store.model}': vectors of different models do not "
                "compare. Wait for its re-embedding to finish."
            )
        changes = StoreChanges(last_active_at=now, expires_at=_expiry(store.expires_after, now))
        return await self.records.update_store(store.id, changes)

    # -- for the ingest job (no caller: its submit was checked) ----------------------------

    async def source(self, store_id: str, file_id: str) -> IngestSource | None:
        """What to ingest, or None when the file left the store or was cancelled."""
        try:
            store = await self.records.get_store(store_id)
            record = await self.records.get_file(store_id, file_id)
        except errors.NotFound:
            return None
        if record.status is not FileStatus.IN_PROGRESS:
            return None
        uploaded, path = await self.files.local(file_id)
        static = record.chunking.get("static", {})
        chunking = Chunking(static["max_chunk_size_tokens"], static["chunk_overlap_tokens"])
        return IngestSource(
            store.id, file_id, store.model, uploaded.filename, path, uploaded.sha256, chunking
        )

    def tokenizer(self, alias: str) -> Tokenizer | None:
        """The model's own tokenizer, where its files have a ``tokenizer.json``."""
        folder = self.tokenizer_path(alias)
        if folder is None or not (folder / "tokenizer.json").is_file():
            return None
        return HuggingFaceTokenizer(str(folder / "tokenizer.json"))

    async def stored(self, store_id: str, file_id: str) -> int:
        return await self.index.stored(store_id, file_id)

    async def wanted(self, store_id: str, file_id: str, model: str) -> bool:
        """Whether the file is still in the store, in progress, and the store still embeds
        with ``model`` (not re-embedding with another)."""
        try:
            store = await self.records.get_store(store_id)
            found = await self.records.get_file(store_id, file_id)
        except errors.NotFound:
            return False
        return found.status is FileStatus.IN_PROGRESS and store.model == model

    async def write(self, store_id: str, model: str, chunks: Sequence[Chunk]) -> None:
        await self.index.add(store_id, model, chunks)

    async def finish(
        self,
        store_id: str,
        file_id: str,
        *,
        usage_bytes: int = 0,
        error: dict[str, str] | None = None,
    ) -> None:
        """Mark the file completed (or failed, with ``error``) if it is still in progress."""
        try:
            found = await self.records.get_file(store_id, file_id)
        except errors.NotFound:
            return
        if found.status is not FileStatus.IN_PROGRESS:
            return
        status = FileStatus.FAILED if error else FileStatus.COMPLETED
        changes = FileChanges(status=status, last_error=error, usage_bytes=usage_bytes)
        await self.records.update_file(store_id, file_id, changes)


def _status(value: str | None) -> FileStatus | None:
    if value is None:
        return None
    try:
        return FileStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in FileStatus)
        raise errors.InvalidRequest(
            f"filter: {value!r} is not a status; use one of {known}."
        ) from None
