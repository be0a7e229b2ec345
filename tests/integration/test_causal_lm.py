"""The ``transformers`` causal LM runner on a tiny random Llama: called directly, and through a
pool that runs it in a model process. What it shares with the llama-cpp runner is tested on
both in ``test_generation_runners.py``."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.causal_lm import CausalLMRunner
from berth.runners.contract import pairs
from berth.settings import Settings
from berth.tasks.generate import ChatMessage, Generation, GenerationRequest, TextDelta
from tests.pools import catalog, runners
from tests.tiny.causal_lm import CONTEXT, session_causal_lm

pytestmark = pytest.mark.integration
in_module_loop = pytest.mark.asyncio(loop_scope="module")
PROMPTS = [
    "Hello world",
    "The quick brown fox jumps over",
    "Café, naïve, façade",
    "Numbers like 12 and 345",
]


def lm_spec(path: Path, alias: str = "tiny-lm", **options: Any) -> ModelSpec:
    return ModelSpec(
        alias=alias,
        task="chat",
        runner="transformers",
        source=f"local:{path}",
        options=options,
    )


def greedy(prompt: str, max_tokens: int = 12, **fields: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=max_tokens, temperature=0, **fields)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return session_causal_lm(tmp_path_factory)


@pytest.fixture(scope="module")
def runner(model_dir: Path) -> Iterator[CausalLMRunner]:
    loaded = CausalLMRunner()
    loaded.load(lm_spec(model_dir), model_dir, "cpu")
    yield loaded
    loaded.close()


def test_completions_and_chat_give_generations_with_real_counts(
    runner: CausalLMRunner, model_dir: Path
) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    chat = GenerationRequest(
        messages=(ChatMessage("system", "Be brief."), ChatMessage("user", "Hi there")),
        max_tokens=5,
        temperature=0,
    )
    done, talked = runner.run([greedy("Hello world", max_tokens=7), chat])
    assert isinstance(done, Generation) and isinstance(talked, Generation)
    assert done.prompt_tokens == len(tokenizer("Hello world")["input_ids"])
    assert (done.finish_reason, done.completion_tokens) == ("length", 7)
    assert done.text and isinstance(done.text, str)
    templated = tokenizer.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi there"}],
        add_generation_prompt=True,
        tokenize=False,
    )
    assert templated.endswith("<|assistant|>")
    assert talked.prompt_tokens == len(tokenizer(templated, add_special_tokens=False)["input_ids"])
    assert talked.completion_tokens == 5


def test_each_decoding_step_streams_as_one_list(runner: CausalLMRunner) -> None:
    """The pool sends each yielded list as one message, so a step's tokens for the whole batch
    travel together: at most one list per forward pass, each request at most once in it."""
    limits = [6, 9, 12]
    batch = [
        greedy(prompt, max_tokens=limit) for prompt, limit in zip(PROMPTS, limits, strict=False)
    ]
    steps = list(runner.stream(batch))
    assert all(isinstance(step, list) and step for step in steps)
    assert len(steps) <= max(limits)
    for step in steps:
        indices = [index for index, chunk in step if isinstance(chunk, TextDelta)]
        assert len(indices) == len(set(indices))
    assert max(len({index for index, _ in step}) for step in steps) > 1
    ends = [index for index, chunk in pairs(steps) if isinstance(chunk, Generation)]
    assert ends == [0, 1, 2]


def test_the_end_of_sequence_token_ends_a_generation(model_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    prompt = tokenizer("Hello world", return_tensors="pt")
    made = model.generate(**prompt, max_new_tokens=8, do_sample=False)[0].tolist()
    tokens = made[prompt["input_ids"].shape[1] :]
    ending = tmp_path / "ending"
    shutil.copytree(model_dir, ending)
    config = json.loads((ending / "generation_config.json").read_text())
    config["eos_token_id"] = [config["eos_token_id"], tokens[3]]
    (ending / "generation_config.json").write_text(json.dumps(config))
    ended = CausalLMRunner()
    ended.load(lm_spec(ending), ending, "cpu")
    [done] = ended.run([greedy("Hello world", max_tokens=8)])
    ended.close()
    assert (done.finish_reason, done.completion_tokens) == ("stop", tokens.index(tokens[3]) + 1)
    assert done.text == tokenizer.decode(
        tokens[: tokens.index(tokens[3])], skip_special_tokens=True
    )


def test_a_chat_model_needs_a_chat_template(model_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(model_dir, bare)
    (bare / "chat_template.jinja").unlink()
    with pytest.raises(errors.ModelLoadFailed, match="has no chat template"):
        CausalLMRunner().load(lm_spec(bare), bare, "cpu")
    completer = CausalLMRunner()
    completer.load(lm_spec(bare).model_copy(update={"task": "complete"}), bare, "cpu")
    chat = GenerationRequest(messages=(ChatMessage("user", "Hi"),), max_tokens=3)
    refused, answered = completer.run([chat, greedy("Hello", max_tokens=3)])
    completer.close()
    assert isinstance(refused, errors.InvalidRequest) and "/v1/completions" in refused.message
    assert isinstance(answered, Generation)


# -- through a pool, in a model process ---------------------------------------------------------


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def pool(
    model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ModelPool]:
    spec = lm_spec(model_dir, transport="process", max_batch_size=8, max_wait_ms=20)
    settings = Settings(home=tmp_path_factory.mktemp("home"))
    async with ModelPool(settings, catalog([spec]), lambda _: model_dir, runners()) as opened:
        await opened.load("tiny-lm")
        yield opened


async def collect(pool: ModelPool, request: GenerationRequest) -> list[Any]:
    return [chunk async for chunk in pool.stream("tiny-lm", request)]


@in_module_loop
async def test_the_pool_streams_what_the_runner_makes(
    pool: ModelPool, runner: CausalLMRunner
) -> None:
    batch = [greedy(prompt, max_tokens=9) for prompt in PROMPTS]
    expected = runner.run(batch)
    streams = await asyncio.gather(*(collect(pool, request) for request in batch))
    for chunks, done in zip(streams, expected, strict=True):
        *pieces, last = chunks
        assert "".join(piece.text for piece in pieces) == done.text
        assert last == done and (done.finish_reason, done.completion_tokens) == ("length", 9)
    whole = await asyncio.gather(*(pool.run("tiny-lm", [request]) for request in batch))
    assert [outputs[0] for outputs in whole] == expected
    [model] = pool.describe()
    assert model["transport"] == "process" and model["device"] == "cpu"


@in_module_loop
async def test_in_the_pool_a_request_joins_a_stream_that_is_under_way(
    pool: ModelPool, runner: CausalLMRunner
) -> None:
    """A request made while another streams starts within a few steps, not after it, and a
    whole (unstreamed) call waits its turn and is answered too."""
    long_one, late = greedy("Hello world", max_tokens=110), greedy("Numbers like 12", max_tokens=6)
    [expected_late] = runner.run([late])
    order: list[str] = []
    started = asyncio.Event()

    async def first() -> None:
        async for chunk in pool.stream("tiny-lm", long_one):
            started.set()
            if isinstance(chunk, Generation):
                order.append("long ends")

    async def second() -> list[Any]:
        await started.wait()
        chunks = await collect(pool, late)
        order.append("late ends")
        return chunks

    _, late_chunks, [whole] = await asyncio.gather(
        first(), second(), pool.run("tiny-lm", [greedy("The quick brown fox", max_tokens=4)])
    )
    assert order == ["late ends", "long ends"]
    assert "".join(c.text for c in late_chunks[:-1]) == expected_late.text
    assert isinstance(whole, Generation) and whole.completion_tokens == 4


async def test_streams_past_a_joining_models_room_count_against_max_queue(
    model_dir: Path, tmp_path: Path
) -> None:
    spec = lm_spec(model_dir, transport="thread", max_batch_size=1, max_queue=1)
    async with ModelPool(
        Settings(home=tmp_path), catalog([spec]), lambda _: model_dir, runners()
    ) as pool:
        await pool.load("tiny-lm")
        first = pool.stream("tiny-lm", greedy("Hello world", max_tokens=100))
        await anext(first)  # generating: the model's one place is taken
        second = asyncio.create_task(collect(pool, greedy("The quick", max_tokens=3)))
        await asyncio.sleep(0.01)  # sent to the model, waiting there for room
        with pytest.raises(errors.QueueFull, match="full: 1 waiting"):
            await collect(pool, greedy("Numbers", max_tokens=3))
        await first.aclose()  # type: ignore[attr-defined]
        *_, done = await second
        assert isinstance(done, Generation) and done.completion_tokens == 3


@in_module_loop
async def test_in_the_pool_a_too_long_prompt_fails_only_its_request(pool: ModelPool) -> None:
    requests = [greedy("Hello world", max_tokens=4), greedy("Hello world " * CONTEXT)]
    ok, failed = await asyncio.gather(
        *(pool.run("tiny-lm", [request]) for request in requests), return_exceptions=True
    )
    assert isinstance(ok, list) and ok[0].completion_tokens == 4
    assert isinstance(failed, errors.ContextTooLong)
    with pytest.raises(errors.ContextTooLong, match="Shorten the prompt"):
        await collect(pool, requests[1])


@in_module_loop
async def test_in_the_pool_a_caller_that_leaves_does_not_stop_the_others(
    pool: ModelPool, runner: CausalLMRunner
) -> None:
    stays = greedy("The quick brown fox", max_tokens=40)
    [expected] = runner.run([stays])

    async def leave_early() -> int:
        taken = 0
        stream = pool.stream("tiny-lm", greedy("Hello world", max_tokens=100))
        async for _ in stream:
            taken += 1
            if taken == 2:
                break
        await stream.aclose()
        return taken

    taken, chunks = await asyncio.gather(leave_early(), collect(pool, stays))
    assert taken == 2
    assert "".join(c.text for c in chunks[:-1]) == expected.text
    assert chunks[-1].completion_tokens == 40
