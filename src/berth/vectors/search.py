"""Search over a :class:`~berth.vectors.index.VectorIndex`, with a filter, written once.

An approximate index (HNSW) asked for the ``k`` nearest chunks and filtered afterwards may
keep fewer than ``k``: the nearest it found belonged to other files. So a filtered search
either ranks the matching chunks exactly, when they are few (or a small share of the store),
or over-fetches in proportion to how many chunks the filter keeps, doubling until ``k`` are
kept or the store is exhausted, and falls back to exact ranking past ``max_fetch``.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

from berth.vectors.index import VectorIndex
from berth.vectors.record import Hit, Vector


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """When a filtered search ranks exactly, and how far it over-fetches otherwise."""

    exact_below: int = 2_000
    """Rank exactly when the filter keeps at most this many chunks, ..."""
    exact_share: float = 0.1
    """... or less than this share of the store."""
    over_fetch: float = 1.5
    """Fetch this much more than the filter's share alone would need."""
    max_fetch: int = 4_000
    """Rank exactly rather than fetch more than this many candidates."""


PLAN = SearchPlan()


async def search(
    index: VectorIndex,
    store_id: str,
    vector: Vector,
    k: int,
    *,
    files: Collection[str] | None = None,
    score_threshold: float | None = None,
    plan: SearchPlan = PLAN,
) -> list[Hit]:
    """The ``k`` chunks of the store nearest ``vector`` (only of ``files`` if given), nearest
    first, those scoring under ``score_threshold`` left out."""
    if files is None:
        hits = await index.nearest(store_id, vector, k)
    else:
        hits = await _filtered(index, store_id, vector, k, set(files), plan)
    if score_threshold is not None:
        hits = [hit for hit in hits if hit.score >= score_threshold]
    return hits


async def _filtered(
    index: VectorIndex, store_id: str, vector: Vector, k: int, allowed: set[str], plan: SearchPlan
) -> list[Hit]:
    if not allowed:
        return []
    matching = await index.count(store_id, allowed)
    if matching == 0:
        return []
    total = await index.count(store_id)
    if matching <= plan.exact_below or matching < total * plan.exact_share:
        return await index.exact(store_id, vector, k, allowed)
    fetch = min(total, max(k, math.ceil(k * total / matching * plan.over_fetch)))
    while fetch <= plan.max_fetch:
        found = await index.nearest(store_id, vector, fetch)
        kept = [hit for hit in found if hit.file_id in allowed]
        if len(kept) >= k or len(found) < fetch or fetch >= total:
            return kept[:k]
        fetch = min(total, fetch * 2)
    return await index.exact(store_id, vector, k, allowed)
