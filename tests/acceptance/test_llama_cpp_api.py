"""Chat and completions on the tiny GGUF from a real ``berth serve`` (the llama-cpp runner in a
user catalog), driven by the official ``openai`` client; tools and structured output on the
tiny GGUF with the longer context (random weights: every forced call and structured answer
validates because the decoder allows nothing else)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jsonschema
import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import CONTEXT
from tests.tiny.gguf import session_gguf, session_long_gguf

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
pytest.importorskip("llama_cpp")
MODEL = "tiny-gguf"
TOOL_MODEL = "tiny-gguf-2k"
MESSAGES: list[openai.types.chat.ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are brief."},
    {"role": "user", "content": "Hello there, how are you?"},
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    gguf = session_gguf(tmp_path_factory)
    long = session_long_gguf(tmp_path_factory)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "llama-cpp"\n'
        f'source = "local:{gguf.parent}"\nfiles = ["*.gguf"]\n'
        f"[models.{MODEL}.options]\nmax_batch_size = 4\n"
        f'[models.{TOOL_MODEL}]\ntask = "chat"\nrunner = "llama-cpp"\n'
        f'source = "local:{long.parent}"\nfiles = ["*.gguf"]\n'
        f"[models.{TOOL_MODEL}.options]\nmax_batch_size = 4\n"
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    secret = create_key(server, "llama", "infer")
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=120
    ) as opened:
        yield opened


def test_chat_answers_with_the_usage_and_again_the_same(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0
    )
    [choice] = answer.choices
    assert choice.finish_reason == "length"
    assert isinstance(choice.message.content, str) and choice.message.content
    assert answer.usage is not None and answer.usage.completion_tokens == 8
    assert answer.usage.total_tokens == answer.usage.prompt_tokens + 8 > 18
    again = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=8, temperature=0
    )
    assert again.choices[0].message.content == choice.message.content


def test_chat_streams_the_same_text_then_the_usage(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=10, temperature=0
    )
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=10,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [c.choices[0].delta.content or "" for c in chunks if c.choices]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 10


def test_sampling_extras_and_a_seed_repeat(client: openai.OpenAI) -> None:
    def sample() -> str | None:
        answer = client.chat.completions.create(
            model=MODEL,
            messages=MESSAGES,
            max_tokens=12,
            temperature=0.9,
            top_p=0.95,
            seed=7,
            extra_body={"top_k": 30, "min_p": 0.02, "repeat_penalty": 1.2},
        )
        return answer.choices[0].message.content

    assert sample() == sample()
    with pytest.raises(openai.BadRequestError, match="top_k"):
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=2, extra_body={"top_k": -1}
        )


def test_completions_streamed_and_not_and_with_a_stop(client: openai.OpenAI) -> None:
    free = client.completions.create(
        model=MODEL, prompt="The quick brown fox", max_tokens=16, temperature=0
    )
    text = free.choices[0].text
    assert free.choices[0].finish_reason == "length" and text
    streamed = client.completions.create(
        model=MODEL, prompt="The quick brown fox", max_tokens=16, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed if c.choices) == text
    visible = text.replace("\ufffd", "")
    stop = visible[2:4]
    cut = client.completions.create(
        model=MODEL, prompt="The quick brown fox", max_tokens=16, temperature=0, stop=[stop]
    )
    assert cut.choices[0].text == text[: text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_concurrent_requests_answer_as_one_by_one(client: openai.OpenAI) -> None:
    prompts = ["Hello world", "The quick brown fox", "Numbers like 12", "Café, naïve"]

    def complete(prompt: str) -> str:
        done = client.completions.create(model=MODEL, prompt=prompt, max_tokens=12, temperature=0)
        return done.choices[0].text

    alone = [complete(prompt) for prompt in prompts]
    with ThreadPoolExecutor(len(prompts)) as threads:
        together = list(threads.map(complete, prompts))
    assert together == alone


def test_a_prompt_past_the_context_is_a_400_naming_the_limit(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="Shorten the prompt") as caught:
        client.completions.create(model=MODEL, prompt="Hello world " * CONTEXT, max_tokens=4)
    assert caught.value.status_code == 400
    assert f"at most {CONTEXT} tokens" in str(caught.value)
    with pytest.raises(openai.BadRequestError, match="set max_tokens to"):
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=CONTEXT, stream=True
        )


WEATHER = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 1, "maxLength": 8},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "unit": {"enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "days", "unit"],
    "additionalProperties": False,
}
ZONE = {
    "type": "object",
    "properties": {"zone": {"enum": ["UTC", "CET"]}},
    "required": ["zone"],
    "additionalProperties": False,
}
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Forecast.", "parameters": WEATHER},
    },
    {"type": "function", "function": {"name": "get_time", "parameters": ZONE}},
]
ASK: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]


def test_a_forced_tool_is_called_with_valid_arguments(client: openai.OpenAI) -> None:
    forced: Any = {"type": "function", "function": {"name": "get_weather"}}
    for seed in range(3):
        answer = client.chat.completions.create(
            model=TOOL_MODEL,
            messages=ASK,
            tools=TOOLS,
            tool_choice=forced,
            seed=seed,
            max_tokens=120,
        )
        [choice] = answer.choices
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        [call] = choice.message.tool_calls or []
        assert call.id.startswith("call_") and call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER)


def test_a_required_call_streams_as_openai_sends_it(client: openai.OpenAI) -> None:
    settings: Any = {"tools": TOOLS, "tool_choice": "required", "seed": 4, "max_tokens": 120}
    whole = client.chat.completions.create(
        model=TOOL_MODEL, messages=ASK, parallel_tool_calls=False, **settings
    )
    [expected] = whole.choices[0].message.tool_calls or []
    chunks = list(
        client.chat.completions.create(
            model=TOOL_MODEL, messages=ASK, parallel_tool_calls=False, stream=True, **settings
        )
    )
    calls = [piece for c in chunks if c.choices for piece in c.choices[0].delta.tool_calls or []]
    first, *rest = calls
    assert first.id and first.function is not None
    assert first.function.name == expected.function.name
    arguments = "".join(p.function.arguments or "" for p in rest if p.function)
    assert arguments == expected.function.arguments
    schema = WEATHER if expected.function.name == "get_weather" else ZONE
    jsonschema.validate(json.loads(arguments), schema)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_a_strict_json_schema_answer_validates(client: openai.OpenAI) -> None:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": WEATHER, "strict": True},
    }
    for seed in range(3):
        answer = client.chat.completions.create(
            model=TOOL_MODEL,
            messages=ASK,
            response_format=response_format,
            seed=seed,
            max_tokens=120,
        )
        [choice] = answer.choices
        assert choice.finish_reason == "stop"
        jsonschema.validate(json.loads(choice.message.content or ""), WEATHER)


def test_auto_answers_with_text_or_calls(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=TOOL_MODEL, messages=ASK, tools=TOOLS, seed=1, max_tokens=24
    )
    [choice] = answer.choices
    assert choice.finish_reason in {"stop", "length", "tool_calls"}
    if choice.finish_reason == "tool_calls":
        assert choice.message.tool_calls
    else:
        assert choice.message.content is not None
    assert answer.usage is not None and answer.usage.prompt_tokens > 100
