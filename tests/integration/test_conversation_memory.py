"""Conversation memory in one Berth on SQLite with the MiniLM model shipped with Berth and
the ``echo`` chat model: a realtime session's turns go into the caller's vector store as
``vector-ingest`` jobs; a later session with the same store recalls them (cited in
``response.done``), while a session never recalls its own turns; a store that cannot serve
as memory is refused at ``session.update`` with an ``error`` event and the session goes on."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from berth import errors
from berth.app import Berth
from berth.keys.key import ApiKey
from berth.realtime.session import RealtimeSession
from berth.services.vectors import VectorService
from berth.settings import Settings
from berth.vectors.record import Chunk, FileStatus

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]
FACT = "My sister Ingrid keeps bees on a farm near Tromso."
QUESTION = "Where does my sister keep her bees?"
OTHER = "The train to Bergen leaves at nine from platform four."
TEXT_ONLY: dict[str, Any] = {
    "output_modalities": ["text"],
    "audio": {"input": {"turn_detection": None}},
}


@pytest.fixture
async def berth(tmp_path: Path) -> AsyncIterator[Berth]:
    settings = Settings(
        home=tmp_path / "home", poll_seconds=0.05, heartbeat_seconds=0.2, load_wait_seconds=240
    )
    async with Berth(settings) as opened:
        yield opened


class Talk:
    """A realtime session of ``caller`` on ``echo``, and the server events it sent."""

    def __init__(self, session: RealtimeSession, sent: list[dict[str, Any]]) -> None:
        self.session, self.sent = session, sent

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == kind]

    async def update(self, **session: Any) -> None:
        await self.session.handle({"type": "session.update", "session": session})

    async def say(self, text: str) -> dict[str, Any]:
        """Send a user text item and answer it; the ``response`` of its ``response.done``."""
        count = len(self.of("response.done"))
        part = {"type": "input_text", "text": text}
        item = {"type": "message", "role": "user", "content": [part]}
        await self.session.handle({"type": "conversation.item.create", "item": item})
        await self.session.handle({"type": "response.create"})
        async with asyncio.timeout(120):
            while len(self.of("response.done")) == count:
                await asyncio.sleep(0.05)
        response: dict[str, Any] = self.of("response.done")[-1]["response"]
        return response


@asynccontextmanager
async def talk(berth: Berth, caller: ApiKey | None = None) -> AsyncIterator[Talk]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with berth.services.realtime.open(caller, "echo", send) as session:
        yield Talk(session, sent)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    async with asyncio.timeout(180):
        while not await check():
            await asyncio.sleep(0.1)


async def settled(vectors: VectorService, store_id: str) -> None:
    async def done() -> bool:
        return not (await vectors.get_store(None, store_id)).file_counts.in_progress

    await until(done, "the store's ingestion")


async def test_a_new_session_recalls_what_an_earlier_one_was_told(berth: Berth) -> None:
    vectors = berth.services.vectors
    store = await vectors.create_store(None, name="memory")
    memory = {"vector_store_id": store.id}
    async with talk(berth) as first:
        await first.update(**TEXT_ONLY, berth_memory=memory)
        [updated] = first.of("session.updated")
        assert updated["session"]["berth_memory"]["vector_store_id"] == store.id
        told = await first.say(FACT)
        other = await first.say(OTHER)
    assert told["status"] == "completed" and told["berth_citations"] == []
    written = told["berth_memory"]
    assert (written["vector_store_id"], written["turn"]) == (store.id, 1)
    record = await vectors.get_file(None, store.id, written["file_id"])
    assert record.status is FileStatus.IN_PROGRESS and record.job_id == written["job_id"]
    assert record.attributes["session_id"] == first.session.id
    assert record.attributes["turn"] == 1 and record.attributes["berth_memory"] is True
    assert other["berth_memory"]["turn"] == 2
    async with berth.dispatcher():
        await settled(vectors, store.id)
    [chunk] = await vectors.index.texts(store.id, written["file_id"])
    assert chunk.startswith(f"User: {FACT}") and f"Assistant: {FACT}" in chunk

    async with talk(berth) as second:
        await second.update(**TEXT_ONLY, berth_memory={**memory, "max_num_results": 1})
        answer = await second.say(QUESTION)
        own = await second.say("Which platform does the train leave from?")
    [cited] = answer["berth_citations"]
    assert cited["type"] == "berth_memory" and cited["vector_store_id"] == store.id
    assert FACT in cited["quote"] and cited["file_id"] == written["file_id"]
    assert cited["attributes"]["session_id"] == first.session.id and 0 < cited["score"] <= 1
    assert OTHER in own["berth_citations"][0]["quote"]
    # the memory's system message is in the prompt: the echo model counts its words
    assert answer["usage"]["input_tokens"] > len(QUESTION.split()) + len(FACT.split())
    assert float(answer["metadata"]["berth_retrieve_ms"]) > 0

    async with talk(berth) as forgetful:
        await forgetful.update(**TEXT_ONLY)
        plain = await forgetful.say(QUESTION)
    assert "berth_citations" not in plain and "berth_memory" not in plain
    assert "berth_retrieve_ms" not in (plain["metadata"] or {})
    assert plain["usage"]["input_tokens"] == len(QUESTION.split())


async def test_a_session_does_not_recall_its_own_turns(berth: Berth) -> None:
    vectors = berth.services.vectors
    store = await vectors.create_store(None, name="memory")
    async with talk(berth) as alone:
        await alone.update(**TEXT_ONLY, berth_memory={"vector_store_id": store.id})
        await alone.say(FACT)
        async with berth.dispatcher():
            await settled(vectors, store.id)
        asked = await alone.say(QUESTION)
        await alone.update(berth_memory={"vector_store_id": None})
        off = await alone.say("Nothing more to remember.")
    assert asked["berth_citations"] == []
    assert "berth_memory" not in off and alone.session.config.memory is None
    assert len(await vectors.list_files(None, store.id)) == 2


async def test_a_store_that_cannot_remember_is_refused_and_the_session_goes_on(
    berth: Berth,
) -> None:
    vectors = berth.services.vectors
    alice = (await berth.services.keys.create("alice", scopes=("infer",))).key
    bob = (await berth.services.keys.create("bob", scopes=("infer",))).key
    alices = await vectors.create_store(alice, name="alice's memory")
    mixed = await vectors.create_store(bob, name="half re-embedded")
    stray = Chunk("file-stray", 0, "old", 1, np.ones(8, np.float32) / np.sqrt(8))
    await vectors.index.add(mixed.id, "echo-embeddings", [stray])
    async with talk(berth, bob) as session:
        await session.update(**TEXT_ONLY)
        refusals = []
        for store_id in ("vs_nowhere", alices.id, mixed.id):
            await session.update(berth_memory={"vector_store_id": store_id})
            refusals.append(session.of("error")[-1]["error"])
        reply = await session.say("still here?")
    nowhere, not_bobs, other_model = refusals
    assert all(r["param"] == "session.berth_memory.vector_store_id" for r in refusals)
    assert "vs_nowhere" in nowhere["message"] and "POST /v1/vector_stores" in nowhere["message"]
    assert alices.id in not_bobs["message"]
    assert (
        "echo-embeddings" in other_model["message"] and "all-minilm-l6-v2" in other_model["message"]
    )
    assert session.session.config.memory is None
    assert reply["status"] == "completed" and "berth_memory" not in reply


async def test_a_truncated_reply_replaces_its_remembered_turn(berth: Berth) -> None:
    vectors = berth.services.vectors
    store = await vectors.create_store(None, name="memory")
    spoken = f"{FACT} {OTHER}"
    async with talk(berth) as session:
        await session.update(
            audio={"input": {"turn_detection": None}}, berth_memory={"vector_store_id": store.id}
        )
        told = await session.say(spoken)
        item = told["output"][0]
        first_sentence_ms = item_sentence_end(session, item["id"])
        truncate = {"type": "conversation.item.truncate", "item_id": item["id"]}
        await session.session.handle(
            {**truncate, "content_index": 0, "audio_end_ms": first_sentence_ms}
        )
        [truncated] = session.of("conversation.item.truncated")
    revised = truncated["berth_memory"]
    assert revised["turn"] == 1 and revised["file_id"] != told["berth_memory"]["file_id"]
    [record] = await vectors.list_files(None, store.id)
    assert record.file_id == revised["file_id"] and record.attributes["turn"] == 1
    with pytest.raises(errors.UnknownFile):
        await berth.services.files.get(None, told["berth_memory"]["file_id"])
    async with berth.dispatcher():
        await settled(vectors, store.id)
    [chunk] = await vectors.index.texts(store.id, revised["file_id"])
    assert chunk.startswith(f"User: {spoken}") and chunk.rstrip().endswith(f"Assistant: {FACT}")


def item_sentence_end(talk: Talk, item_id: str) -> int:
    """Where the first sentence's audio of the assistant item ``item_id`` ends (ms)."""
    item = talk.session.conversation.find(item_id)
    return item.spoken[0][1]
