"""The ``transformers-vlm`` runner on a tiny LLaVA built from a config (random weights): the
plumbing of chat about images, not the quality of the answers.

The model is built once per module; most tests call the runner directly, one drives it
through a pool's stream.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.vlm import VisionLanguageRunner, held_back
from berth.settings import Settings
from berth.tasks.generate import ChatMessage, Generation, GenerationRequest, TextDelta
from tests.images import encode
from tests.pools import catalog, runners
from tests.tiny.vlm import IMAGE_TOKENS, build_tiny_vlm

pytestmark = [pytest.mark.integration, pytest.mark.slow]
RED = encode(Image.new("RGB", (40, 30), (200, 20, 20)))
BLUE = encode(Image.new("RGB", (64, 64), (10, 20, 220)), "JPEG")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("tiny-vlm"))


def vlm_spec(path: Path, transport: str = "thread") -> ModelSpec:
    return ModelSpec(
        alias="tiny-vlm",
        task="vision",
        runner="transformers-vlm",
        source=f"local:{path}",
        options={"transport": transport, "max_batch_size": 4},
    )


@pytest.fixture(scope="module")
def runner(model_dir: Path) -> Iterator[VisionLanguageRunner]:
    loaded = VisionLanguageRunner()
    loaded.load(vlm_spec(model_dir), model_dir, "cpu")
    yield loaded
    loaded.close()


def ask(*images: bytes, text: str = "What is this?", **options: object) -> GenerationRequest:
    message = ChatMessage("user", text, tuple(images))
    settings: dict[str, object] = {"max_tokens": 8, "seed": 7, **options}
    return GenerationRequest(messages=(message,), **settings)  # type: ignore[arg-type]


def test_a_generation_counts_its_tokens(runner: VisionLanguageRunner) -> None:
    [done] = runner.run([ask(RED)])
    assert isinstance(done, Generation)
    assert done.finish_reason == "length" and done.completion_tokens == 8
    assert isinstance(done.text, str) and done.text
    assert done.prompt_tokens > IMAGE_TOKENS


def test_each_image_adds_its_tokens_to_the_prompt(runner: VisionLanguageRunner) -> None:
    none, one, two = runner.run([ask(), ask(RED), ask(RED, BLUE)])
    assert one.prompt_tokens - none.prompt_tokens == IMAGE_TOKENS
    assert two.prompt_tokens - one.prompt_tokens == IMAGE_TOKENS


def test_the_image_changes_what_the_model_says(runner: VisionLanguageRunner) -> None:
    greedy = {"temperature": 0.0, "max_tokens": 12}
    red, blue, again = runner.run([ask(RED, **greedy), ask(BLUE, **greedy), ask(RED, **greedy)])
    assert red.text == again.text
    assert red.text != blue.text


def test_the_same_seed_gives_the_same_text(runner: VisionLanguageRunner) -> None:
    first, same, other = runner.run([ask(RED, seed=1), ask(RED, seed=1), ask(RED, seed=2)])
    assert first.text == same.text
    assert first.text != other.text


def test_streaming_gives_the_same_text_in_order(runner: VisionLanguageRunner) -> None:
    requests = [ask(RED, seed=3), ask(BLUE, seed=4)]
    whole = runner.run(requests)
    chunks = list(runner.stream(requests))
    for index, done in enumerate(whole):
        mine = [chunk for i, chunk in chunks if i == index]
        assert all(isinstance(c, TextDelta) for c in mine[:-1]) and len(mine) > 2
        assert isinstance(mine[-1], Generation) and mine[-1].text == ""
        assert "".join(c.text for c in mine[:-1]) == done.text
        assert mine[-1].completion_tokens == done.completion_tokens
    assert [i for i, _ in chunks] == sorted(i for i, _ in chunks)


def test_a_stop_sequence_ends_the_text(runner: VisionLanguageRunner) -> None:
    [free] = runner.run([ask(RED, max_tokens=20)])
    stop = free.text[5:7]
    [cut] = runner.run([ask(RED, max_tokens=20, stop=(stop,))])
    assert cut.finish_reason == "stop"
    assert cut.text == free.text[: free.text.find(stop)]
    streamed = [c for _, c in runner.stream([ask(RED, max_tokens=20, stop=(stop,))])]
    assert "".join(c.text for c in streamed if isinstance(c, TextDelta)) == cut.text
    assert held_back("abc\ufffd", ()) == 1 and held_back("xyzST", ("STOP",)) == 2


def test_cancelling_stops_the_generation(runner: VisionLanguageRunner) -> None:
    gone = threading.Event()
    chunks = []
    for _, chunk in runner.stream([ask(RED, max_tokens=400)], lambda _: gone.is_set()):
        chunks.append(chunk)
        gone.set()
    done = chunks[-1]
    assert isinstance(done, Generation) and done.completion_tokens < 400


def test_bad_inputs_fail_only_their_request(runner: VisionLanguageRunner) -> None:
    broken, fine, prompt = runner.run(
        [ask(b"not an image"), ask(RED), GenerationRequest(prompt="hello")]
    )
    assert isinstance(broken, errors.UnsupportedMedia)
    assert isinstance(fine, Generation)
    assert isinstance(prompt, errors.InvalidRequest) and "chat" in prompt.message
    [(_, too_long)] = [c for c in runner.stream([ask(text="x" * 600)])]
    assert isinstance(too_long, errors.ContextTooLong)


def test_loading_needs_a_model_folder(tmp_path: Path) -> None:
    with pytest.raises(errors.ModelLoadFailed, match="does not hold"):
        VisionLanguageRunner().load(vlm_spec(tmp_path), tmp_path, "cpu")
    with pytest.raises(errors.ModelLoadFailed, match="has no files"):
        VisionLanguageRunner().load(vlm_spec(tmp_path), None, "cpu")


@pytest_asyncio.fixture(loop_scope="module")
async def pool(model_dir: Path) -> AsyncIterator[ModelPool]:
    specs = [vlm_spec(model_dir)]
    async with ModelPool(Settings(), catalog(specs), lambda _: model_dir, runners()) as opened:
        yield opened


@pytest.mark.asyncio(loop_scope="module")
async def test_a_pool_streams_and_leaving_early_frees_the_model(pool: ModelPool) -> None:
    first = pool.stream("tiny-vlm", ask(RED, max_tokens=300))
    assert isinstance(await anext(first), TextDelta)
    await first.aclose()
    pieces = [chunk async for chunk in pool.stream("tiny-vlm", ask(BLUE))]
    assert isinstance(pieces[-1], Generation) and pieces[-1].completion_tokens == 8
