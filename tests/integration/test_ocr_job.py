"""The ``ocr`` job kind through a dispatcher, a memory store and the rapidocr model."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from berth import errors
from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import Job, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import ocr
from berth.models.cache import ModelCache
from berth.models.catalog import Catalog
from berth.plugins import PluginRegistry, discover
from berth.pool.pool import ModelPool
from berth.settings import Settings
from tests.images import render_lines, squeeze
from tests.jobharness import JobHarness
from tests.pools import job_calls

pytestmark = [pytest.mark.integration, pytest.mark.slow]


class Harness(JobHarness):
    kind = "ocr"

    def artifact(self, job: Job, name: str) -> str:
        return self.path(job, name).read_text()


@pytest_asyncio.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    settings = Settings(home=tmp_path)
    runners = discover().runners
    catalog, cache = Catalog.load(settings, runners), ModelCache(settings)
    registry = PluginRegistry()
    ocr.register(registry)
    config = DispatcherConfig(
        outputs_dir=tmp_path / "outputs", home=tmp_path, poll_seconds=0.05, retry_base_seconds=0.05
    )
    async with (
        ModelPool(settings, catalog.get, cache.path_for, runners) as pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        yield Harness(store, config)


@pytest.mark.asyncio
async def test_each_file_gets_a_json_and_a_text_artifact(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "scans").mkdir()
    (tmp_path / "scans" / "first page.png").write_bytes(render_lines(["Lighthouse"]))
    (tmp_path / "second.jpg").write_bytes(render_lines(["Anchor", "Rope"], fmt="JPEG"))
    job = await harness.run({"files": ["scans/first page.png", str(tmp_path / "second.jpg")]})
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert job.progress == 1.0
    assert job.result is not None and job.result["model"] == "rapidocr"
    assert job.result["count"] == 2
    first, second = job.result["files"]
    assert first["json"] == "001-first_page.json" and second["text"] == "002-second.txt"
    assert (first["lines"], second["lines"]) == (1, 2)
    assert sorted(a.name for a in job.artifacts) == [
        "001-first_page.json",
        "001-first_page.txt",
        "002-second.json",
        "002-second.txt",
    ]
    document = json.loads(harness.artifact(job, "002-second.json"))
    assert [squeeze(line["text"]) for line in document["lines"]] == ["anchor", "rope"]
    assert (
        document["file"] == str(tmp_path / "second.jpg") and len(document["lines"][0]["box"]) == 4
    )
    assert squeeze(harness.artifact(job, "001-first_page.txt")) == "lighthouse"


@pytest.mark.asyncio
async def test_a_missing_or_broken_file_fails_the_job_clearly(
    harness: Harness, tmp_path: Path
) -> None:
    job = await harness.run({"files": ["nowhere.png"]})
    assert job.status is JobStatus.FAILED and job.error is not None
    assert (
        job.error.type == "InvalidJobInput" and "does not exist on this worker" in job.error.message
    )
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    job = await harness.run({"files": ["broken.png"]})
    assert job.status is JobStatus.FAILED and job.error is not None
    assert job.error.type == "InvalidJobInput"
    assert "broken.png" in job.error.message and "not an image" in job.error.message
    assert job.attempts == 1


def test_the_input_is_a_list_of_files() -> None:
    registry = PluginRegistry()
    ocr.register(registry)
    kind = registry.kind("ocr")
    assert kind.parse({"files": ["a.png"]}).files == ["a.png"]
    for bad in ({}, {"files": []}, {"files": "a.png"}, {"files": ["a"], "other": 1}):
        with pytest.raises(errors.InvalidJobInput, match="Invalid input for job kind 'ocr'"):
            kind.parse(bad)
