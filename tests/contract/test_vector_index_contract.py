"""The one suite every vector-index adapter passes: memory, sqlite-vec and pgvector (HNSW).

Rankings are checked against exact cosine ranking in numpy. The approximate adapter must
still answer the full number asked for when other stores' chunks crowd the neighbourhood
(pgvector's ``ef_search`` pitfall: see also tests/integration/test_pgvector_hnsw.py, where
the planner is made to walk the index), and a filtered search must too, on its over-fetching path
as on its exact one.
"""

from __future__ import annotations

import numpy as np
import pytest

from berth.vectors.index import VectorIndex
from berth.vectors.memory import cosine_distances
from berth.vectors.record import Chunk, Vector
from berth.vectors.search import SearchPlan, search

pytestmark = pytest.mark.contract
WIDTH = 16
MODEL = "all-minilm-l6-v2"
OVER_FETCH = SearchPlan(exact_below=0, exact_share=0.0)
"""Never rank exactly unless fetching would pass max_fetch: the approximate path."""


def vectors(count: int, seed: int, centre: Vector | None = None) -> Vector:
    rng = np.random.default_rng(seed)
    made = rng.normal(size=(count, WIDTH)).astype(np.float32)
    if centre is not None:
        made = made * 0.3 + centre
    return np.asarray(made, dtype=np.float32)


def chunks_of(file_id: str, matrix: Vector, start: int = 0) -> list[Chunk]:
    return [
        Chunk(file_id, start + i, f"{file_id} chunk {start + i}", 5, row.astype(np.float32))
        for i, row in enumerate(matrix)
    ]


def exact_order(matrix: Vector, query: Vector, k: int) -> list[int]:
    return [int(i) for i in np.argsort(cosine_distances(matrix, query), kind="stable")[:k]]


async def test_chunks_are_stored_once_counted_and_read_back(index: VectorIndex) -> None:
    first = chunks_of("file-a", vectors(5, 1))
    await index.add("vs_1", MODEL, first[:3])
    await index.add("vs_1", MODEL, first)  # the first three again: kept as they are
    await index.add("vs_1", MODEL, chunks_of("file-b", vectors(2, 2)))
    await index.add("vs_2", "other-model", chunks_of("file-a", vectors(4, 3)))
    assert await index.stored("vs_1", "file-a") == 5
    assert await index.count("vs_1") == 7
    assert await index.count("vs_1", ["file-b"]) == 2
    assert await index.count("vs_1", ["file-x"]) == 0
    assert await index.texts("vs_1", "file-a") == [c.text for c in first]
    assert await index.models("vs_1") == {MODEL}
    assert await index.models("vs_2") == {"other-model"}


async def test_nearest_ranks_by_cosine_within_the_store(index: VectorIndex) -> None:
    matrix = vectors(200, 4)
    await index.add("vs_1", MODEL, chunks_of("file-a", matrix))
    await index.add("vs_2", MODEL, chunks_of("file-a", vectors(200, 5)))
    query = vectors(1, 6)[0]
    hits = await index.nearest("vs_1", query, 10)
    expected = exact_order(matrix, query, 10)
    assert [h.seq for h in hits][:1] == expected[:1]
    assert len({h.seq for h in hits} & set(expected)) >= 9
    assert all(h.file_id == "file-a" and h.text == f"file-a chunk {h.seq}" for h in hits)
    distances = [h.distance for h in hits]
    assert distances == sorted(distances)
    truth = cosine_distances(matrix, query)
    for hit in hits:
        assert hit.distance == pytest.approx(float(truth[hit.seq]), abs=1e-4)
        assert 0.0 <= hit.score <= 1.0


async def test_nearest_is_never_short_when_other_stores_crowd_the_neighbourhood(
    index: VectorIndex,
) -> None:
    centre = vectors(1, 7)[0]
    await index.add("vs_crowd", MODEL, chunks_of("file-c", vectors(1500, 8, centre)))
    mine = vectors(120, 9, centre + 0.5)
    await index.add("vs_mine", MODEL, chunks_of("file-m", mine))
    hits = await index.nearest("vs_mine", centre, 100)
    assert len(hits) == 100
    assert {h.file_id for h in hits} == {"file-m"}
    assert len({h.seq for h in hits} & set(exact_order(mine, centre, 100))) >= 95


async def test_exact_ranks_only_the_files_named(index: VectorIndex) -> None:
    a, b = vectors(50, 10), vectors(50, 11)
    await index.add("vs_1", MODEL, chunks_of("file-a", a))
    await index.add("vs_1", MODEL, chunks_of("file-b", b))
    query = vectors(1, 12)[0]
    hits = await index.exact("vs_1", query, 7, ["file-b"])
    assert [(h.file_id, h.seq) for h in hits] == [("file-b", i) for i in exact_order(b, query, 7)]
    assert await index.exact("vs_1", query, 7, ["file-z"]) == []


@pytest.mark.parametrize("plan", [OVER_FETCH, SearchPlan()], ids=["over-fetch", "exact"])
async def test_a_filtered_search_returns_all_it_is_asked_for(
    index: VectorIndex, plan: SearchPlan
) -> None:
    centre = vectors(1, 13)[0]
    files = {f"file-{i}": vectors(40, 20 + i, centre) for i in range(10)}
    for file_id, matrix in files.items():
        await index.add("vs_1", MODEL, chunks_of(file_id, matrix))
    allowed = ["file-3", "file-7"]
    hits = await search(index, "vs_1", centre, 50, files=allowed, plan=plan)
    assert len(hits) == 50
    assert {h.file_id for h in hits} <= set(allowed)
    pool = np.concatenate([files[f] for f in allowed])
    names = [(f, i) for f in allowed for i in range(40)]
    expected = {names[i] for i in exact_order(pool, centre, 50)}
    assert len({(h.file_id, h.seq) for h in hits} & expected) >= 47
    assert await search(index, "vs_1", centre, 5, files=[], plan=plan) == []


async def test_a_score_threshold_drops_the_weaker_hits(index: VectorIndex) -> None:
    matrix = vectors(30, 14)
    await index.add("vs_1", MODEL, chunks_of("file-a", matrix))
    query = matrix[3]
    everything = await search(index, "vs_1", query, 30)
    strong = await search(index, "vs_1", query, 30, score_threshold=0.5)
    assert strong[0].seq == 3 and strong[0].score == pytest.approx(1.0, abs=1e-5)
    assert strong == [h for h in everything if h.score >= 0.5]
    assert 0 < len(strong) < len(everything)


async def test_removing_a_file_or_a_store_forgets_its_chunks(index: VectorIndex) -> None:
    await index.add("vs_1", MODEL, chunks_of("file-a", vectors(10, 15)))
    await index.add("vs_1", MODEL, chunks_of("file-b", vectors(10, 16)))
    await index.add("vs_2", MODEL, chunks_of("file-a", vectors(10, 17)))
    await index.remove_file("vs_1", "file-a")
    assert await index.count("vs_1") == 10
    query = vectors(1, 18)[0]
    assert {h.file_id for h in await index.nearest("vs_1", query, 20)} == {"file-b"}
    await index.remove_store("vs_1")
    assert await index.count("vs_1") == 0
    assert await index.nearest("vs_1", query, 5) == []
    assert await index.count("vs_2") == 10
    await index.add("vs_1", MODEL, chunks_of("file-a", vectors(3, 19)))
    assert await index.stored("vs_1", "file-a") == 3
