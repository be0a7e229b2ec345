"""What every LLM runner does alike, run on the ``transformers`` runner (the tiny Llama) and on
the ``llama-cpp`` runner (the same weights as GGUF): streamed pieces in order, a batch equal to
each request alone with greedy decoding, a seed that fixes the sample, stop sequences, errors
past the context, cancellation, and requests that join a running batch. What only one runner
does stays in its own module (``test_causal_lm.py``, ``test_llama_cpp.py``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from berth import errors
from berth.models.spec import ModelSpec
from berth.runners.causal_lm import CausalLMRunner
from berth.runners.contract import END, pairs
from berth.runners.llama_cpp import LlamaCppRunner
from berth.tasks.generate import Generation, GenerationRequest, TextDelta
from tests.tiny.causal_lm import CONTEXT, session_causal_lm
from tests.tiny.gguf import session_gguf

pytestmark = pytest.mark.integration
PROMPTS = [
    "Hello world",
    "The quick brown fox jumps over",
    "Café, naïve, façade",
    "Numbers like 12 and 345",
]
Runner = CausalLMRunner | LlamaCppRunner
Loader = Callable[..., Runner]


def greedy(prompt: str, max_tokens: int = 12, **fields: Any) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, max_tokens=max_tokens, temperature=0, **fields)


@pytest.fixture(scope="module", params=["transformers", "llama-cpp"])
def load(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Loader:
    """Loads the tiny model in the runner of this parameter, with the given options."""
    name: str = request.param
    if name == "llama-cpp":
        pytest.importorskip("llama_cpp")
        path = session_gguf(tmp_path_factory)
    else:
        path = session_causal_lm(tmp_path_factory)

    def loaded(**options: Any) -> Runner:
        spec = ModelSpec(
            alias="tiny", task="chat", runner=name, source=f"local:{path}", options=options
        )
        runner: Runner = LlamaCppRunner() if name == "llama-cpp" else CausalLMRunner()
        runner.load(spec, path, "cpu")
        return runner

    return loaded


@pytest.fixture(scope="module")
def runner(load: Loader) -> Iterator[Runner]:
    loaded = load(max_batch_size=4)
    yield loaded
    loaded.close()


def streamed(
    runner: Runner, batch: Sequence[GenerationRequest], cancelled: Any = None
) -> dict[int, list[Any]]:
    chunks: dict[int, list[Any]] = {}
    stream = runner.stream(batch) if cancelled is None else runner.stream(batch, cancelled)
    for index, chunk in pairs(stream):
        chunks.setdefault(index, []).append(chunk)
    return chunks


def test_streamed_pieces_come_in_order_and_join_to_the_whole_text(runner: Runner) -> None:
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
    steps = list(runner.stream(batch))
    assert max(len({index for index, _ in step}) for step in steps) > 1


def test_a_batch_gives_what_each_prompt_gives_alone(runner: Runner) -> None:
    batch = [greedy(prompt, max_tokens=16) for prompt in PROMPTS]
    together = runner.run(batch)
    alone = [runner.run([request])[0] for request in batch]
    assert together == alone
    assert len({done.text for done in together}) == len(PROMPTS)


def test_a_seed_fixes_the_sample_and_other_seeds_differ(runner: Runner) -> None:
    def sample(seed: int, top_p: float = 1.0) -> GenerationRequest:
        return GenerationRequest(
            prompt="Hello world", max_tokens=12, temperature=1.0, top_p=top_p, seed=seed
        )

    first, again, other, nucleus = runner.run([sample(1), sample(1), sample(2), sample(1, 0.5)])
    assert first == again == runner.run([sample(1)])[0]
    assert other.text != first.text
    assert nucleus == runner.run([sample(1, 0.5)])[0]


def test_a_stop_sequence_cuts_the_text_and_ends_the_generation(runner: Runner) -> None:
    prompt = "The quick brown fox jumps over"
    [free] = runner.run([greedy(prompt, max_tokens=20)])
    stop = free.text.replace("\ufffd", "")[3:5]
    cut = free.text[: free.text.find(stop)]
    request = greedy(prompt, max_tokens=20, stop=("never there", stop))
    [stopped] = runner.run([request])
    assert (stopped.text, stopped.finish_reason) == (cut, "stop")
    assert stopped.completion_tokens < 20
    *pieces, last = streamed(runner, [request])[0]
    assert "".join(piece.text for piece in pieces) == cut
    assert last.finish_reason == "stop"


def test_a_prompt_past_the_context_fails_alone(runner: Runner) -> None:
    batch = [
        greedy("Hello world", max_tokens=6),
        greedy("Hello world " * CONTEXT),
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


def test_without_max_tokens_a_generation_fills_what_the_context_leaves(runner: Runner) -> None:
    [done] = runner.run([GenerationRequest(prompt="Hello world " * 10, temperature=0)])
    assert isinstance(done, Generation) and done.prompt_tokens > CONTEXT // 2
    assert done.prompt_tokens + done.completion_tokens <= CONTEXT
    if done.finish_reason == "length":
        assert done.prompt_tokens + done.completion_tokens == CONTEXT


def test_a_cancelled_request_stops_at_the_next_token_and_the_rest_completes(
    runner: Runner,
) -> None:
    left: set[int] = set()
    batch = [greedy("Hello world", max_tokens=30), greedy("The quick brown fox", max_tokens=30)]
    chunks: dict[int, list[Any]] = {}
    for index, chunk in pairs(runner.stream(batch, left.__contains__)):
        chunks.setdefault(index, []).append(chunk)
        if index == 0 and len(chunks[0]) == 2:
            left.add(0)
    assert len(chunks[0]) == 2 and all(isinstance(c, TextDelta) for c in chunks[0])
    assert isinstance(chunks[1][-1], Generation) and chunks[1][-1].completion_tokens == 30


def continuous(
    runner: Runner,
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


def test_requests_that_join_a_running_batch_give_what_they_give_alone(runner: Runner) -> None:
    """Requests join between steps, each after its own prefill, with a prompt shorter and one
    longer than the running batch's; the results match each alone."""
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


def test_a_full_batch_takes_no_more_and_a_joined_request_can_be_cancelled(load: Loader) -> None:
    small = load(max_batch_size=2)
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


def test_a_request_refused_while_joining_fails_alone(runner: Runner) -> None:
    chunks, _ = continuous(
        runner, {0: [greedy("Hello", max_tokens=5)], 2: [greedy("Hello world " * CONTEXT)]}
    )
    assert isinstance(chunks[1][0], errors.ContextTooLong) and chunks[1][1] is END
    assert isinstance(chunks[0][-2], Generation) and chunks[0][-2].completion_tokens == 5
