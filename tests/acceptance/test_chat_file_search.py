"""``file_search`` on chat completions, driven unchanged by the official ``openai`` client
against ``berth serve`` (SQLite, the shipped MiniLM, the ``echo`` model): the store's chunk
that answers the question is shown as source [1] and cited by a ``file_citation``
annotation, whole and streamed; unknown and other keys' stores are refused."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server

pytestmark = [pytest.mark.acceptance, pytest.mark.slow, pytest.mark.timeout(600)]
HARBOUR = "Fishing boats leave the harbour before sunrise; the lighthouse guides ships at night."
BREAD = "To bake bread, mix flour, water, salt and yeast, knead the dough and let it rise."
QUESTION = "How do I make a loaf with yeast?"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("serve") / "home"
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="240") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


@pytest.fixture(scope="module")
def kitchen(client: openai.OpenAI) -> tuple[str, str]:
    """A store with the harbour and bread notes, ingested; its id and the bread file's."""
    store = client.vector_stores.create(name="kitchen")
    ids = [
        client.files.create(file=(name, io.BytesIO(text.encode())), purpose="assistants").id
        for name, text in [("harbour.md", HARBOUR), ("bread.txt", BREAD)]
    ]
    batches = client.vector_stores.file_batches
    batch = batches.create_and_poll(vector_store_id=store.id, file_ids=ids)
    assert batch.status == "completed" and batch.file_counts.completed == 2
    return store.id, ids[1]


def file_search(store_id: str) -> Any:
    return {"type": "file_search", "vector_store_ids": [store_id], "max_num_results": 1}


def test_the_reply_cites_the_chunk_that_answers(
    client: openai.OpenAI, kitchen: tuple[str, str]
) -> None:
    store_id, bread = kitchen
    reply = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": QUESTION}],
        tools=[file_search(store_id)],
    )
    message = reply.choices[0].message
    content = message.content or ""
    assert content.startswith(QUESTION) and f"[1] bread.txt: {BREAD}" in content
    assert HARBOUR not in content
    [cited] = [a.model_dump() for a in message.annotations or []]
    assert cited["type"] == "file_citation"
    assert (cited["file_id"], cited["filename"], cited["vector_store_id"]) == (
        bread,
        "bread.txt",
        store_id,
    )
    assert cited["quote"] == BREAD and 0 < cited["score"] <= 1
    assert content[cited["index"] :].startswith("[1] bread.txt")


def test_a_streamed_reply_ends_with_its_citations(
    client: openai.OpenAI, kitchen: tuple[str, str]
) -> None:
    store_id, bread = kitchen
    stream = client.chat.completions.create(
        model="echo",
        messages=[{"role": "user", "content": QUESTION}],
        tools=[file_search(store_id)],
        stream=True,
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    annotated = [
        c.choices[0].delta.model_dump()["annotations"]
        for c in chunks
        if c.choices and c.choices[0].delta.model_dump().get("annotations")
    ]
    assert len(annotated) == 1 and f"[1] bread.txt: {BREAD}" in content
    [cited] = annotated[0]
    assert (cited["file_id"], cited["filename"]) == (bread, "bread.txt")
    assert content[cited["index"] :].startswith("[1] bread.txt")
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_unknown_and_other_keys_stores_are_refused(
    server: LiveServer, client: openai.OpenAI, kitchen: tuple[str, str]
) -> None:
    store_id, _ = kitchen
    ask: dict[str, Any] = {"model": "echo", "messages": [{"role": "user", "content": QUESTION}]}
    with pytest.raises(openai.NotFoundError, match="vs_nowhere"):
        client.chat.completions.create(**ask, tools=[file_search("vs_nowhere")])
    alice = openai.OpenAI(
        base_url=f"{server.url}/v1",
        api_key=create_key(server, "alice", "jobs,infer"),
        max_retries=0,
    )
    with pytest.raises(openai.NotFoundError, match=store_id):
        alice.chat.completions.create(**ask, tools=[file_search(store_id)])
    with pytest.raises(openai.BadRequestError, match="at most one file_search"):
        client.chat.completions.create(**ask, tools=[file_search(store_id)] * 2)
    empty: Any = {"type": "file_search", "vector_store_ids": []}
    with pytest.raises(openai.BadRequestError, match="vector_store_ids"):
        client.chat.completions.create(**ask, tools=[empty])
