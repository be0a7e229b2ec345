"""Search in vector stores: the queries embedded by the store's model, each one's nearest
chunks of the files whose attributes pass the filter, merged and ranked by score.

A store is searched only when it is the caller's and ready (:meth:`VectorService.active_store`
checks and marks it); :meth:`VectorSearch.search_stores` searches several at once, as a chat
request's ``file_search`` tool does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from berth import errors
from berth.keys.key import ApiKey
from berth.services.files import FileService
from berth.services.inference import InferenceService
from berth.vectors.filters import Filter, parse_filter
from berth.vectors.index import VectorIndex
from berth.vectors.record import Attributes, FileStatus, Hit, StoreFile, VectorStore
from berth.vectors.search import search
from berth.vectors.store import VectorRecords

MAX_RESULTS = 50
EVERY_FILE = 1_000_000
ActiveStore = Callable[[ApiKey | None, str], Awaitable[VectorStore]]


@dataclass(frozen=True, slots=True)
class Found:
    """One search result: a chunk, its file's name and attributes, and its score."""

    hit: Hit
    filename: str
    attributes: Attributes


class VectorSearch:
    """Searches the stores of ``records`` in ``index``; queries embedded through
    ``inference``, file names from ``files``; ``active`` gives the caller's store, checked."""

    def __init__(
        self,
        records: VectorRecords,
        index: VectorIndex,
        files: FileService,
        inference: InferenceService,
        active: ActiveStore,
    ) -> None:
        self.records = records
        self.index = index
        self.files = files
        self.inference = inference
        self.active = active

    async def search(
        self,
        caller: ApiKey | None,
        store_id: str,
        queries: Sequence[str],
        *,
        filters: Any = None,
        max_num_results: int = 10,
        score_threshold: float | None = None,
    ) -> list[Found]:
        """The chunks nearest the queries (each query's best, merged), of completed files
        whose attributes pass ``filters``."""
        if not 1 <= max_num_results <= MAX_RESULTS:
            raise errors.InvalidRequest(
                f"max_num_results: from 1 to {MAX_RESULTS}, not {max_num_results}."
            )
        if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
            raise errors.InvalidRequest("ranking_options.score_threshold: from 0 to 1.")
        texts = [q for q in queries if q.strip()]
        if not texts:
            raise errors.InvalidRequest("query: give the text to search for.")
        parsed = parse_filter(filters) if filters is not None else None
        store = await self.active(caller, store_id)
        allowed, files = await self._searchable(store.id, parsed)
        embedded = await self.inference.embed(caller, store.model, texts)
        best: dict[tuple[str, int], Hit] = {}
        for vector in embedded.vectors:
            for hit in await search(
                self.index,
                store.id,
                vector,
                max_num_results,
                files=allowed,
                score_threshold=score_threshold,
            ):
                key = (hit.file_id, hit.seq)
                if key not in best or hit.distance < best[key].distance:
                    best[key] = hit
        ranked = sorted(best.values(), key=lambda h: h.distance)[:max_num_results]
        names = await self._names(caller, {h.file_id for h in ranked})
        return [
            Found(h, names.get(h.file_id, h.file_id), files[h.file_id].attributes) for h in ranked
        ]

    async def _searchable(
        self, store_id: str, parsed: Filter | None
    ) -> tuple[set[str] | None, dict[str, StoreFile]]:
        every = await self.records.list_files(store_id, limit=EVERY_FILE)
        files = {f.file_id: f for f in every}
        done = {
            f.file_id
            for f in every
            if f.status is FileStatus.COMPLETED and (parsed is None or parsed.matches(f.attributes))
        }
        if parsed is None and len(done) == len(every):
            return None, files
        return done, files

    async def _names(self, caller: ApiKey | None, file_ids: set[str]) -> dict[str, str]:
        names = {}
        for file_id in file_ids:
            try:
                names[file_id] = (await self.files.store.get(file_id)).filename
            except errors.UnknownFile:
                continue
        return names
