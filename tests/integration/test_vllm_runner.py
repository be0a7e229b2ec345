"""The ``vllm`` runner with the engine faked at its port (:class:`FakeEngine`, shipped beside
it): Berth's side of it, for real (the tiny model's tokenizer and chat template, streaming,
stops, limits, cancellation, joining, the GPU share). ``bench/vllm_gpu.py`` runs real vLLM."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.contract import END, pairs
from berth.runners.vllm import VllmRunner
from berth.runners.vllm_engine import (
    MISSING,
    EngineConfig,
    EngineSampling,
    FakeEngine,
    VllmEngine,
)
from berth.tasks.generate import ChatMessage, Generation, GenerationRequest, TextDelta
from tests.tiny.causal_lm import CONTEXT, session_causal_lm

pytestmark = pytest.mark.integration
GPU = 80 * 2**30


def vllm_spec(path: Path, **options: Any) -> ModelSpec:
    options.setdefault("memory_estimate", "8GiB")
    return ModelSpec(
        alias="tiny-vllm", task="chat", runner="vllm", source=f"local:{path}", options=options
    )


def greedy(prompt: str, max_tokens: int = 12, **fields: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=max_tokens, temperature=0, **fields)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


class Engines:
    """Makes fake engines and keeps the last one, to look at what the runner asked of it."""

    def __init__(self, end: int | None = None) -> None:
        self.end = end
        self.last: FakeEngine | None = None

    def __call__(self, config: EngineConfig) -> FakeEngine:
        self.last = FakeEngine(config, vocab=300, end=self.end)
        return self.last


def loaded(model_dir: Path, engines: Engines, **options: Any) -> VllmRunner:
    runner = VllmRunner(engines, gpu_bytes=lambda device: GPU)
    runner.load(vllm_spec(model_dir, **options), model_dir, "cuda:0")
    return runner


@pytest.fixture
def engines() -> Engines:
    return Engines()


@pytest.fixture
def runner(model_dir: Path, engines: Engines) -> Iterator[VllmRunner]:
    made = loaded(model_dir, engines, max_batch_size=4)
    yield made
    made.close()


def test_vllm_takes_the_gpu_share_berth_budgets(runner: VllmRunner, engines: Engines) -> None:
    assert engines.last is not None
    assert engines.last.config.gpu_memory_utilization == pytest.approx(0.1)
    assert engines.last.config.max_num_seqs == 4
    assert runner.memory_bytes() == 8 * 2**30
    runner.close()
    assert engines.last.closed and runner.memory_bytes() is None


def test_an_entry_without_a_fitting_estimate_or_a_gpu_is_refused(model_dir: Path) -> None:
    bare = ModelSpec(alias="m", task="chat", runner="vllm", source=f"local:{model_dir}")
    with pytest.raises(errors.ModelLoadFailed, match="needs a memory_estimate"):
        VllmRunner(Engines(), lambda device: GPU).load(bare, model_dir, "cuda:0")
    with pytest.raises(errors.ModelLoadFailed, match="more than"):
        VllmRunner(Engines(), lambda device: GPU).load(
            vllm_spec(model_dir, memory_estimate="100GiB"), model_dir, "cuda"
        )
    with pytest.raises(errors.ModelLoadFailed, match="CUDA GPU"):
        VllmRunner(Engines(), lambda device: GPU).load(vllm_spec(model_dir), model_dir, "cpu")


def test_without_vllm_the_engine_says_how_to_get_it(model_dir: Path) -> None:
    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here")
    config = EngineConfig(model_dir, "cuda:0", 0.1, 4, None, "auto")
    with pytest.raises(errors.ModelLoadFailed) as caught:
        VllmEngine(config)
    assert caught.value.message == MISSING and "pip install vllm" in MISSING


def test_requests_stream_in_order_and_run_in_the_engine_together(
    runner: VllmRunner, engines: Engines
) -> None:
    batch = [greedy(p, max_tokens=6 + i) for i, p in enumerate(["Hello", "The quick", "Hi", "A"])]
    whole = runner.run(batch)
    chunks: dict[int, list[Any]] = {}
    for index, chunk in pairs(runner.stream(batch)):
        chunks.setdefault(index, []).append(chunk)
    for index, items in chunks.items():
        *pieces, last = items
        assert all(isinstance(piece, TextDelta) for piece in pieces)
        assert isinstance(last, Generation) and last.text == ""
        assert "".join(piece.text for piece in pieces) == whole[index].text
        assert last.completion_tokens == whole[index].completion_tokens == 6 + index
    assert engines.last is not None and engines.last.most_running == 4
    alone = [runner.run([request])[0] for request in batch]
    assert alone == whole


def test_chat_goes_through_the_tokenizers_template_with_real_counts(
    runner: VllmRunner, model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    chat = GenerationRequest(messages=(ChatMessage("user", "Hi there"),), max_tokens=5)
    [done] = runner.run([chat])
    templated = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi there"}], add_generation_prompt=True, tokenize=False
    )
    assert done.prompt_tokens == len(tokenizer(templated, add_special_tokens=False)["input_ids"])
    assert (done.completion_tokens, done.finish_reason) == (5, "length")


def test_a_seed_fixes_the_sample(runner: VllmRunner) -> None:
    def sample(seed: int) -> GenerationRequest:
        return GenerationRequest(prompt="Hello", max_tokens=8, temperature=1.0, seed=seed)

    first, again, other = runner.run([sample(1), sample(1), sample(2)])
    assert first == again and other != first


def test_a_stop_sequence_cuts_the_text_and_aborts_the_engine_request(
    runner: VllmRunner, engines: Engines
) -> None:
    [free] = runner.run([greedy("Hello world", max_tokens=20)])
    stop = free.text.replace("\ufffd", "")[4:6]
    [stopped] = runner.run([greedy("Hello world", max_tokens=20, stop=(stop,))])
    assert stopped.text == free.text[: free.text.find(stop)]
    assert stopped.finish_reason == "stop" and stopped.completion_tokens < 20
    assert engines.last is not None and len(engines.last.aborted) == 1


def test_the_end_token_ends_a_generation(model_dir: Path) -> None:
    from transformers import AutoTokenizer

    prompt = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)("Hello")["input_ids"]
    config = EngineConfig(model_dir, "cuda:0", 0.1, 4, None, "auto")

    async def made() -> list[int]:
        steps = FakeEngine(config, vocab=300).generate("probe", prompt, EngineSampling(10, 0.0))
        return [token async for step in steps for token in step.tokens]

    fourth = asyncio.run(made())[3]
    runner = loaded(model_dir, Engines(end=fourth))
    [done] = runner.run([greedy("Hello", max_tokens=10)])
    runner.close()
    assert (done.finish_reason, done.completion_tokens) == ("stop", 4)


def test_a_prompt_past_the_context_fails_alone(runner: VllmRunner) -> None:
    ok, too_long, too_many = runner.run(
        [greedy("Hello", max_tokens=4), greedy("Hello world " * CONTEXT), greedy("Hi", CONTEXT)]
    )
    assert isinstance(ok, Generation) and ok.completion_tokens == 4
    assert isinstance(too_long, errors.ContextTooLong) and f"at most {CONTEXT}" in str(too_long)
    assert isinstance(too_many, errors.ContextTooLong) and "set max_tokens to" in str(too_many)


def test_a_cancelled_request_is_aborted_in_the_engine_and_the_rest_completes(
    runner: VllmRunner, engines: Engines
) -> None:
    left: set[int] = set()
    chunks: dict[int, list[Any]] = {}
    batch = [greedy("Hello", max_tokens=40), greedy("The quick", max_tokens=40)]
    for index, chunk in pairs(runner.stream(batch, left.__contains__)):
        chunks.setdefault(index, []).append(chunk)
        if index == 0 and len(chunks[0]) == 2:
            left.add(0)
    assert not any(isinstance(chunk, Generation) for chunk in chunks[0])
    assert isinstance(chunks[1][-1], Generation) and chunks[1][-1].completion_tokens == 40
    assert engines.last is not None and engines.last.aborted


def test_requests_join_while_others_run_and_never_past_max_num_seqs(
    model_dir: Path, engines: Engines
) -> None:
    runner = loaded(model_dir, engines, max_batch_size=2)
    offered = [(key, greedy("Hello", max_tokens=10 + key)) for key in range(4)]
    rooms: list[int] = []

    def take(room: int) -> list[tuple[int, Any]]:
        rooms.append(room)
        given, offered[:] = offered[:room], offered[room:]
        return given

    ends: list[int] = []
    for step in runner.stream_continuous(take, lambda key: False):
        ends.extend(key for key, chunk in step if chunk is END)  # type: ignore[union-attr]
    runner.close()
    assert sorted(ends) == [0, 1, 2, 3] and max(rooms) <= 2
    assert engines.last is not None and engines.last.most_running == 2
