"""Retrieval for a chat: the ``file_search`` tool of a chat completion (and the stores a
realtime session names) searched for the user's question, the best chunks numbered as
sources in the prompt, and the reply's citations of them.

The sources go into the last user message, after the question, each as ``[n] filename:
text``; the model is asked to cite them as ``[n]``. A citation names the source's file, its
store, the chunk quoted and where in the reply it is cited (the offset of its first ``[n]``,
or the end of the reply for a source the reply does not cite inline).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from berth import errors
from berth.keys.key import ApiKey
from berth.services.vectorsearch import Found, VectorSearch
from berth.tasks.generate import ChatMessage
from berth.vectors.record import VectorStore

MAX_STORES = 2
"""As OpenAI's ``file_search`` tool: one or two vector stores per request."""
DEFAULT_RESULTS = 5
INSTRUCTION = (
    "Answer the question above from these sources. Cite each source you use by its "
    "number in square brackets, like [1]."
)


@dataclass(frozen=True, slots=True)
class FileSearchTool:
    """Which stores to search and how: OpenAI's ``file_search`` tool, checked."""

    vector_store_ids: tuple[str, ...]
    max_num_results: int = DEFAULT_RESULTS
    filters: Any = None
    score_threshold: float | None = None

    def __post_init__(self) -> None:
        ids = self.vector_store_ids
        if not 1 <= len(ids) <= MAX_STORES or not all(isinstance(i, str) and i for i in ids):
            raise errors.InvalidRequest(
                f"file_search.vector_store_ids: name 1 to {MAX_STORES} vector stores by id "
                "(see GET /v1/vector_stores)."
            )
        if len(set(ids)) != len(ids):
            raise errors.InvalidRequest("file_search.vector_store_ids: a store is named twice.")


@dataclass(frozen=True, slots=True)
class Source:
    """A chunk shown to the model as source ``number``, from the store ``store_id``."""

    number: int
    store_id: str
    found: Found

    @property
    def marker(self) -> str:
        return f"[{self.number}]"


@dataclass(frozen=True, slots=True)
class Citation:
    """A source of the reply: its file, the chunk quoted, its score, and the offset in the
    reply's text where it is cited."""

    file_id: str
    filename: str
    vector_store_id: str
    quote: str
    score: float
    index: int


class FileSearch:
    """Finds the sources of a chat turn in the caller's stores, through ``search``."""

    def __init__(self, search: VectorSearch) -> None:
        self.search = search

    async def sources(
        self, caller: ApiKey | None, tool: FileSearchTool, query: str
    ) -> list[Source]:
        """The best chunks for ``query`` over the tool's stores (each the caller's, searchable
        and fully ingested), best first, numbered from 1."""
        if not query.strip():
            raise errors.InvalidRequest(
                "file_search: the last user message has no text to search for."
            )
        found: list[tuple[str, Found]] = []
        for store_id in tool.vector_store_ids:
            store = await self.search.active(caller, store_id)
            _check_ready(store)
            hits = await self.search.search(
                caller,
                store.id,
                [query],
                filters=tool.filters,
                max_num_results=tool.max_num_results,
                score_threshold=tool.score_threshold,
            )
            found.extend((store.id, hit) for hit in hits)
        found.sort(key=lambda pair: pair[1].hit.distance)
        best = found[: tool.max_num_results]
        return [Source(n, store_id, hit) for n, (store_id, hit) in enumerate(best, start=1)]


def _check_ready(store: VectorStore) -> None:
    if store.file_counts.in_progress:
        raise errors.VectorStoreNotReady(
            f"Vector store '{store.id}' is still ingesting {store.file_counts.in_progress} "
            "file(s). Wait until its status is 'completed' (GET /v1/vector_stores/"
            f"{store.id}), then ask again."
        )


def last_user_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the last user message: what a turn's retrieval searches for."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    raise errors.InvalidRequest("file_search: the conversation has no user message to search for.")


def with_sources(
    messages: Sequence[ChatMessage], sources: Sequence[Source]
) -> tuple[ChatMessage, ...]:
    """``messages`` with the sources added to the last user message (unchanged without
    sources)."""
    if not sources:
        return tuple(messages)
    listed = "\n".join(
        f"{s.marker} {s.found.filename}: {' '.join(s.found.hit.text.split())}" for s in sources
    )
    last = max(i for i, m in enumerate(messages) if m.role == "user")
    message = messages[last]
    shown = f"Sources:\n{listed}\n\n{INSTRUCTION}"
    changed = dataclasses.replace(messages[last], content=f"{message.content}\n\n{shown}")
    return (*messages[:last], changed, *messages[last + 1 :])


def citations(reply: str, sources: Sequence[Source]) -> list[Citation]:
    """Each source as a citation of ``reply``: at its first ``[n]``, in the order cited, then
    the sources the reply does not cite, at its end."""
    placed = []
    for source in sources:
        marker = re.search(re.escape(source.marker), reply)
        placed.append((marker.start() if marker else len(reply), source))
    placed.sort(key=lambda pair: pair[0])
    return [
        Citation(
            s.found.hit.file_id,
            s.found.filename,
            s.store_id,
            s.found.hit.text,
            round(s.found.hit.score, 6),
            index,
        )
        for index, s in placed
    ]
