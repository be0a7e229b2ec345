"""The diffusers runner on a tiny Stable Diffusion pipeline: in a model process through the
pool, and called directly where a test needs to watch the runner itself stop."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from berth import errors
from berth.models.cache import ModelCache
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.diffusion import DiffusionRunner
from berth.settings import Settings
from berth.tasks.image import GeneratedImages, ImageRequest, Progress
from tests.pools import catalog, runners
from tests.tiny.diffusion import SIDE, build_tiny_diffusion

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]
ALIAS = "tiny-sd"


def tiny_spec(path: Path, transport: str = "process", **runner_options: Any) -> ModelSpec:
    options = {"transport": transport, "max_batch_size": 4, "runner_options": runner_options}
    return ModelSpec.model_validate(
        {
            "alias": ALIAS,
            "task": "image",
            "runner": "diffusers",
            "source": f"local:{path}",
            "options": options,
        }
    )


def pixels(png: bytes) -> Any:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_diffusion(tmp_path_factory.mktemp("tiny-sd"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ModelPool]:
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    specs = catalog([tiny_spec(model_dir)])
    async with ModelPool(settings, specs, ModelCache(settings).path_for, runners()) as opened:
        await opened.load(ALIAS)
        yield opened


@pytest.fixture(scope="module")
def direct(model_dir: Path) -> Iterator[DiffusionRunner]:
    runner = DiffusionRunner()
    runner.load(tiny_spec(model_dir, "thread", size="96x64"), model_dir, "cpu")
    yield runner
    runner.close()


async def test_images_are_pngs_of_the_size_asked(pool: ModelPool) -> None:
    [drawn] = await pool.run(ALIAS, [ImageRequest("a red cat", width=64, height=96, n=2, steps=2)])
    assert isinstance(drawn, GeneratedImages)
    assert (drawn.width, drawn.height, drawn.steps) == (64, 96, 2)
    assert len(drawn.pngs) == 2 and drawn.pngs[0] != drawn.pngs[1]
    for png in drawn.pngs:
        with Image.open(io.BytesIO(png)) as image:
            assert image.format == "PNG"
            assert image.size == (64, 96)
            assert image.mode == "RGB"


async def test_a_request_without_a_size_gets_the_models_own(pool: ModelPool) -> None:
    [drawn] = await pool.run(ALIAS, [ImageRequest("a dog", steps=1)])
    assert (drawn.width, drawn.height) == (SIDE, SIDE)
    with Image.open(io.BytesIO(drawn.pngs[0])) as image:
        assert image.size == (SIDE, SIDE)


async def test_the_stream_reports_every_step_in_order_then_the_images(pool: ModelPool) -> None:
    chunks = [chunk async for chunk in pool.stream(ALIAS, ImageRequest("a cat", steps=4, seed=3))]
    assert chunks[:-1] == [Progress(step, 4) for step in range(1, 5)]
    assert isinstance(chunks[-1], GeneratedImages) and chunks[-1].seed == 3


async def test_the_same_seed_gives_the_same_bytes_and_another_seed_another_image(
    pool: ModelPool,
) -> None:
    def ask(seed: int | None) -> ImageRequest:
        return ImageRequest("a lighthouse at dusk", steps=2, seed=seed)

    first, again, other, unseeded = await pool.run(ALIAS, [ask(7), ask(7), ask(8), ask(None)])
    assert first.seed == again.seed == 7 and other.seed == 8
    assert first.pngs == again.pngs
    assert np.abs(pixels(first.pngs[0]) - pixels(other.pngs[0])).mean() > 1
    [replayed] = await pool.run(ALIAS, [ask(unseeded.seed)])
    assert replayed.pngs == unseeded.pngs


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (ImageRequest("x", width=100), "width is 100 pixels; it must be a multiple of 8"),
        (ImageRequest("x", height=32), "height is 32 pixels; it must be a multiple of 8 between"),
        (ImageRequest("x", width=4096), "between 64 and 2048"),
        (ImageRequest("x", n=5), "n is 5; ask for 1 to 4 images"),
        (ImageRequest("x", steps=0), "steps is 0; use 1 to 100"),
        (ImageRequest("x", steps=101), "steps is 101"),
        (ImageRequest("   "), "The prompt is empty"),
        (ImageRequest("x", guidance_scale=-1), "guidance_scale is -1"),
    ],
)
async def test_bad_requests_are_refused_clearly(
    pool: ModelPool, request_: ImageRequest, message: str
) -> None:
    with pytest.raises(errors.InvalidRequest, match=message):
        await pool.run(ALIAS, [request_])


async def test_a_bad_request_fails_alone_in_its_batch(pool: ModelPool) -> None:
    good, bad = ImageRequest("a boat", steps=1, seed=1), ImageRequest("x", width=70)
    drawn: Any
    refused: Any
    drawn, refused = await asyncio.gather(
        pool.run(ALIAS, [good]), pool.run(ALIAS, [bad]), return_exceptions=True
    )
    assert isinstance(drawn, list) and isinstance(drawn[0], GeneratedImages)
    assert isinstance(refused, errors.InvalidRequest) and "width is 70" in refused.message


async def test_leaving_a_stream_midway_frees_the_model_for_the_next(pool: ModelPool) -> None:
    seen = []
    async for chunk in pool.stream(ALIAS, ImageRequest("a long one", steps=100)):
        seen.append(chunk)
        if len(seen) == 2:
            break
    assert seen == [Progress(1, 100), Progress(2, 100)]
    chunks = [c async for c in pool.stream(ALIAS, ImageRequest("next", steps=2, seed=4))]
    assert chunks[:2] == [Progress(1, 2), Progress(2, 2)]
    assert isinstance(chunks[-1], GeneratedImages)


async def test_a_cancelled_request_stops_denoising_midway(direct: DiffusionRunner) -> None:
    seen: list[tuple[int, Any]] = []
    batch = [ImageRequest("stop me", steps=100), ImageRequest("keep me", steps=2, seed=9)]

    def cancelled(index: int) -> bool:
        return index == 0 and len(seen) >= 2

    for index, chunk in direct.stream(batch, cancelled):
        seen.append((index, chunk))
    first = [chunk for index, chunk in seen if index == 0]
    assert len(first) < 50
    assert all(isinstance(chunk, Progress) for chunk in first)
    second = [chunk for index, chunk in seen if index == 1]
    assert second[:2] == [Progress(1, 2), Progress(2, 2)]
    assert isinstance(second[-1], GeneratedImages)


async def test_closing_the_stream_stops_the_pipeline_thread(direct: DiffusionRunner) -> None:
    stream: Any = direct.stream([ImageRequest("closed early", steps=100)])
    assert next(stream) == (0, Progress(1, 100))
    stream.close()
    assert not any(t.name == "berth-diffusion-call" for t in threading.enumerate())
    [drawn] = direct.run([ImageRequest("after", steps=1, seed=2)])
    assert isinstance(drawn, GeneratedImages)


async def test_the_size_option_sets_the_default_size(direct: DiffusionRunner) -> None:
    [drawn] = direct.run([ImageRequest("wide", steps=1)])
    assert (drawn.width, drawn.height) == (96, 64)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampler": "x"}, "the diffusers runner has no option\\(s\\) sampler"),
        ({"size": "65x64"}, "runner option size: width is 65 pixels"),
    ],
)
async def test_bad_runner_options_fail_the_load(
    model_dir: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(errors.ModelLoadFailed, match=message):
        DiffusionRunner().load(tiny_spec(model_dir, "thread", **options), model_dir, "cpu")


async def test_a_folder_that_is_no_pipeline_fails_the_load(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadFailed, match="is not a diffusers pipeline"):
        DiffusionRunner().load(tiny_spec(tmp_path, "thread"), tmp_path, "cpu")
