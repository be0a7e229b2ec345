"""A caller's realtime session's retrieval and memory (the :class:`Retrieval` port of
:mod:`berth.realtime.retrieval`): ``berth_file_search`` sources from the caller's stores,
numbered in the last user message as for a chat completion, and ``berth_memory``, the turns
of the caller's earlier sessions recalled into a system message and each finished turn of
this one written into the memory store. Both are cited in ``response.done``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from berth import errors
from berth.clock import Clock, SystemClock
from berth.keys.key import ApiKey
from berth.realtime.config import MemoryConfig, SessionConfig
from berth.realtime.events import BadEvent
from berth.realtime.retrieval import Retrieved, Turn
from berth.services.filesearch import (
    DEFAULT_RESULTS,
    Citation,
    FileSearchTool,
    Source,
    citations,
    last_user_text,
    with_sources,
)
from berth.services.memory import ConversationMemory, memory_citations, with_memories
from berth.services.vectors import VectorService
from berth.services.vectorsearch import Found
from berth.tasks.generate import ChatMessage


class SessionRetrieval:
    """What one session of ``caller`` (its id ``session_id``) retrieves and remembers."""

    def __init__(
        self,
        caller: ApiKey | None,
        session_id: str,
        vectors: VectorService | None,
        memory: ConversationMemory | None,
        clock: Clock | None = None,
    ) -> None:
        self.caller = caller
        self.session_id = session_id
        self._vectors = vectors
        self._memory = memory
        self._clock = clock or SystemClock()
        self.turns = 0
        """Turns this session wrote into its memory."""
        self._users_kept: set[str] = set()
        self._written: dict[str, _Written] = {}
        """Each remembered turn, by its assistant item's id (a truncation rewrites it)."""

    def _stores(self, param: str) -> VectorService:
        if self._vectors is None:
            raise BadEvent(f"{param}: this server has no vector stores.", param)
        return self._vectors

    def _remembering(self) -> ConversationMemory:
        if self._memory is None:
            param = "session.berth_memory"
            raise BadEvent(f"{param}: this server keeps no conversation memory.", param)
        return self._memory

    def file_search(self, config: SessionConfig) -> FileSearchTool | None:
        """The session's ``berth_file_search`` as a checked tool."""
        spec = config.file_search
        if spec is None:
            return None
        self._stores("session.berth_file_search")
        ranking = spec.get("ranking_options") or {}
        return FileSearchTool(
            tuple(spec["vector_store_ids"]),
            spec.get("max_num_results", DEFAULT_RESULTS),
            spec.get("filters"),
            ranking.get("score_threshold") if isinstance(ranking, dict) else None,
        )

    async def check(self, config: SessionConfig) -> None:
        """Raise unless each store ``config`` names is the caller's and usable."""
        tool = self.file_search(config)
        if tool is not None:
            for store_id in tool.vector_store_ids:
                await self._stores("session.berth_file_search").get_store(self.caller, store_id)
        if config.memory is not None:
            try:
                await self._remembering().check(self.caller, config.memory.vector_store_id)
            except errors.BerthError as exc:
                if isinstance(exc, BadEvent):
                    raise
                param = "session.berth_memory.vector_store_id"
                raise BadEvent(f"{param}: {exc.message}", param, "invalid_value") from exc

    async def retrieve(self, config: SessionConfig, messages: tuple[ChatMessage, ...]) -> Retrieved:
        tool = self.file_search(config)
        if tool is None and config.memory is None:
            return Retrieved(messages)
        memories = await self._recall(config.memory, messages)
        sources: list[Source] = []
        if tool is not None:
            vectors = self._stores("session.berth_file_search")
            query = last_user_text(messages)
            sources = await vectors.file_search.sources(self.caller, tool, query)
        shown = with_sources(with_memories(messages, memories), sources)
        store_id = config.memory.vector_store_id if config.memory else ""

        def cite(reply: str) -> list[dict[str, Any]]:
            return [_file_citation(c) for c in citations(reply, sources)] + memory_citations(
                store_id, memories
            )

        return Retrieved(shown, cite)

    async def _recall(
        self, memory: MemoryConfig | None, messages: tuple[ChatMessage, ...]
    ) -> list[Found]:
        if memory is None:
            return []
        query = next((m.content for m in reversed(messages) if m.role == "user"), "")
        return await self._remembering().recall(
            self.caller,
            memory.vector_store_id,
            query,
            exclude_session=self.session_id,
            max_num_results=memory.max_num_results,
            score_threshold=memory.score_threshold,
        )

    async def remember(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        if config.memory is None:
            return None
        user = "" if turn.user_item_id in self._users_kept else turn.user
        if not (user or turn.assistant):
            return None
        kept = _Written(config.memory.vector_store_id, "", self.turns + 1, user)
        shown = await self._write(kept, turn)
        self.turns = kept.turn
        if turn.user_item_id is not None:
            self._users_kept.add(turn.user_item_id)
        return shown

    async def revise(self, config: SessionConfig, turn: Turn) -> dict[str, Any] | None:
        earlier = self._written.get(turn.assistant_item_id or "")
        if earlier is None:
            return None
        shown = await self._write(earlier, turn)
        await self._remembering().forget(self.caller, earlier.store_id, earlier.file_id)
        return shown

    async def _write(self, kept: _Written, turn: Turn) -> dict[str, Any]:
        recorded = await self._remembering().record(
            self.caller,
            kept.store_id,
            session_id=self.session_id,
            turn=kept.turn,
            user=kept.user,
            assistant=turn.assistant,
            created_at=self._clock.now(),
        )
        if turn.assistant_item_id is not None:
            self._written[turn.assistant_item_id] = replace(kept, file_id=recorded.file_id)
        return {
            "vector_store_id": kept.store_id,
            "file_id": recorded.file_id,
            "turn": kept.turn,
            "job_id": recorded.job_id,
        }


@dataclass(frozen=True, slots=True)
class _Written:
    """Where one turn was remembered, and the user's text it holds."""

    store_id: str
    file_id: str
    turn: int
    user: str


def _file_citation(cited: Citation) -> dict[str, Any]:
    return {
        "type": "file_citation",
        "file_id": cited.file_id,
        "filename": cited.filename,
        "vector_store_id": cited.vector_store_id,
        "score": cited.score,
        "quote": cited.quote,
        "index": cited.index,
    }
