"""The vector-store contract suites' fixtures: the records and the index of each store kind."""

from __future__ import annotations

import pytest

from berth.db.stores import stores_for
from berth.jobs.store import JobStore
from berth.vectors.index import VectorIndex
from berth.vectors.store import VectorRecords
from tests.vectorstores import require_pgvector


@pytest.fixture
def records(store: JobStore) -> VectorRecords:
    return stores_for(store).vector_records


@pytest.fixture
def index(store: JobStore, store_kind: str) -> VectorIndex:
    require_pgvector(store_kind)
    return stores_for(store).vector_index
