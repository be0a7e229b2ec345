from __future__ import annotations

import time

import pytest

from berth.ids import id_time, new_id

pytestmark = pytest.mark.unit


def test_ids_are_unique_and_sort_by_creation() -> None:
    ids = [new_id("job_") for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 30 and i.startswith("job_") for i in ids)


def test_ids_encode_their_time() -> None:
    before = time.time()
    made = new_id("job_")
    assert before - 0.002 <= id_time(made, "job_") <= time.time() + 0.002
