"""A conversation memory: the turns of a caller's conversations kept in one of their vector
stores, and the earlier ones recalled for a new question.

A turn (the user's text and the assistant's kept reply) is uploaded as a small text file and
added to the store with the attributes ``berth_memory``, ``session_id``, ``turn`` and
``created_at``; adding it queues its ``vector-ingest`` job in the job store, so once
:meth:`ConversationMemory.record` returns the turn is durable: a worker that dies while it
embeds it leaves the job to the next worker, which resumes after the chunks already
written. A turn written again (its reply truncated) is a new file, the old one forgotten
after it. A recall searches the store's completed files for the question, leaving out the
asking session's own turns (the conversation already holds them), and the best are shown to
the model in one system message, cut to ``MAX_RECALL_CHARS``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
from collections.abc import Sequence
from typing import Any

from berth import errors
from berth.keys.key import ApiKey
from berth.services.vectors import VectorService
from berth.services.vectorsearch import Found
from berth.tasks.generate import ChatMessage
from berth.vectors.record import StoreFile, VectorStore

PURPOSE = "assistants"
MAX_RECALL_CHARS = 2400
"""The most text of earlier turns one response is shown."""
PREAMBLE = (
    "From earlier conversations with this user (recalled from memory; use what helps "
    "answer, ignore the rest):"
)


def turn_text(user: str, assistant: str) -> str:
    """A turn as it is stored: who said what, one line each."""
    lines = [f"User: {user}" if user else "", f"Assistant: {assistant}" if assistant else ""]
    return "\n".join(line for line in lines if line) + "\n"


class ConversationMemory:
    """Turns written into and recalled from the caller's stores of ``vectors``."""

    def __init__(self, vectors: VectorService) -> None:
        self.vectors = vectors

    async def check(self, caller: ApiKey | None, store_id: str) -> VectorStore:
        """The store, if ``caller`` may remember in it: theirs, not expired, its model one
        they may use that embeds, and its chunks all of that model."""
        try:
            return await self.vectors.active_store(caller, store_id)
        except errors.UnknownVectorStore as exc:
            raise errors.UnknownVectorStore(
                f"No vector store has the id '{store_id}'. Create one for the memory (POST "
                "/v1/vector_stores) and name it in berth_memory.vector_store_id."
            ) from exc

    async def record(
        self,
        caller: ApiKey | None,
        store_id: str,
        *,
        session_id: str,
        turn: int,
        user: str,
        assistant: str,
        created_at: float,
    ) -> StoreFile:
        """Write one turn into the store; it is searchable once its ingest job finished."""
        data = io.BytesIO(turn_text(user, assistant).encode())
        name = f"memory-{session_id}-turn-{turn:04d}.txt"
        uploaded = await self.vectors.files.upload(caller, name, PURPOSE, data)
        attributes = {
            "berth_memory": True,
            "session_id": session_id,
            "turn": turn,
            "created_at": created_at,
        }
        try:
            return await self.vectors.add_file(caller, store_id, uploaded.id, attributes=attributes)
        except BaseException:
            await self.vectors.files.delete(caller, uploaded.id)
            raise

    async def forget(self, caller: ApiKey | None, store_id: str, file_id: str) -> None:
        """Take a turn's file out of the store and delete it (gone already is fine)."""
        with contextlib.suppress(errors.NotFound):
            await self.vectors.delete_file(caller, store_id, file_id)
        with contextlib.suppress(errors.NotFound):
            await self.vectors.files.delete(caller, file_id)

    async def recall(
        self,
        caller: ApiKey | None,
        store_id: str,
        query: str,
        *,
        exclude_session: str,
        max_num_results: int,
        score_threshold: float | None = None,
    ) -> list[Found]:
        """The stored turns nearest ``query``, best first, none of ``exclude_session``."""
        if not query.strip():
            return []
        return await self.vectors.search(
            caller,
            store_id,
            [query],
            filters={"type": "ne", "key": "session_id", "value": exclude_session},
            max_num_results=max_num_results,
            score_threshold=score_threshold,
        )


def with_memories(
    messages: Sequence[ChatMessage], memories: Sequence[Found]
) -> tuple[ChatMessage, ...]:
    """``messages`` with the recalled turns in a system message: added to the leading
    system message when there is one (one system message suits every chat template), else
    first. Unchanged without memories."""
    shown = _recalled(memories)
    if not shown:
        return tuple(messages)
    if messages and messages[0].role == "system":
        first = messages[0]
        merged = dataclasses.replace(first, content=f"{first.content}\n\n{shown}")
        return (merged, *messages[1:])
    return (ChatMessage("system", shown), *messages)


def _recalled(memories: Sequence[Found]) -> str:
    left, lines = MAX_RECALL_CHARS, []
    for found in memories:
        text = " ".join(found.hit.text.split())[:left]
        if not text:
            break
        lines.append(f"- {text}")
        left -= len(text)
    return "\n".join([PREAMBLE, *lines]) if lines else ""


def memory_citations(store_id: str, memories: Sequence[Found]) -> list[dict[str, Any]]:
    """The recalled turns as a response's ``berth_citations``."""
    return [
        {
            "type": "berth_memory",
            "file_id": found.hit.file_id,
            "filename": found.filename,
            "vector_store_id": store_id,
            "score": round(found.hit.score, 6),
            "quote": found.hit.text,
            "attributes": dict(found.attributes),
        }
        for found in memories
    ]
