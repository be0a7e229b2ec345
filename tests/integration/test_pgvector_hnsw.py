"""pgvector's filtered-HNSW pitfall, shown and handled.

Two stores of 6000 chunks each share one HNSW index; the other store's chunks lie nearer the
query. Once the table is analysed PostgreSQL's planner walks the HNSW index for ``ORDER BY
distance LIMIT k`` and filters by store afterwards: with the default ``hnsw.ef_search`` (40) a
plain query for 100 finds few or none of this store's chunks. The index adapter's ``nearest``
answers all 100, each of this store, nearly the exact 100.
"""

from __future__ import annotations

import numpy as np
import psycopg
import pytest

from berth.db.stores import stores_for
from berth.jobs.store import JobStore
from berth.vectors.memory import cosine_distances
from berth.vectors.record import Chunk
from tests.vectorstores import require_pgvector

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PER_STORE = 6000
WIDTH = 16
K = 100


@pytest.fixture
def store_kind() -> str:
    return "postgres"


async def test_a_filtered_hnsw_query_returns_all_it_is_asked_for(
    store: JobStore, postgres_url: str
) -> None:
    require_pgvector("postgres")
    index = stores_for(store).vector_index
    rng = np.random.default_rng(42)
    centre = rng.normal(size=WIDTH).astype(np.float32)
    made = {}
    for store_id, shift in (("vs_crowd", 0.0), ("vs_mine", 0.5)):
        matrix = (rng.normal(size=(PER_STORE, WIDTH)) * 0.3 + centre + shift).astype(np.float32)
        made[store_id] = matrix
        for at in range(0, PER_STORE, 1000):
            part = [
                Chunk("file-a", at + i, "t", 1, row) for i, row in enumerate(matrix[at : at + 1000])
            ]
            await index.add(store_id, "m", part)
    literal = "[" + ",".join(repr(float(x)) for x in centre) + "]"
    plain = (
        f"SELECT chunk_id FROM berth_vec_{WIDTH} WHERE store_id = 'vs_mine' "
        f"ORDER BY embedding <=> '{literal}' LIMIT {K}"
    )
    with psycopg.connect(postgres_url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("ANALYZE")
        plan = "\n".join(row[0] for row in conn.execute("EXPLAIN " + plain).fetchall())
        short = len(conn.execute(plain).fetchall())
    assert f"berth_vec_{WIDTH}_hnsw" in plan, plan
    assert short < K  # the pitfall is real here
    hits = await index.nearest("vs_mine", centre, K)
    assert len(hits) == K
    exact = set(np.argsort(cosine_distances(made["vs_mine"], centre))[:K].tolist())
    assert len({hit.seq for hit in hits} & exact) >= 95
