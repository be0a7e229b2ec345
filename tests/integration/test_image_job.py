"""The ``image`` job kind through a dispatcher, a memory store and a pool holding a tiny Stable
Diffusion pipeline (thread transport, so a test can count the scheduler's steps)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator
from typing import Any

import diffusers
import pytest
import pytest_asyncio
from PIL import Image

from berth import errors
from berth.jobs.config import DispatcherConfig
from berth.jobs.dispatcher import Dispatcher
from berth.jobs.job import EventType, Job, JobStatus
from berth.jobs.memory import MemoryJobStore
from berth.kinds import image
from berth.models.cache import ModelCache
from berth.plugins import PluginRegistry
from berth.pool.pool import ModelPool
from berth.settings import Settings
from tests.integration.test_diffusion import ALIAS, tiny_spec
from tests.jobharness import JobHarness
from tests.pools import catalog, job_calls, runners
from tests.tiny.diffusion import build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


class Harness(JobHarness):
    kind, model = "image", ALIAS

    async def steps_reported(self, job_id: str) -> list[str]:
        events = await self.store.events(job_id)
        return [str(e.data["message"]) for e in events if e.type is EventType.PROGRESS]

    def file(self, job: Job, name: str) -> bytes:
        return self.path(job, name).read_bytes()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def harness(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Harness]:
    home = tmp_path_factory.mktemp("home")
    model = build_tiny_diffusion(tmp_path_factory.mktemp("tiny-sd"))
    settings = Settings(home=home)
    specs = catalog([tiny_spec(model, transport="thread")])
    registry = PluginRegistry()
    image.register(registry)
    config = DispatcherConfig(
        outputs_dir=home / "outputs",
        home=home,
        poll_seconds=0.05,
        heartbeat_seconds=0.1,
        retry_base_seconds=0.05,
        cancel_grace_seconds=600,
    )
    async with (
        ModelPool(settings, specs, ModelCache(settings).path_for, runners()) as pool,
        MemoryJobStore() as store,
        Dispatcher(store, registry.kinds, config, models=job_calls(pool)),
    ):
        await pool.load(ALIAS)
        yield Harness(store, config)


async def test_the_job_reports_each_step_and_saves_pngs(harness: Harness) -> None:
    job_id = await harness.submit({"prompt": "a cat", "n": 2, "steps": 3, "width": 96})
    job = await harness.finished(job_id)
    assert job.status is JobStatus.SUCCEEDED, job.error
    assert await harness.steps_reported(job_id) == [f"denoising step {i} of 3" for i in (1, 2, 3)]
    assert job.progress == 1.0
    assert job.result is not None
    assert job.result["artifacts"] == ["image-0.png", "image-1.png"]
    assert {k: job.result[k] for k in ("model", "width", "height", "steps")} == {
        "model": ALIAS,
        "width": 96,
        "height": 64,
        "steps": 3,
    }
    assert isinstance(job.result["seed"], int)
    assert [(a.name, a.media_type) for a in job.artifacts] == [
        ("image-0.png", "image/png"),
        ("image-1.png", "image/png"),
    ]
    for name in job.result["artifacts"]:
        with Image.open(io.BytesIO(harness.file(job, str(name)))) as png:
            assert png.format == "PNG" and png.size == (96, 64)


async def test_a_seeded_job_repeats_its_images(harness: Harness) -> None:
    first, second = [
        await harness.finished(await harness.submit({"prompt": "a dog", "steps": 2, "seed": 11}))
        for _ in range(2)
    ]
    assert first.result is not None and first.result["seed"] == 11
    assert harness.file(first, "image-0.png") == harness.file(second, "image-0.png")


async def test_cancelling_the_job_stops_the_denoising(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = 0
    original = diffusers.DDIMScheduler.step

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal steps
        steps += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(diffusers.DDIMScheduler, "step", counted)
    job_id = await harness.submit({"prompt": "a very long job", "steps": 100})
    async with asyncio.timeout(120):
        while len(await harness.steps_reported(job_id)) < 2:
            await asyncio.sleep(0.02)
    await harness.store.cancel(job_id)
    job = await harness.finished(job_id)
    assert job.status is JobStatus.CANCELLED
    assert job.artifacts == ()
    for thread in threading.enumerate():
        if thread.name == "berth-diffusion-call":
            await asyncio.to_thread(thread.join)
    assert 2 <= steps < 100
    after = await harness.finished(await harness.submit({"prompt": "next", "steps": 1}))
    assert after.status is JobStatus.SUCCEEDED, after.error


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"prompt": "x", "width": 100}, "width: Input should be a multiple of 8"),
        ({"prompt": "x", "n": 5}, "n: Input should be less than or equal to 4"),
        ({"prompt": "x", "steps": 0}, "steps: Input should be greater than or equal to 1"),
        ({"prompt": ""}, "prompt: String should have at least 1 character"),
        ({"prompt": "   "}, "The prompt is empty"),
        ({"text": "x"}, "prompt: Field required"),
    ],
)
async def test_bad_input_fails_at_once(
    harness: Harness, data: dict[str, Any], message: str
) -> None:
    job = await harness.finished(await harness.submit(data))
    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.type == "InvalidJobInput"
    assert message in job.error.message
    assert job.attempts == 1


async def test_the_input_schema_names_the_fields() -> None:
    registry = PluginRegistry()
    image.register(registry)
    kind = registry.kind("image")
    schema = kind.input_schema()
    assert schema["required"] == ["prompt"]
    assert {"n", "width", "height", "steps", "seed", "guidance_scale"} <= schema[
        "properties"
    ].keys()
    with pytest.raises(errors.InvalidJobInput, match="Invalid input for job kind 'image'"):
        kind.parse({"prompt": "x", "seed": -1})
