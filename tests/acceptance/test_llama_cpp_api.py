"""What only the GGUF path does, from a real ``berth serve`` (the llama-cpp runner in a user
catalog) driven by the official ``openai`` client: llama.cpp's sampling extras, and tools and
structured output on the tiny GGUF with the longer context (random weights: every forced call
and structured answer validates because the decoder allows nothing else). Chat and
completions as every runner gives them are in ``test_llm_api.py``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
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
