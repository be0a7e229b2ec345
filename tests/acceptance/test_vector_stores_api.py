"""The Vector Stores API, driven unchanged by the official ``openai`` client against
``berth serve`` on SQLite and on PostgreSQL (pgvector): stores, files uploaded and polled,
file batches, search with filters and a score threshold, and the errors a caller can make."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.acceptance.live import LiveServer, live_server
from tests.conftest import PostgresDatabases
from tests.pdfs import pdf_with_pages
from tests.vectorstores import require_pgvector

pytestmark = [pytest.mark.acceptance, pytest.mark.slow, pytest.mark.timeout(600)]
HARBOUR = (
    "Fishing boats leave the harbour before sunrise and return with their catch in the "
    "afternoon. The lighthouse guides ships past the rocks at night."
)
BREAD = (
    "To bake bread, mix flour, water, salt and yeast, knead the dough, let it rise for an "
    "hour, then bake it in a hot oven until the crust is brown."
)
STARS = "Astronomers use telescopes to observe distant galaxies and the light of stars."


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp("serve") / "home"
    settings = {"BERTH_LOAD_WAIT_SECONDS": "240"}
    if request.param == "postgres":
        require_pgvector("postgres")
        databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
        settings["BERTH_DATABASE_URL"] = databases.create()
    with live_server(home, **settings) as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", max_retries=0)


def upload(client: openai.OpenAI, name: str, data: bytes) -> str:
    return client.files.create(file=(name, io.BytesIO(data)), purpose="assistants").id


def test_a_store_is_filled_polled_and_searched(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(
        name="notes",
        metadata={"team": "docs"},
        expires_after={"anchor": "last_active_at", "days": 7},
    )
    assert store.id.startswith("vs_") and store.object == "vector_store"
    assert (store.name, store.status, store.metadata) == ("notes", "completed", {"team": "docs"})
    assert store.expires_after is not None and store.expires_after.days == 7
    assert (store.model_extra or {})["model"] == "all-minilm-l6-v2"

    harbour = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id,
        file=("harbour.md", io.BytesIO(b"# Harbour\n\n" + HARBOUR.encode())),
        attributes={"topic": "sea", "year": 2021},
    )
    assert harbour.status == "completed" and harbour.last_error is None
    assert harbour.attributes == {"topic": "sea", "year": 2021}
    assert harbour.usage_bytes > 0 and harbour.chunking_strategy is not None
    assert harbour.chunking_strategy.type == "static"

    ids = [
        upload(client, "bread.txt", BREAD.encode()),
        upload(client, "stars.pdf", pdf_with_pages(STARS)),
    ]
    batch = client.vector_stores.file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=ids, attributes={"topic": "other", "year": 2024}
    )
    assert batch.object == "vector_store.files_batch" and batch.status == "completed"
    assert (batch.file_counts.completed, batch.file_counts.total) == (2, 2)
    in_batch = client.vector_stores.file_batches.list_files(
        vector_store_id=store.id, batch_id=batch.id
    )
    assert {f.id for f in in_batch} == set(ids)

    found = client.vector_stores.search(store.id, query="a loaf made with yeast", max_num_results=3)
    results = list(found)
    assert results[0].filename == "bread.txt" and results[0].content[0].type == "text"
    assert BREAD in results[0].content[0].text
    assert results[0].score >= results[-1].score and len(results) == 3
    sea = client.vector_stores.search(
        store.id,
        query="a loaf made with yeast",
        filters={"type": "eq", "key": "topic", "value": "sea"},
    )
    assert [r.filename for r in sea] == ["harbour.md"]
    newer = client.vector_stores.search(
        store.id,
        query=["telescopes", "galaxies"],
        filters={"type": "and", "filters": [{"type": "gte", "key": "year", "value": 2022}]},
        ranking_options={"score_threshold": 0.4},
    )
    assert [r.filename for r in newer] == ["stars.pdf"]
    assert (newer.model_extra or {})["search_query"] == ["telescopes", "galaxies"]

    updated = client.vector_stores.files.update(
        harbour.id, vector_store_id=store.id, attributes={"topic": "coast"}
    )
    assert updated.attributes == {"topic": "coast"}
    coast = client.vector_stores.search(
        store.id, query="boats", filters={"type": "eq", "key": "topic", "value": "coast"}
    )
    assert [r.filename for r in coast] == ["harbour.md"]
    content = list(client.vector_stores.files.content(harbour.id, vector_store_id=store.id))
    assert len(content) == 1 and content[0].text is not None and HARBOUR in content[0].text

    listed = client.vector_stores.files.list(vector_store_id=store.id, filter="completed")
    assert len(listed.data) == 3
    assert (
        client.vector_stores.files.retrieve(harbour.id, vector_store_id=store.id).id == harbour.id
    )
    assert client.vector_stores.files.delete(harbour.id, vector_store_id=store.id).deleted
    after = client.vector_stores.search(store.id, query="boats")
    assert "harbour.md" not in [r.filename for r in after]

    again = client.vector_stores.retrieve(store.id)
    assert again.file_counts.completed == 2 and again.usage_bytes > 0
    renamed = client.vector_stores.update(store.id, name="renamed")
    assert renamed.name == "renamed" and renamed.metadata == {"team": "docs"}
    assert store.id in [s.id for s in client.vector_stores.list()]
    deleted = client.vector_stores.delete(store.id)
    assert deleted.deleted and deleted.object == "vector_store.deleted"
    with pytest.raises(openai.NotFoundError, match=store.id):
        client.vector_stores.retrieve(store.id)


def test_an_unreadable_file_fails_alone_and_bad_requests_name_the_field(
    client: openai.OpenAI,
) -> None:
    store = client.vector_stores.create(name="mixed")
    png = client.vector_stores.files.upload_and_poll(
        vector_store_id=store.id, file=("photo.png", io.BytesIO(b"\x89PNG\r\n\x1a\n" + bytes(32)))
    )
    assert png.status == "failed" and png.last_error is not None
    assert png.last_error.code == "unsupported_file" and "'.png'" in png.last_error.message
    assert client.vector_stores.retrieve(store.id).file_counts.failed == 1
    text_id = upload(client, "a.txt", b"some words")
    for call, message in [
        (
            lambda: client.vector_stores.files.create(
                vector_store_id=store.id,
                file_id=text_id,
                chunking_strategy={
                    "type": "static",
                    "static": {"max_chunk_size_tokens": 50, "chunk_overlap_tokens": 0},
                },
            ),
            "max_chunk_size_tokens: must be a whole number from 100 to 4096",
        ),
        (
            lambda: client.vector_stores.search(store.id, query="x", rewrite_query=True),
            "rewrite_query",
        ),
        (
            lambda: client.vector_stores.search(
                store.id,
                query="x",
                filters={"type": "like", "key": "a", "value": 1},  # type: ignore[typeddict-item]
            ),
            "filters.type: 'like' is not a filter",
        ),
        (
            lambda: client.vector_stores.create(extra_body={"model": "espeak-ng"}),
            "cannot make embeddings",
        ),
    ]:
        with pytest.raises(openai.BadRequestError, match=message):
            call()
    with pytest.raises(openai.NotFoundError, match="file-nope"):
        client.vector_stores.files.create(vector_store_id=store.id, file_id="file-nope")
    with pytest.raises(openai.NotFoundError, match="vs_nope"):
        client.vector_stores.search("vs_nope", query="x")


def test_a_batch_can_be_cancelled(client: openai.OpenAI) -> None:
    store = client.vector_stores.create(name="cancel")
    long_text = " ".join(f"Line {i} about the tide." for i in range(3000)).encode()
    ids = [upload(client, f"long-{i}.txt", long_text) for i in range(3)]
    batch = client.vector_stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    assert batch.status == "in_progress"
    cancelled = client.vector_stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    assert cancelled.file_counts.in_progress == 0
    assert (
        client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=store.id).status
        == "cancelled"
    )
