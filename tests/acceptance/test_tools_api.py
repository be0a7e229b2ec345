"""Tools, structured output and logprobs from a real ``berth serve`` with the tiny causal LM
(random weights), driven by the official ``openai`` client: every forced call and every
structured answer parses and validates, because the decoder only allows what does."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any, Literal

import jsonschema
import openai
import pytest
from pydantic import BaseModel, Field

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import build_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow]
MODEL = "tiny-lm"
ASK: list[Any] = [{"role": "user", "content": "What is the weather in Oslo?"}]
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
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "Forecast.", "parameters": WEATHER},
    },
    {
        "type": "function",
        "function": {
            "name": "get_time",
            "parameters": {
                "type": "object",
                "properties": {"zone": {"enum": ["UTC", "CET"]}},
                "required": ["zone"],
                "additionalProperties": False,
            },
        },
    },
]
FORCED: Any = {"type": "function", "function": {"name": "get_weather"}}


class Forecast(BaseModel):
    city: str = Field(min_length=1, max_length=8)
    days: int = Field(ge=1, le=7)
    unit: Literal["celsius", "fahrenheit"]
    windy: bool


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = build_causal_lm(tmp_path_factory.getbasetemp() / "tiny-causal-lm-2k", context=2048)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\n'
        f'source = "local:{model_dir}"\n'
        f"[models.{MODEL}.options]\nmax_batch_size = 8\n"
        '[models.echo]\ntask = "chat"\nrunner = "echo"\nsource = "none:"\n'
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="120") as live:
        yield live


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[openai.OpenAI]:
    secret = create_key(server, "tools", "infer")
    with openai.OpenAI(
        base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=300
    ) as opened:
        yield opened


def test_a_forced_tool_is_called_with_valid_arguments(client: openai.OpenAI) -> None:
    for seed in range(2):
        answer = client.chat.completions.create(
            model=MODEL, messages=ASK, tools=TOOLS, tool_choice=FORCED, seed=seed, max_tokens=120
        )
        [choice] = answer.choices
        assert choice.finish_reason == "tool_calls"
        assert choice.message.content is None
        [call] = choice.message.tool_calls or []
        assert call.type == "function" and call.id.startswith("call_")
        assert call.function.name == "get_weather"
        jsonschema.validate(json.loads(call.function.arguments), WEATHER)


def test_a_streamed_call_comes_as_openai_sends_it(client: openai.OpenAI) -> None:
    settings: Any = {"tools": TOOLS, "tool_choice": "required", "seed": 3, "max_tokens": 120}
    whole = client.chat.completions.create(
        model=MODEL, messages=ASK, parallel_tool_calls=False, **settings
    )
    [expected] = whole.choices[0].message.tool_calls or []
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=ASK, parallel_tool_calls=False, stream=True, **settings
        )
    )
    pieces = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
    calls = [piece for each in pieces if each for piece in each]
    first, *rest = calls
    assert first.index == 0 and first.id and first.id.startswith("call_")
    assert first.type == "function" and first.function is not None
    assert first.function.name == expected.function.name and first.function.arguments == ""
    assert rest and all(p.index == 0 and p.id is None and p.function for p in rest)
    arguments = "".join(p.function.arguments or "" for p in rest if p.function)
    assert arguments == expected.function.arguments
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "tool_calls" and set(finishes[:-1]) == {None}


def test_a_tool_result_in_the_conversation_is_read(client: openai.OpenAI) -> None:
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "get_time", "arguments": '{"zone": "UTC"}'},
    }
    messages: Any = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
    ]
    answer = client.chat.completions.create(
        model=MODEL, messages=messages, tools=TOOLS, max_tokens=16, seed=1
    )
    [choice] = answer.choices
    assert choice.finish_reason in {"stop", "length", "tool_calls"}
    assert answer.usage is not None and answer.usage.prompt_tokens > 100
    with pytest.raises(openai.BadRequestError, match=r"messages\[1\]\.tool_call_id"):
        client.chat.completions.create(
            model=MODEL,
            messages=[*ASK, {"role": "tool", "tool_call_id": "call_9", "content": "?"}],
            max_tokens=4,
        )


def test_parse_gives_a_valid_pydantic_object(client: openai.OpenAI) -> None:
    for seed in range(2):
        answer = client.chat.completions.parse(
            model=MODEL, messages=ASK, response_format=Forecast, seed=seed, max_tokens=120
        )
        parsed = answer.choices[0].message.parsed
        assert isinstance(parsed, Forecast)
        assert 1 <= parsed.days <= 7 and 1 <= len(parsed.city) <= 8


def test_parse_with_a_strict_function_tool(client: openai.OpenAI) -> None:
    answer = client.chat.completions.parse(
        model=MODEL,
        messages=ASK,
        tools=[openai.pydantic_function_tool(Forecast, name="forecast")],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=120,
        seed=2,
    )
    [call] = answer.choices[0].message.tool_calls or []
    assert call.function.name == "forecast"
    assert isinstance(call.function.parsed_arguments, Forecast)


def test_json_object_and_json_schema_formats(client: openai.OpenAI) -> None:
    anything = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        response_format={"type": "json_object"},
        max_tokens=300,
        temperature=0,
    )
    content = anything.choices[0].message.content or ""
    if anything.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)
    else:
        assert content.startswith("{")
    shaped = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": WEATHER, "strict": True},
        },
        max_tokens=120,
        seed=4,
    )
    jsonschema.validate(json.loads(shaped.choices[0].message.content or ""), WEATHER)
    streamed = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather", "schema": WEATHER, "strict": True},
        },
        max_tokens=120,
        seed=4,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert text == shaped.choices[0].message.content


def test_logprobs_on_chat_and_completions(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL, messages=ASK, max_tokens=6, temperature=0, logprobs=True, top_logprobs=2
    )
    logprobs = answer.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    assert len(logprobs.content) == 6
    for token in logprobs.content:
        assert token.logprob <= 0 and len(token.top_logprobs) == 2
        assert token.top_logprobs[0].logprob == pytest.approx(token.logprob)  # greedy
    streamed = client.chat.completions.create(
        model=MODEL,
        messages=ASK,
        max_tokens=6,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
        stream=True,
    )
    tokens = [
        token.token
        for c in streamed
        if c.choices and c.choices[0].logprobs and c.choices[0].logprobs.content
        for token in c.choices[0].logprobs.content
    ]
    assert tokens == [token.token for token in logprobs.content]
    completion = client.completions.create(
        model=MODEL, prompt="Hello world", max_tokens=5, temperature=0, logprobs=2
    )
    shown = completion.choices[0].logprobs
    assert shown is not None and shown.tokens is not None and len(shown.tokens) == 5
    assert shown.top_logprobs is not None and all(len(top) <= 2 for top in shown.top_logprobs)


def test_bad_tool_settings_are_400s_that_name_the_field(client: openai.OpenAI) -> None:
    named: Any = {"type": "function", "function": {"name": "get_tide"}}
    with pytest.raises(openai.BadRequestError, match="tool_choice names function 'get_tide'"):
        client.chat.completions.create(model=MODEL, messages=ASK, tools=TOOLS, tool_choice=named)
    with pytest.raises(openai.BadRequestError, match="but the request has no tools"):
        client.chat.completions.create(model=MODEL, messages=ASK, tool_choice="required")
    broken: Any = [
        {"type": "function", "function": {"name": "f", "parameters": {"type": "nonsense"}}}
    ]
    with pytest.raises(openai.BadRequestError, match=r"tools\[0\]\.function\.parameters"):
        client.chat.completions.create(model=MODEL, messages=ASK, tools=broken)
    with pytest.raises(openai.BadRequestError, match=r"response_format\.json_schema\.schema"):
        client.chat.completions.create(
            model=MODEL,
            messages=ASK,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "w", "schema": {"type": 5}},
            },
        )
    with pytest.raises(openai.BadRequestError, match=r"runner 'echo'\) cannot do"):
        client.chat.completions.create(
            model="echo", messages=ASK, response_format={"type": "json_object"}
        )


def test_an_openai_agents_sdk_agent_calls_its_tool(server: LiveServer) -> None:
    """The OpenAI Agents SDK, unchanged, runs a tool-using agent against Berth: the forced
    tool (model settings' tool_choice) is called with arguments its schema accepts."""
    from agents import (
        Agent,
        ModelSettings,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )

    set_tracing_disabled(True)
    seen: list[tuple[str, int]] = []

    @function_tool
    def get_forecast(city: Literal["Oslo", "Bergen"], days: Literal[1, 2, 3]) -> str:
        """The forecast for a city."""
        seen.append((city, days))
        return f"Sunny in {city} for {days} days."

    secret = create_key(server, "agents", "infer")

    async def run() -> Any:
        async with openai.AsyncOpenAI(
            base_url=f"{server.url}/v1", api_key=secret, max_retries=0, timeout=300
        ) as remote:
            agent = Agent(
                name="forecaster",
                instructions="Answer with the forecast.",
                tools=[get_forecast],
                model=OpenAIChatCompletionsModel(model=MODEL, openai_client=remote),
                model_settings=ModelSettings(
                    tool_choice="get_forecast", max_tokens=80, temperature=1
                ),
                tool_use_behavior="stop_on_first_tool",
            )
            return await Runner.run(agent, "What is the weather in Oslo?", max_turns=2)

    result = asyncio.run(run())
    [(city, days)] = seen
    assert city in {"Oslo", "Bergen"} and days in {1, 2, 3}
    assert result.final_output == f"Sunny in {city} for {days} days."


def test_a_call_that_max_tokens_cuts_is_not_claimed(client: openai.OpenAI) -> None:
    """A forced call (alone, or parallel calls in an array) cut by max_tokens ends with
    finish_reason length and no tool_calls, whole or streamed; so does a strict schema."""
    for choice, parallel in ((FORCED, False), ("required", True)):
        settings: Any = {"tools": TOOLS, "tool_choice": choice, "seed": 1, "max_tokens": 48}
        answer = client.chat.completions.create(
            model=MODEL, messages=ASK, parallel_tool_calls=parallel, **settings
        )
        [cut] = answer.choices
        assert cut.finish_reason == "length" and not cut.message.tool_calls, cut
        assert cut.message.content and cut.message.content.lstrip("[").startswith('{"name": "get_')
        assert answer.usage is not None and answer.usage.completion_tokens == 48
        chunks = list(
            client.chat.completions.create(
                model=MODEL, messages=ASK, parallel_tool_calls=parallel, stream=True, **settings
            )
        )
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "length" and set(finishes[:-1]) == {None}
    schema: Any = {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": WEATHER, "strict": True},
    }
    answer = client.chat.completions.create(
        model=MODEL, messages=ASK, response_format=schema, seed=1, max_tokens=12
    )
    [cut] = answer.choices
    assert cut.finish_reason == "length" and not cut.message.tool_calls
    assert cut.message.content and cut.message.content.startswith('{"city": "')
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.message.content)
