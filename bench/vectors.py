"""Vector-index benchmark: search latency and recall@10 against exact search, on sqlite-vec and
pgvector (HNSW), unfiltered and with an attribute-style filter keeping a tenth of the files.

Vectors are 384-wide (MiniLM's width), clustered like real embeddings; the exact answer is
numpy's. Prints a table, then one JSON object with every figure as its last line::

    .venv/bin/python bench/vectors.py                  # 10k vectors on both backends
    .venv/bin/python bench/vectors.py --sizes 10000 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
# Run as a script, bench/ heads sys.path and bench/queue.py would shadow the standard library.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(BENCH_DIR.parent))

from berth.db.stores import open_stores  # noqa: E402
from berth.vectors.index import VectorIndex  # noqa: E402
from berth.vectors.memory import cosine_distances  # noqa: E402
from berth.vectors.record import Chunk  # noqa: E402
from berth.vectors.search import search  # noqa: E402

WIDTH, K, QUERIES, FILES, STORE = 384, 10, 100, 100, "vs_bench"
ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def dataset(size: int, seed: int = 7) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(64, WIDTH))
    data = centres[rng.integers(64, size=size)] + rng.normal(size=(size, WIDTH)) * 0.6
    queries = centres[rng.integers(64, size=QUERIES)] + rng.normal(size=(QUERIES, WIDTH)) * 0.6
    return data.astype(np.float32), queries.astype(np.float32)


async def fill(index: VectorIndex, data: np.ndarray[Any, Any]) -> float:
    started = time.perf_counter()
    for at in range(0, len(data), 1000):
        chunks = [
            Chunk(f"file-{(at + i) % FILES:03d}", at + i, "t", 1, row)
            for i, row in enumerate(data[at : at + 1000])
        ]
        await index.add(STORE, "bench", chunks)
    return time.perf_counter() - started


async def measure(
    index: VectorIndex, data: np.ndarray[Any, Any], queries: np.ndarray[Any, Any], kept: set[str]
) -> dict[str, float]:
    files = np.array([f"file-{i % FILES:03d}" for i in range(len(data))])
    allowed = np.isin(files, sorted(kept))
    times, recalls = [], []
    for query in queries:
        started = time.perf_counter()
        hits = await search(index, STORE, query, K, files=kept if kept else None)
        times.append(time.perf_counter() - started)
        distances = cosine_distances(data, query)
        if kept:
            distances = np.where(allowed, distances, np.inf)
        exact = set(np.argsort(distances)[:K].tolist())
        recalls.append(len({h.seq for h in hits} & exact) / K)
    times.sort()
    return {
        "p50_ms": statistics.median(times) * 1000,
        "p95_ms": times[int(len(times) * 0.95) - 1] * 1000,
        "recall_at_10": statistics.mean(recalls),
    }


async def run_backend(backend: str, size: int) -> dict[str, Any]:
    data, queries = dataset(size)
    with tempfile.TemporaryDirectory() as folder:
        if backend == "sqlite":
            url, drop = f"sqlite:///{folder}/bench.db", None
        else:
            import psycopg

            name = f"berth_bench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url, drop = ADMIN.rsplit("/", 1)[0] + f"/{name}", name
        try:
            async with open_stores(url) as stores:
                index = stores.vector_index
                fill_seconds = await fill(index, data)
                row = {"backend": index.name, "vectors": size, "fill_s": fill_seconds}
                for label, kept in (
                    ("all", set()),
                    ("filtered", {f"file-{i:03d}" for i in range(10)}),
                ):
                    for key, value in (await measure(index, data, queries, kept)).items():
                        row[f"{label}_{key}"] = value
                return row
        finally:
            if drop:
                import psycopg

                with psycopg.connect(ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    args = parser.parse_args()
    rows = [asyncio.run(run_backend(b, n)) for n in args.sizes for b in args.backends]
    print(f"{'index':<11}{'vectors':>9}{'fill s':>8}{'p50 ms':>8}{'p95 ms':>8}{'recall':>8}"
          f"{'filt p50':>10}{'filt p95':>10}{'filt rec':>10}")  # fmt: skip
    for r in rows:
        print(
            f"{r['backend']:<11}{r['vectors']:>9}{r['fill_s']:>8.1f}{r['all_p50_ms']:>8.2f}"
            f"{r['all_p95_ms']:>8.2f}{r['all_recall_at_10']:>8.3f}{r['filtered_p50_ms']:>10.2f}"
            f"{r['filtered_p95_ms']:>10.2f}{r['filtered_recall_at_10']:>10.3f}"
        )
    print(json.dumps({"benchmark": "vectors", "rows": rows}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
