from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from berth import errors
from berth.clock import ManualClock
from berth.db.stores import store_from_url
from berth.jobs.store import JobStore
from berth.jobs.workers import WorkerInfo
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.models.manifest import ModelState
from berth.services.models import LoadedModel, ModelService
from berth.settings import Settings

pytestmark = pytest.mark.unit
USER = """
[models.tiny]
task = "embed"
runner = "sentence-transformers"
source = "hf:acme/tiny@main"
"""


@pytest.fixture
async def store(clock: ManualClock) -> AsyncIterator[JobStore]:
    async with store_from_url("memory://", clock=clock) as opened:
        yield opened


@pytest.fixture
def service(tmp_path: Path, store: JobStore, clock: ManualClock) -> ModelService:
    (tmp_path / "catalog.toml").write_text(USER)
    settings = Settings(home=tmp_path, lease_seconds=30)
    built = ModelService(Catalog.load(settings), ModelCache(settings), store, live_seconds=30)
    built.clock = clock.now
    return built


async def add_worker(store: JobStore, clock: ManualClock, worker_id: str, *models: dict) -> None:  # type: ignore[type-arg]
    now = clock.now()
    await store.register_worker(WorkerInfo(worker_id, "gpu-1", 42, now, now, 4))
    await store.report_models(worker_id, list(models))


async def test_ls_marks_models_live_workers_hold_as_loaded(
    service: ModelService, store: JobStore, clock: ManualClock
) -> None:
    await add_worker(store, clock, "w-old", {"alias": "tiny"})
    clock.advance(31)
    await add_worker(store, clock, "w-1", {"alias": "echo", "device": "cpu"})
    statuses = {status.spec.alias: status for status in await service.list_models()}
    assert statuses["echo"].state is ModelState.LOADED
    assert statuses["echo"].cache_state is ModelState.VERIFIED
    assert statuses["echo"].loaded_on == ("w-1",)
    assert statuses["tiny"].state is ModelState.MISSING
    assert statuses["all-minilm-l6-v2"].state is ModelState.CACHED
    assert statuses["all-minilm-l6-v2"].size_bytes
    assert statuses["tiny"].to_json()["origin"].endswith("catalog.toml")
    assert await service.live_workers() == 1


async def test_loaded_reads_the_workers_reports(
    service: ModelService, store: JobStore, clock: ManualClock
) -> None:
    report = {
        "alias": "echo",
        "device": "cuda:0",
        "memory_bytes": 2_000_000,
        "idle_seconds": 12.5,
        "requests": 7,
        "pinned": True,
        "loaded_at": 1.0,
    }
    await add_worker(store, clock, "w-1", report, {"alias": "odd", "memory_bytes": "lots"})
    loaded = await service.loaded()
    assert loaded[0] == LoadedModel("w-1", "gpu-1", "echo", "cuda:0", 2_000_000, 12.5, 7, True, 1.0)
    assert loaded[1].alias == "odd" and loaded[1].memory_bytes is None
    assert loaded[0].to_json()["worker"] == "w-1"


async def test_without_a_store_nothing_is_loaded(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    service = ModelService(Catalog.load(settings), ModelCache(settings))
    assert await service.loaded() == []
    assert ModelState.LOADED not in {s.state for s in await service.list_models()}


def test_verify_all_skips_fileless_models_and_reports_missing_ones(service: ModelService) -> None:
    reports = {report.alias: report for report in service.verify()}
    assert "echo" not in reports
    assert reports["tiny"].state is ModelState.MISSING
    assert reports["all-minilm-l6-v2"].state is ModelState.VERIFIED
    with pytest.raises(errors.ModelNotCached, match="berth models pull tiny"):
        service.verify("tiny")


def test_unknown_aliases_are_refused(service: ModelService) -> None:
    for call in (service.remove, service.pull, service.path_for, service.verify):
        with pytest.raises(errors.UnknownModel, match=r"'tinny'\. Did you mean 'tiny'"):
            call("tinny")
