"""Retrieval for chat in one Berth on SQLite with the MiniLM model shipped with Berth: the
``file_search`` service finds the chunk that answers the question in the caller's stores,
shows it to the ``echo`` model as a numbered source, and the reply's citation points at it
(in a realtime session too, in ``response.done``'s ``berth_citations``);
a store still ingesting, another key's store and an unknown one are refused."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.app import Berth
from berth.keys.key import ApiKey
from berth.services.filesearch import FileSearchTool, citations, last_user_text, with_sources
from berth.services.vectors import VectorService
from berth.settings import Settings
from berth.tasks.generate import ChatMessage, GenerationRequest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]
HARBOUR = "Fishing boats leave the harbour before sunrise; the lighthouse guides ships at night."
BREAD = "To bake bread, mix flour, water, salt and yeast, knead the dough and let it rise."
QUESTION = "How do I make a loaf with yeast?"


@pytest.fixture
async def berth(tmp_path: Path) -> AsyncIterator[Berth]:
    settings = Settings(
        home=tmp_path / "home", poll_seconds=0.05, heartbeat_seconds=0.2, load_wait_seconds=240
    )
    async with Berth(settings) as opened:
        yield opened


async def upload(berth: Berth, name: str, data: str) -> str:
    stored = await berth.services.files.upload(None, name, "assistants", io.BytesIO(data.encode()))
    return stored.id


async def settle(vectors: VectorService, store_id: str) -> None:
    async with asyncio.timeout(180):
        while (await vectors.get_store(None, store_id)).file_counts.in_progress:
            await asyncio.sleep(0.1)


async def test_the_answering_chunk_is_retrieved_shown_and_cited(berth: Berth) -> None:
    vectors = berth.services.vectors
    ids = [await upload(berth, "harbour.md", HARBOUR), await upload(berth, "bread.txt", BREAD)]
    store = await vectors.create_store(None, name="kitchen", file_ids=ids)
    tool = FileSearchTool((store.id,), max_num_results=1)
    with pytest.raises(errors.VectorStoreNotReady, match="still ingesting 2 file"):
        await vectors.file_search.sources(None, tool, QUESTION)

    async with berth.dispatcher():
        await settle(vectors, store.id)
    messages = (ChatMessage("system", "Be brief."), ChatMessage("user", QUESTION))
    sources = await vectors.file_search.sources(None, tool, last_user_text(messages))
    assert [(s.number, s.found.filename, s.store_id) for s in sources] == [
        (1, "bread.txt", store.id)
    ]
    prompt = with_sources(messages, sources)
    assert prompt[0] == messages[0] and prompt[1].content.startswith(QUESTION)
    assert f"[1] bread.txt: {BREAD}" in prompt[1].content and HARBOUR not in prompt[1].content

    done = await berth.services.inference.generate(None, "echo", GenerationRequest(messages=prompt))
    [cited] = citations(done.text, sources)
    assert (cited.file_id, cited.filename, cited.quote) == (ids[1], "bread.txt", BREAD)
    assert done.text[cited.index :].startswith("[1] bread.txt")
    assert 0 < cited.score <= 1


async def test_sources_come_from_the_callers_ready_stores_only(berth: Berth) -> None:
    vectors = berth.services.vectors
    alice = await berth.services.keys.create("alice", scopes=("jobs", "infer"))
    bob = await berth.services.keys.create("bob", scopes=("jobs", "infer"))
    alice_key: ApiKey = alice.key
    empty = await vectors.create_store(alice_key, name="empty")
    assert await vectors.file_search.sources(alice_key, FileSearchTool((empty.id,)), "x") == []
    with pytest.raises(errors.UnknownVectorStore, match=empty.id):
        await vectors.file_search.sources(bob.key, FileSearchTool((empty.id,)), QUESTION)
    with pytest.raises(errors.UnknownVectorStore, match="vs_missing"):
        await vectors.file_search.sources(alice_key, FileSearchTool(("vs_missing",)), QUESTION)
    with pytest.raises(errors.InvalidRequest, match="1 to 2 vector stores"):
        FileSearchTool(())
    with pytest.raises(errors.InvalidRequest, match="named twice"):
        FileSearchTool((empty.id, empty.id))
    with pytest.raises(errors.InvalidRequest, match="no user message"):
        last_user_text([ChatMessage("system", "hi")])


async def test_a_realtime_session_retrieves_on_each_turn(berth: Berth) -> None:
    vectors = berth.services.vectors
    ids = [await upload(berth, "harbour.md", HARBOUR), await upload(berth, "bread.txt", BREAD)]
    store = await vectors.create_store(None, name="kitchen", file_ids=ids)
    async with berth.dispatcher():
        await settle(vectors, store.id)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async with berth.services.realtime.open(None, "echo", send) as session:
        search: dict[str, Any] = {"vector_store_ids": ["vs_nowhere"]}
        update: dict[str, Any] = {"output_modalities": ["text"], "berth_file_search": search}
        await session.handle({"type": "session.update", "session": update})
        [refused] = [m for m in sent if m["type"] == "error"]
        assert "vs_nowhere" in refused["error"]["message"]
        search = {"vector_store_ids": [store.id], "max_num_results": 1}
        update = {
            **update,
            "berth_file_search": search,
            "audio": {"input": {"turn_detection": None}},
        }
        await session.handle({"type": "session.update", "session": update})
        [updated] = [m for m in sent if m["type"] == "session.updated"]
        assert updated["session"]["berth_file_search"] == search
        text = {"type": "input_text", "text": QUESTION}
        item = {"type": "message", "role": "user", "content": [text]}
        await session.handle({"type": "conversation.item.create", "item": item})
        await session.handle({"type": "response.create"})
        async with asyncio.timeout(120):
            while not [m for m in sent if m["type"] == "response.done"]:
                await asyncio.sleep(0.05)
    [done] = [m for m in sent if m["type"] == "response.done"]
    assert done["response"]["status"] == "completed"
    reply = done["response"]["output"][0]["content"][0]["text"]
    assert reply.startswith(QUESTION) and f"[1] bread.txt: {BREAD}" in reply
    assert HARBOUR not in reply
    [cited] = done["response"]["berth_citations"]
    assert (cited["type"], cited["filename"], cited["quote"]) == (
        "file_citation",
        "bread.txt",
        BREAD,
    )
    assert cited["vector_store_id"] == store.id and reply[cited["index"] :].startswith("[1]")
