"""The ``transformers`` causal LM runner on a tiny random Llama: called directly, and through a
pool that runs it in a model process."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from berth import errors
from berth.models.spec import ModelSpec
from berth.pool.pool import ModelPool
from berth.runners.causal_lm import CausalLMRunner
from berth.runners.contract import END, pairs
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


def streamed(
    runner: CausalLMRunner, batch: Sequence[GenerationRequest], cancelled: Any = None
) -> dict[int, list[Any]]:
    chunks: dict[int, list[Any]] = {}
    stream = runner.stream(batch) if cancelled is None else runner.stream(batch, cancelled)
    for index, chunk in pairs(stream):
        chunks.setdefault(index, []).append(chunk)
    return chunks


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


def test_streamed_pieces_come_in_order_and_join_to_the_whole_text(
    runner: CausalLMRunner,
) -> None:
    batch = [greedy(prompt, max_tokens=10 + 3 * i) for i, prompt in enumerate(PROMPTS)]
    whole = runner.run(batch)
    chunks = streamed(runner, batch)
    assert sorted(chunks) == list(range(len(PROMPTS)))
    for index, items in chunks.items():
        *pieces, last = items
        assert all(isinstance(piece, TextDelta) and piece.text for piece in pieces)
        assert isinstance(last, Generation) and last.text == ""
        assert "".join(piece.text for piece in pieces) == whole[index].text
        assert last.completion_tokens == whole[index].completion_tokens == 10 + 3 * index


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


def test_a_batch_gives_what_each_prompt_gives_alone(runner: CausalLMRunner) -> None:
    batch = [greedy(prompt, max_tokens=16) for prompt in PROMPTS]
    together = runner.run(batch)
    alone = [runner.run([request])[0] for request in batch]
    assert together == alone
    assert len({done.text for done in together}) == len(PROMPTS)


def test_a_seed_fixes_the_sample_and_other_seeds_differ(runner: CausalLMRunner) -> None:
    def sample(seed: int, top_p: float = 1.0) -> GenerationRequest:
        return GenerationRequest(
            prompt="Hello world", max_tokens=12, temperature=1.0, top_p=top_p, seed=seed
        )

    first, again, other, nucleus = runner.run([sample(1), sample(1), sample(2), sample(1, 0.5)])
    assert first == again
    assert [runner.run([sample(1)])[0]] == [first]
    assert other.text != first.text
    assert nucleus == runner.run([sample(1, 0.5)])[0]


def test_a_stop_sequence_cuts_the_text_and_ends_the_generation(runner: CausalLMRunner) -> None:
    [free] = runner.run([greedy("Hello world", max_tokens=20)])
    stop = free.text[6:9]
    cut = free.text[: free.text.find(stop)]
    request = greedy("Hello world", max_tokens=20, stop=("never there", stop))
    [stopped] = runner.run([request])
    assert (stopped.text, stopped.finish_reason) == (cut, "stop")
    assert stopped.completion_tokens < 20
    *pieces, last = streamed(runner, [request])[0]
    assert "".join(piece.text for piece in pieces) == cut
    assert last.finish_reason == "stop"


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


def test_a_prompt_past_the_context_fails_alone(runner: CausalLMRunner) -> None:
    long_prompt = "Hello world " * CONTEXT
    batch = [
        greedy("Hello world", max_tokens=6),
        greedy(long_prompt),
        GenerationRequest(prompt="Hello world", max_tokens=CONTEXT, temperature=0),
    ]
    ok, too_long, too_many = runner.run(batch)
    assert isinstance(ok, Generation) and ok.completion_tokens == 6
    assert isinstance(too_long, errors.ContextTooLong)
    assert f"at most {CONTEXT} tokens" in too_long.message
    assert "Shorten the prompt" in too_long.message
    assert isinstance(too_many, errors.ContextTooLong)
    assert f"max_tokens asks for {CONTEXT} more" in too_many.message
    assert f"set max_tokens to {CONTEXT - ok.prompt_tokens} or less" in too_many.message
    chunks = streamed(runner, batch)
    assert [type(c) for c in chunks[1]] == [errors.ContextTooLong]
    assert isinstance(chunks[0][-1], Generation)


def test_without_max_tokens_a_generation_fills_what_the_context_leaves(
    runner: CausalLMRunner,
) -> None:
    prompt = "Hello world " * 10
    [done] = runner.run([GenerationRequest(prompt=prompt, temperature=0)])
    assert isinstance(done, Generation) and done.prompt_tokens > CONTEXT // 2
    assert done.prompt_tokens + done.completion_tokens <= CONTEXT
    if done.finish_reason == "length":
        assert done.prompt_tokens + done.completion_tokens == CONTEXT


def test_a_cancelled_request_stops_and_the_rest_of_its_batch_completes(
    runner: CausalLMRunner,
) -> None:
    seen: dict[int, int] = {}
    left: set[int] = set()

    def cancelled(index: int) -> bool:
        return index in left

    batch = [greedy("Hello world", max_tokens=30), greedy("The quick brown fox", max_tokens=30)]
    chunks: dict[int, list[Any]] = {}
    for index, chunk in pairs(runner.stream(batch, cancelled)):
        chunks.setdefault(index, []).append(chunk)
        seen[index] = seen.get(index, 0) + 1
        if index == 0 and seen[index] == 2:
            left.add(0)
    assert len(chunks[0]) == 2 and all(isinstance(c, TextDelta) for c in chunks[0])
    assert isinstance(chunks[1][-1], Generation)
    assert chunks[1][-1].completion_tokens == 30


def continuous(
    runner: CausalLMRunner,
    arrivals: dict[int, list[GenerationRequest]],
    cancel: dict[int, int] | None = None,
) -> tuple[dict[int, list[Any]], list[int]]:
    """Drive ``stream_continuous``: ``arrivals[n]`` are offered at the n-th call of ``take``;
    ``cancel[key] = n`` cancels ``key`` once n steps went out. The chunks per key (END
    included) and the rooms the runner asked for."""
    offered: list[tuple[int, GenerationRequest]] = []
    keys = iter(range(1000))
    calls, rooms = 0, []
    left: set[int] = set()

    def take(room: int) -> list[tuple[int, Any]]:
        nonlocal calls
        rooms.append(room)
        offered.extend((next(keys), request) for request in arrivals.get(calls, []))
        calls += 1
        given, offered[:] = offered[:room], offered[room:]
        return given

    chunks: dict[int, list[Any]] = {}
    for steps, step in enumerate(runner.stream_continuous(take, left.__contains__), start=1):
        assert isinstance(step, list)
        for key, chunk in step:
            chunks.setdefault(key, []).append(chunk)
        left.update(key for key, at in (cancel or {}).items() if at <= steps)
    return chunks, rooms


def test_requests_that_join_a_running_batch_give_what_they_give_alone(
    runner: CausalLMRunner,
) -> None:
    """Continuous batching: requests join between steps, each after its own prefill, with a
    prompt shorter and one longer than the running batch's; the results match each alone."""
    first = greedy("Hello world", max_tokens=20)
    longer = greedy("The quick brown fox jumps over the lazy dog again and again", max_tokens=8)
    shorter = greedy("Hi", max_tokens=12)
    alone = [runner.run([request])[0] for request in (first, longer, shorter)]
    chunks, rooms = continuous(runner, {0: [first], 3: [longer], 6: [shorter]})
    assert rooms[3] == rooms[0] - 1 and rooms[6] == rooms[0] - 2
    for key, expected in enumerate(alone):
        *pieces, done, end = chunks[key]
        assert end is END
        assert "".join(piece.text for piece in pieces) == expected.text
        assert done == expected


def test_a_full_batch_takes_no_more_and_a_joined_request_can_be_cancelled(
    model_dir: Path,
) -> None:
    small = CausalLMRunner()
    small.load(lm_spec(model_dir, max_batch_size=2), model_dir, "cpu")
    try:
        requests = [greedy(prompt, max_tokens=6) for prompt in PROMPTS[:3]]
        chunks, rooms = continuous(small, {0: requests}, cancel={1: 2})
    finally:
        small.close()
    assert max(rooms) <= 2
    assert all(chunks[key][-1] is END for key in range(3))
    assert isinstance(chunks[0][-2], Generation) and isinstance(chunks[2][-2], Generation)
    assert not any(isinstance(chunk, Generation) for chunk in chunks[1])
    assert len([c for c in chunks[1] if isinstance(c, TextDelta)]) <= 2


def test_a_request_refused_while_joining_fails_alone(runner: CausalLMRunner) -> None:
    chunks, _ = continuous(
        runner, {0: [greedy("Hello", max_tokens=5)], 2: [greedy("Hello world " * CONTEXT)]}
    )
    assert isinstance(chunks[1][0], errors.ContextTooLong) and chunks[1][1] is END
    assert isinstance(chunks[0][-2], Generation) and chunks[0][-2].completion_tokens == 5


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
