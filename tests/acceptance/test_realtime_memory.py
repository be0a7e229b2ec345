"""Conversation memory across realtime sessions, driven unchanged by the official ``openai``
client's ``realtime.connect`` against ``berth serve`` (SQLite, the shipped MiniLM, the
``echo`` model): session A with ``berth_memory`` is told a fact; once its turn is ingested, a
new session B with the same store is given it (its ``response.done`` cites session A's turn);
a session without ``berth_memory`` is not; an unknown store is an ``error`` event and the
session goes on."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.acceptance.live import LiveServer, live_server

pytestmark = [pytest.mark.acceptance, pytest.mark.slow, pytest.mark.timeout(600)]
FACT = "My sister Ingrid keeps bees on a farm near Tromso."
QUESTION = "Where does my sister keep her bees?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("serve") / "home"
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="240") as live:
        yield live


def clients(server: LiveServer) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    base = f"{server.url}/v1"
    return (
        openai.OpenAI(base_url=base, api_key="none", max_retries=0),
        openai.AsyncOpenAI(base_url=base, api_key="none", max_retries=0),
    )


def text_session(**berth: Any) -> Any:
    return {
        "type": "realtime",
        "output_modalities": ["text"],
        "audio": {"input": {"turn_detection": None}},
        **berth,
    }


@asynccontextmanager
async def connected(client: openai.AsyncOpenAI, **berth: Any) -> AsyncIterator[Any]:
    async with client.realtime.connect(model="echo") as connection:
        assert (await connection.recv()).type == "session.created"
        await connection.session.update(session=text_session(**berth))
        yield connection


async def next_of(connection: Any, *kinds: str) -> Any:
    while True:
        event = await connection.recv()
        if event.type in kinds:
            return event


async def ask(connection: Any, text: str) -> Any:
    """Send a user text item, answer it; the finished response."""
    await connection.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    )
    await connection.response.create()
    done = await next_of(connection, "response.done", "error")
    assert done.type == "response.done", done
    assert done.response.status == "completed"
    return done.response


def extra(response: Any, name: str) -> Any:
    return (response.model_extra or {}).get(name)


def ingested(client: openai.OpenAI, store_id: str, file_id: str) -> None:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status = client.vector_stores.files.retrieve(file_id, vector_store_id=store_id).status
        if status == "completed":
            return
        assert status == "in_progress", status
        time.sleep(0.2)
    raise AssertionError("the remembered turn was not ingested in 240 s")


async def test_a_new_session_recalls_the_fact_an_earlier_one_was_told(server: LiveServer) -> None:
    client, realtime = clients(server)
    store = client.vector_stores.create(name="memory")
    memory = {"vector_store_id": store.id}
    async with connected(realtime, berth_memory=memory) as first:
        updated = await next_of(first, "session.updated")
        assert extra(updated.session, "berth_memory")["vector_store_id"] == store.id
        told = await ask(first, FACT)
    written = extra(told, "berth_memory")
    assert written["vector_store_id"] == store.id and written["turn"] == 1
    ingested(client, store.id, written["file_id"])
    stored = client.vector_stores.files.retrieve(written["file_id"], vector_store_id=store.id)
    assert stored.attributes and stored.attributes["turn"] == 1

    async with connected(realtime, berth_memory=memory) as second:
        await next_of(second, "session.updated")
        answer = await ask(second, QUESTION)
    [cited] = extra(answer, "berth_citations")
    assert cited["type"] == "berth_memory" and cited["file_id"] == written["file_id"]
    assert FACT in cited["quote"] and cited["vector_store_id"] == store.id
    assert answer.usage.input_tokens > len(QUESTION.split()) + len(FACT.split())

    async with connected(realtime) as forgetful:
        await next_of(forgetful, "session.updated")
        plain = await ask(forgetful, QUESTION)
    assert extra(plain, "berth_citations") is None and extra(plain, "berth_memory") is None
    assert plain.usage.input_tokens == len(QUESTION.split())


async def test_an_unknown_memory_store_is_an_error_and_the_session_goes_on(
    server: LiveServer,
) -> None:
    _, realtime = clients(server)
    async with connected(realtime, berth_memory={"vector_store_id": "vs_nowhere"}) as session:
        error = await next_of(session, "error", "session.updated")
        assert error.type == "error"
        assert error.error.param == "session.berth_memory.vector_store_id"
        assert "vs_nowhere" in error.error.message
        assert "POST /v1/vector_stores" in error.error.message
        await session.session.update(session=text_session())
        updated = await next_of(session, "session.updated", "error")
        assert updated.type == "session.updated" and extra(updated.session, "berth_memory") is None
        reply = await ask(session, "Still there?")
    assert reply.output[0].content[0].text == "Still there?"
    assert extra(reply, "berth_memory") is None
