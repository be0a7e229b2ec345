"""The ``llama-cpp`` runner on the tiny GGUF (the tiny Llama converted with the ``gguf``
package): called directly, and through a pool that runs it in a model process. What it shares
with the transformers runner is tested on both in ``test_generation_runners.py``, its
constrained decoding in ``test_constrained.py``."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.causal_lm import CausalLMRunner
from berth.runners.llama_cpp import LlamaCppRunner, gguf_file
from berth.settings import Settings
from berth.tasks.embed import Embedded, EmbedInput
from berth.tasks.generate import ChatMessage, Generation, GenerationRequest
from tests.pools import catalog, runners
from tests.tiny.causal_lm import CONTEXT, session_causal_lm
from tests.tiny.gguf import session_gguf

pytestmark = pytest.mark.integration
pytest.importorskip("llama_cpp")
in_module_loop = pytest.mark.asyncio(loop_scope="module")
PROMPTS = ["Hello world", "The quick brown fox jumps over", "Café, naïve, façade", "Numbers 12"]


def gguf_spec(
    path: Path, alias: str = "tiny-gguf", task: str = "chat", **options: Any
) -> ModelSpec:
    return ModelSpec(
        alias=alias, task=task, runner="llama-cpp", source=f"local:{path}", options=options
    )


def greedy(prompt: str, max_tokens: int = 12, **fields: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=max_tokens, temperature=0, **fields)


@pytest.fixture(scope="module")
def gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_gguf(tmp_path_factory)


@pytest.fixture(scope="module")
def runner(gguf: Path) -> Iterator[LlamaCppRunner]:
    loaded = LlamaCppRunner()
    loaded.load(gguf_spec(gguf, max_batch_size=4), gguf, "cpu")
    yield loaded
    loaded.close()


def test_it_generates_what_the_transformers_runner_generates(
    runner: LlamaCppRunner, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The same weights in float32: greedy decoding gives the same text and counts, for a
    completion and for a chat through the GGUF's own template."""
    model_dir = session_causal_lm(tmp_path_factory)
    torch_runner = CausalLMRunner()
    torch_runner.load(
        ModelSpec(alias="t", task="chat", runner="transformers", source=f"local:{model_dir}"),
        model_dir,
        "cpu",
    )
    chat = GenerationRequest(
        messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "Hi there")),
        max_tokens=8,
        temperature=0,
    )
    batch = [greedy("Hello world", max_tokens=9), chat]
    try:
        assert runner.run(batch) == torch_runner.run(batch)
    finally:
        torch_runner.close()


def test_llama_cpp_samplers_shape_the_seeded_sample(runner: LlamaCppRunner) -> None:
    def sample(seed: int, **fields: Any) -> GenerationRequest:
        return GenerationRequest(
            prompt="Hello world", max_tokens=12, temperature=1.0, seed=seed, **fields
        )

    [first] = runner.run([sample(1)])
    shaped = {"top_k": 20, "top_p": 0.9, "min_p": 0.05, "repeat_penalty": 1.3}
    [narrow] = runner.run([sample(1, **shaped)])
    assert narrow == runner.run([sample(1, **shaped)])[0]
    assert narrow.text != first.text


def test_top_k_of_one_is_greedy(runner: LlamaCppRunner) -> None:
    picked = GenerationRequest(prompt="Hello world", max_tokens=10, temperature=1.5, top_k=1)
    assert runner.run([picked])[0] == runner.run([greedy("Hello world", max_tokens=10)])[0]


def test_with_ignore_eos_a_generation_makes_all_its_tokens(gguf: Path) -> None:
    eos = "<|eos|>"
    stubborn = LlamaCppRunner()
    stubborn.load(gguf_spec(gguf, runner_options={"ignore_eos": True}), gguf, "cpu")
    try:
        # a prompt of end tokens makes the next one likely; none of them stops it
        [done] = stubborn.run([greedy(eos * 20, max_tokens=40)])
    finally:
        stubborn.close()
    assert (done.finish_reason, done.completion_tokens) == ("length", 40)


def test_a_prompt_longer_than_a_decode_is_prefilled_in_parts(gguf: Path) -> None:
    small = LlamaCppRunner()
    small.load(gguf_spec(gguf, runner_options={"n_batch": 8}), gguf, "cpu")
    try:
        request = greedy("The quick brown fox jumps over the lazy dog", max_tokens=8)
        [parted] = small.run([request])
    finally:
        small.close()
    assert parted.prompt_tokens > 8
    whole = LlamaCppRunner()
    whole.load(gguf_spec(gguf), gguf, "cpu")
    try:
        assert parted == whole.run([request])[0]
    finally:
        whole.close()


def test_the_memory_is_the_model_and_its_kv_caches(gguf: Path) -> None:
    one, four = LlamaCppRunner(), LlamaCppRunner()
    one.load(gguf_spec(gguf, runner_options={"parallel": 1}), gguf, "cpu")
    four.load(gguf_spec(gguf, runner_options={"parallel": 4}), gguf, "cpu")
    try:
        small, large = one.memory_bytes(), four.memory_bytes()
    finally:
        one.close()
        four.close()
    assert small is not None and large is not None
    tensors = gguf.stat().st_size
    assert 0.9 * tensors < small < 2 * tensors
    # 2 layers x (2 kv heads x 16) x (keys + values) x float16, per token of each KV stream
    per_token = 2 * 2 * 16 * 2 * 2
    assert large - small >= 3 * CONTEXT * per_token


def test_a_chat_model_needs_a_chat_template_and_options_are_checked(
    gguf: Path, tmp_path: Path
) -> None:
    with pytest.raises(errors.ModelLoadFailed, match="no option"):
        LlamaCppRunner().load(gguf_spec(gguf, runner_options={"ctx": 8}), gguf, "cpu")
    with pytest.raises(errors.ModelLoadFailed, match="cannot offload"):
        LlamaCppRunner().load(gguf_spec(gguf, runner_options={"n_gpu_layers": 4}), gguf, "cpu")
    completer = LlamaCppRunner()
    completer.load(gguf_spec(gguf, task="complete"), gguf, "cpu")
    chat = GenerationRequest(messages=(ChatMessage("user", "Hi"),), max_tokens=3)
    refused, answered = completer.run([chat, greedy("Hello", max_tokens=3)])
    completer.close()
    assert isinstance(refused, errors.InvalidRequest) and "/v1/completions" in refused.message
    assert isinstance(answered, Generation)


def test_the_gguf_is_found_in_the_model_folder_by_its_pattern(gguf: Path, tmp_path: Path) -> None:
    spec = gguf_spec(tmp_path)
    for name in ["m-Q4_K_M.gguf", "m-Q8_0.gguf", "big-Q4_K_M-00001-of-00002.gguf"]:
        (tmp_path / name).write_bytes(b"GGUF")
    (tmp_path / "big-Q4_K_M-00002-of-00002.gguf").write_bytes(b"GGUF")
    assert gguf_file(spec, tmp_path, "m-*Q8_0.gguf") == tmp_path / "m-Q8_0.gguf"
    assert gguf_file(spec, tmp_path, "big-*") == tmp_path / "big-Q4_K_M-00001-of-00002.gguf"
    assert gguf_file(spec, gguf, None) == gguf
    picky = spec.model_copy(update={"files": ("*Q4_K_M.gguf",)})
    assert gguf_file(picky, tmp_path, None) == tmp_path / "m-Q4_K_M.gguf"
    with pytest.raises(errors.ModelLoadFailed, match="finds 3") as caught:
        gguf_file(spec, tmp_path, None)
    assert "m-Q4_K_M.gguf" in caught.value.message and "runner option file" in caught.value.message


def test_without_the_extra_the_load_says_how_to_install_it(gguf: Path) -> None:
    script = (
        "import sys; sys.modules['llama_cpp'] = None\n"
        "from pathlib import Path\n"
        "from berth.models.spec import ModelSpec\n"
        "from berth.runners.llama_cpp import LlamaCppRunner\n"
        f"path = Path({str(gguf)!r})\n"
        "spec = ModelSpec(alias='m', task='chat', runner='llama-cpp', source=f'local:{path}')\n"
        "try:\n    LlamaCppRunner().load(spec, path, 'cpu')\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=True, capture_output=True, text=True
    )
    assert done.stdout.startswith("ModelLoadFailed")
    assert "pip install 'berth[llama]'" in done.stdout and "scripts/bootstrap llama" in done.stdout


def test_an_embedding_model_gives_pooled_unit_vectors(gguf: Path) -> None:
    embedder = LlamaCppRunner()
    embedder.load(gguf_spec(gguf, task="embed", runner_options={"pooling": "mean"}), gguf, "cpu")
    try:
        texts = ["Hello world", "The quick brown fox", "Hello world"]
        vectors = embedder.run(texts)
        one = embedder.run(["The quick brown fox"])[0]
        [counted, long] = embedder.run([EmbedInput(text="Hello world"), "Hello world " * CONTEXT])
    finally:
        embedder.close()
    assert all(v.dtype == np.float32 and v.shape == (64,) for v in vectors)
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-5 for v in vectors)
    np.testing.assert_allclose(vectors[0], vectors[2], atol=1e-6)
    np.testing.assert_allclose(vectors[1], one, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.9999
    assert isinstance(counted, Embedded) and counted.tokens == 7
    np.testing.assert_allclose(counted.vector, vectors[0], atol=1e-6)
    assert isinstance(long, errors.ContextTooLong)


# -- through a pool, in a model process ---------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ModelPool]:
    spec = gguf_spec(gguf, transport="process", max_batch_size=4, max_wait_ms=20)
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    async with ModelPool(settings, catalog([spec]), lambda _: gguf, runners()) as opened:
        await opened.load("tiny-gguf")
        yield opened


async def collect(pool: ModelPool, request: GenerationRequest) -> list[Any]:
    return [chunk async for chunk in pool.stream("tiny-gguf", request)]


@in_module_loop
async def test_the_pool_streams_what_the_runner_makes_and_counts_its_memory(
    pool: ModelPool, runner: LlamaCppRunner
) -> None:
    batch = [greedy(prompt, max_tokens=9) for prompt in PROMPTS]
    expected = runner.run(batch)
    streams = await asyncio.gather(*(collect(pool, request) for request in batch))
    for chunks, done in zip(streams, expected, strict=True):
        *pieces, last = chunks
        assert "".join(piece.text for piece in pieces) == done.text
        assert last == done
    whole = await asyncio.gather(*(pool.run("tiny-gguf", [request]) for request in batch))
    assert [outputs[0] for outputs in whole] == expected
    [model] = pool.describe()
    assert model["memory_bytes"] == runner.memory_bytes()


@in_module_loop
async def test_in_the_pool_a_caller_that_leaves_does_not_stop_the_others(
    pool: ModelPool, runner: LlamaCppRunner
) -> None:
    stays = greedy("The quick brown fox", max_tokens=40)
    [expected] = runner.run([stays])

    async def leave_early() -> int:
        taken = 0
        stream = pool.stream("tiny-gguf", greedy("Hello world", max_tokens=100))
        async for _ in stream:
            taken += 1
            if taken == 2:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return taken

    taken, chunks = await asyncio.gather(leave_early(), collect(pool, stays))
    assert taken == 2
    assert "".join(c.text for c in chunks[:-1]) == expected.text
    with pytest.raises(errors.ContextTooLong, match="Shorten the prompt"):
        await collect(pool, greedy("Hello world " * CONTEXT))
