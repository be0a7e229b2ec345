"""Function tools in a realtime session, driven by the official ``openai`` client's
``realtime.connect`` against ``berth serve`` with the tiny causal LM: a forced tool comes back
as a ``function_call`` item whose arguments match the tool's schema (constrained by the
grammar), and the model answers after the client sends the call's output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.acceptance.live import LiveServer, create_key, live_server
from tests.tiny.causal_lm import build_causal_lm

pytestmark = [pytest.mark.acceptance, pytest.mark.slow, pytest.mark.timeout(600)]
MODEL = "tiny-lm"
WEATHER: dict[str, Any] = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 8}},
        "required": ["city"],
        "additionalProperties": False,
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    model_dir = build_causal_lm(tmp_path_factory.getbasetemp() / "tiny-causal-lm-2k", context=2048)
    home = tmp_path_factory.mktemp("serve") / "home"
    home.mkdir(parents=True)
    (home / "catalog.toml").write_text(
        f'[models.{MODEL}]\ntask = "chat"\nrunner = "transformers"\nsource = "local:{model_dir}"\n'
    )
    with live_server(home, BERTH_LOAD_WAIT_SECONDS="240") as live:
        yield live


async def until(connection: Any, kind: str) -> list[Any]:
    seen: list[Any] = []
    while True:
        event = await connection.recv()
        seen.append(event)
        if event.type == "error":
            raise AssertionError(f"error event: {event.error}")
        if event.type == kind:
            return seen


async def test_a_forced_tool_is_called_and_its_output_answered(server: LiveServer) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key=create_key(server, "rt", "infer"), max_retries=0
    )
    async with client.realtime.connect(model=MODEL) as connection:
        await until(connection, "session.created")
        session: Any = {
            "type": "realtime",
            "output_modalities": ["text"],
            "max_output_tokens": 200,
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "audio": {"input": {"turn_detection": None}},
        }
        await connection.session.update(session=session)
        updated = (await until(connection, "session.updated"))[-1]
        assert [tool.name for tool in updated.session.tools] == ["get_weather"]
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Oslo?"}],
            }
        )
        await connection.response.create()
        seen = await until(connection, "response.done")
        [added] = [e for e in seen if e.type == "response.output_item.added"]
        assert added.item.type == "function_call" and added.item.name == "get_weather"
        deltas = [e.delta for e in seen if e.type == "response.function_call_arguments.delta"]
        [done_args] = [e for e in seen if e.type == "response.function_call_arguments.done"]
        assert done_args.arguments == "".join(deltas)
        arguments = json.loads(done_args.arguments)
        assert set(arguments) == {"city"} and isinstance(arguments["city"], str)
        done = seen[-1]
        assert done.response.status == "completed"
        [call] = done.response.output
        assert (call.type, call.call_id, call.arguments) == (
            "function_call",
            added.item.call_id,
            done_args.arguments,
        )

        await connection.conversation.item.create(
            item={"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}
        )
        await connection.response.create(response={"tool_choice": "none"})
        answered = (await until(connection, "response.done"))[-1]
        if answered.response.usage.output_tokens < 200:
            assert answered.response.status == "completed"
        else:  # the random model rarely ends by itself: the limit cut its reply
            assert answered.response.status == "incomplete"
            assert answered.response.status_details.reason == "max_output_tokens"
        [message] = answered.response.output
        assert message.type == "message" and message.role == "assistant"
        assert answered.response.usage.input_tokens > 0


async def test_a_forced_call_cut_by_max_output_tokens_ends_incomplete(server: LiveServer) -> None:
    client = openai.AsyncOpenAI(
        base_url=f"{server.url}/v1", api_key=create_key(server, "rt-cut", "infer"), max_retries=0
    )
    async with client.realtime.connect(model=MODEL) as connection:
        await until(connection, "session.created")
        session: Any = {
            "type": "realtime",
            "output_modalities": ["text"],
            "max_output_tokens": 42,
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "name": "get_weather"},
            "audio": {"input": {"turn_detection": None}},
        }
        await connection.session.update(session=session)
        await until(connection, "session.updated")
        await connection.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "Weather in Oslo?"}],
            }
        )
        await connection.response.create()
        done = (await until(connection, "response.done"))[-1]
        assert done.response.status == "incomplete"
        assert done.response.status_details is not None
        assert done.response.status_details.reason == "max_output_tokens"
        [call] = done.response.output
        assert (call.type, call.status) == ("function_call", "incomplete")
        with pytest.raises(json.JSONDecodeError):
            json.loads(call.arguments or "")
        assert done.response.usage.output_tokens == 42
