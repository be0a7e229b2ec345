"""Function tools in a realtime session, on fake models: ``session.update`` with tools and
``tool_choice``; a response that calls a function streams it as OpenAI's events
(``response.output_item.added`` with a ``function_call`` item, the arguments' deltas and
done, ``response.done`` with the call in its output); the client's
``function_call_output`` item goes back to the model with the call, and it answers."""

from __future__ import annotations

import json
from typing import Any

from berth.tasks.generate import JsonGrammar, TaggedJsonGrammar
from tests.unit.test_realtime import Client, Models

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}
CALL = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'


def user(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        },
    }


async def session_with_tools(models: Models, choice: Any) -> Client:
    client = Client(models, turn_detection=None, output_modalities=["text"])
    await client.session.handle(
        {"type": "session.update", "session": {"tools": [WEATHER], "tool_choice": choice}}
    )
    [updated] = client.of("session.updated")
    assert updated["session"]["tools"] == [WEATHER]
    assert updated["session"]["tool_choice"] == choice
    return client


async def test_a_forced_call_streams_as_a_function_call_item_and_its_output_is_answered() -> None:
    models = Models(reply=CALL)
    client = await session_with_tools(models, {"type": "function", "name": "get_weather"})
    await client.session.handle(user("Weather in Oslo?"))
    await client.session.handle({"type": "response.create"})
    await client.done()

    asked = models.requests[0]
    assert isinstance(asked.grammar, JsonGrammar)
    assert [tool.name for tool in asked.tools] == ["get_weather"]
    [added] = client.of("response.output_item.added")
    call = added["item"]
    assert (call["type"], call["name"], call["status"]) == (
        "function_call",
        "get_weather",
        "in_progress",
    )
    assert call["call_id"].startswith("call_") and added["output_index"] == 0
    deltas = client.of("response.function_call_arguments.delta")
    assert deltas and {d["call_id"] for d in deltas} == {call["call_id"]}
    arguments = "".join(d["delta"] for d in deltas)
    assert json.loads(arguments) == {"city": "Oslo"}
    [done_args] = client.of("response.function_call_arguments.done")
    assert (done_args["name"], done_args["arguments"], done_args["item_id"]) == (
        "get_weather",
        arguments,
        call["id"],
    )
    [done] = client.of("response.done")
    assert done["response"]["status"] == "completed"
    [output] = done["response"]["output"]
    assert (output["type"], output["status"], output["arguments"]) == (
        "function_call",
        "completed",
        arguments,
    )
    assert not client.of("response.output_text.delta")
    assert not client.of("response.content_part.added")

    models.reply = "It is sunny in Oslo."
    await client.session.handle(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "function_call_output",
                "call_id": call["call_id"],
                "output": '{"sky": "sunny"}',
            },
        }
    )
    await client.session.handle({"type": "response.create", "response": {"tool_choice": "none"}})
    await client.done(2)
    again = models.requests[1]
    assert again.grammar is None and again.tools == ()
    [called] = [m for m in again.messages if m.tool_calls]
    assert (called.role, called.tool_calls[0].name) == ("assistant", "get_weather")
    assert json.loads(called.tool_calls[0].arguments) == {"city": "Oslo"}
    [result] = [m for m in again.messages if m.role == "tool"]
    assert (result.content, result.tool_call_id, result.name) == (
        '{"sky": "sunny"}',
        call["call_id"],
        "get_weather",
    )
    text = "".join(e["delta"] for e in client.of("response.output_text.delta"))
    assert text == "It is sunny in Oslo."


async def test_with_auto_the_reply_may_say_something_and_call() -> None:
    models = Models(reply=f"Let me look. <tool_call>{CALL}</tool_call>")
    client = await session_with_tools(models, "auto")
    await client.session.handle(user("Weather in Oslo?"))
    await client.session.handle({"type": "response.create"})
    await client.done()
    assert isinstance(models.requests[0].grammar, TaggedJsonGrammar)
    text = "".join(e["delta"] for e in client.of("response.output_text.delta"))
    assert text.strip() == "Let me look."
    [done] = client.of("response.done")
    message, call = done["response"]["output"]
    assert message["type"] == "message" and message["content"][0]["text"] == "Let me look."
    assert (call["type"], call["name"]) == ("function_call", "get_weather")
    assert json.loads(call["arguments"]) == {"city": "Oslo"}
    [added_call] = [e for e in client.of("response.output_item.added") if e["output_index"] == 1]
    assert added_call["item"]["call_id"] == call["call_id"]


async def test_bad_tool_events_are_named() -> None:
    models = Models(reply=CALL)
    client = await session_with_tools(models, "auto")
    await client.session.handle(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_nowhere", "output": "x"},
        }
    )
    await client.session.handle({"type": "session.update", "session": {"tool_choice": "always"}})
    await client.session.handle(
        {"type": "session.update", "session": {"tool_choice": {"type": "function", "name": "nope"}}}
    )
    await client.session.handle(user("hi"))
    await client.session.handle({"type": "response.create"})
    errors = [e["error"] for e in client.of("error")]
    assert [e["param"] for e in errors] == [
        "item.call_id",
        "session.tool_choice",
        "session.tool_choice",
    ]
    assert "call_nowhere" in errors[0]["message"] and "'nope'" in errors[2]["message"]
    assert not client.of("response.created") and not client.session.conversation.items[:-1]


async def test_a_forced_call_that_max_output_tokens_cuts_ends_incomplete() -> None:
    models = Models(reply=CALL)
    client = await session_with_tools(models, {"type": "function", "name": "get_weather"})
    await client.session.handle({"type": "session.update", "session": {"max_output_tokens": 4}})
    await client.session.handle(user("Weather in Oslo?"))
    await client.session.handle({"type": "response.create"})
    await client.done()
    assert models.requests[0].max_tokens == 4
    [done] = client.of("response.done")
    response = done["response"]
    assert response["status"] == "incomplete"
    assert response["status_details"] == {"type": "incomplete", "reason": "max_output_tokens"}
    [call] = response["output"]
    assert (call["type"], call["status"]) == ("function_call", "incomplete")
    assert call["arguments"] == '{"city":', "the arguments as far as they were made"
    [item_done] = client.of("response.output_item.done")
    assert item_done["item"]["status"] == "incomplete"


async def test_a_text_reply_that_max_output_tokens_cuts_ends_incomplete_too() -> None:
    models = Models(reply="One two three four five six.")
    client = Client(models, turn_detection=None, output_modalities=["text"])
    await client.session.handle({"type": "session.update", "session": {"max_output_tokens": 3}})
    await client.session.handle(user("Count."))
    await client.session.handle({"type": "response.create"})
    await client.done()
    [done] = client.of("response.done")
    assert done["response"]["status"] == "incomplete"
    [message] = done["response"]["output"]
    assert (message["status"], message["content"][0]["text"]) == ("incomplete", "One two three")
