"""The ``eval-dataset`` kind on the tiny Stable Diffusion pipeline over a captioned folder
built here: losses with and without captions at fixed noises, flags, the report, and a
resumed run that measures only what its journal lacks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import eval_dataset
from berth.models.cache import ModelCache
from berth.plugins import PluginRegistry
from berth.pool.pool import ModelPool
from berth.settings import Settings
from berth.tasks.denoise import DENOISE, DenoiseRequest
from tests.integration.test_diffusion import ALIAS, tiny_spec
from tests.jobharness import JobHarness
from tests.pools import catalog, job_calls, runners
from tests.tiny.captioned import build_captioned
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CAPTIONS = {
    "a-cat": "a cat",
    "b-dog": "a dog on a red sofa",
    "c-none": None,
    "d-empty": "  \n",
    "e-sky": "blue sky",
}
BASE = {"samples_per_image": 3, "eval_resolution": 64, "seed": 7}


class Harness(JobHarness):
    kind, model = "eval-dataset", ALIAS

    def __init__(self, store: MemoryJobStore, config: DispatcherConfig, pool: ModelPool) -> None:
        super().__init__(store, config)
        self.pool = pool
        self.folder = config.home / "data" / "set"
        self.reports = config.home / "reports"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    home = tmp_path_factory.mktemp("home")
    model = build_tiny_diffusion(tmp_path_factory.mktemp("tiny-sd"))
    build_captioned(home / "data" / "set", CAPTIONS)
    settings = Settings(home=home)
    registry = PluginRegistry()
    eval_dataset.register(registry)
    config = DispatcherConfig(
        outputs_dir=home / "outputs", home=home, poll_seconds=0.05, retry_base_seconds=0.05
    )
    specs = catalog([tiny_spec(model, transport="thread")])
    async with (
        ModelPool(settings, specs, ModelCache(settings).path_for, runners()) as pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        yield Harness(store, config, pool)


def by_image(report: dict[str, object]) -> dict[str, dict[str, object]]:
    images = report["images"]
    assert isinstance(images, list)
    return {entry["image"]: entry for entry in images}


async def test_the_report_has_paired_losses_flags_and_its_name(harness: Harness) -> None:
    data = {**BASE, "folder_path": str(harness.folder), "output_folder": "reports",
            "job_name": "tiny", "step": 250}  # fmt: skip
    job = await harness.run(data)
    assert job.status is JobStatus.SUCCEEDED, job.error
    path = harness.reports / "tiny_000250.json"
    report = json.loads(path.read_text())
    assert job.result is not None and job.result["report"] == str(path)
    assert json.loads(harness.path(job, "tiny_000250.json").read_text()) == report
    assert report["dataset"]["images"] == 5 and report["dataset"]["with_caption_file"] == 4
    images = by_image(report)
    assert list(images) == ["a-cat.png", "b-dog.png", "c-none.png", "d-empty.png", "e-sky.png"]
    assert images["c-none.png"]["flags"] == ["missing"]
    assert images["d-empty.png"]["flags"] == ["empty"]
    assert images["c-none.png"]["loss_with_caption"] is None
    for name in ("a-cat.png", "b-dog.png", "e-sky.png"):
        entry = images[name]
        assert len(entry["losses_with_caption"]) == len(entry["losses_with_blank"]) == 3
        assert entry["losses_with_caption"] != entry["losses_with_blank"], "captions count"
        delta = entry["loss_with_blank"] - entry["loss_with_caption"]
        assert entry["ablation_delta"] == pytest.approx(delta)
        assert ("no_effect" in entry["flags"]) == (delta <= 0)
    assert [e["timesteps"] for e in images.values()] == [[166, 500, 833]] * 5
    flagged = {(f["image"], f["flag"]) for f in report["flagged"]}
    assert {("c-none.png", "missing"), ("d-empty.png", "empty")} <= flagged
    assert report["summary"]["flagged"]["missing"] == 1
    assert report["summary"]["images"] == 5


async def test_the_same_seed_gives_the_same_losses_and_a_bar_flags_all(harness: Harness) -> None:
    data = {**BASE, "folder_path": str(harness.folder), "min_ablation_delta": 1e9}
    first, second = [await harness.run(data) for _ in range(2)]
    paths = [harness.path(job, "eval_000000.json") for job in (first, second)]
    reports = [json.loads(path.read_text()) for path in paths]
    assert reports[0]["images"] == reports[1]["images"]
    assert reports[0]["summary"]["flagged"]["no_effect"] == 3


async def test_identical_captions_meet_identical_noise(harness: Harness) -> None:
    png = (harness.folder / "a-cat.png").read_bytes()
    calls = job_calls(harness.pool)
    request = DenoiseRequest(png, ("a cat", "a cat", ""), 64, samples=4, noise_std=0.5, seed=3)
    [losses] = await calls.run(ALIAS, DENOISE, [request])
    assert losses.losses[0] == losses.losses[1]
    assert losses.losses[0] != losses.losses[2]
    assert len(set(losses.losses[0])) == 4, "each sample has its own noise and timestep"


async def test_a_fraction_and_a_limit_choose_images(harness: Harness) -> None:
    data = {**BASE, "folder_path": str(harness.folder), "sample_fraction": 0.6, "seed": 1}
    job = await harness.run(data)
    assert job.result is not None and job.result["summary"]["images"] == 3
    job = await harness.run({**data, "max_samples": 2})
    assert job.result is not None and job.result["summary"]["images"] == 2


async def test_bad_input_is_refused_naming_it(harness: Harness) -> None:
    job = await harness.run({**BASE, "folder_path": "data/nowhere"})
    assert job.status is JobStatus.FAILED and job.error is not None
    assert "does not exist" in job.error.message
    job = await harness.run({**BASE, "folder_path": "/etc"})
    assert job.status is JobStatus.FAILED and job.error is not None
    assert "outside the allowed folders" in job.error.message
