"""Chat replies of answers that ``max_tokens`` cut: a forced call, an array of parallel calls
and a tagged call cut before their end claim no call (finish_reason ``length``, no
``tool_calls``, the cut text as content), whole or streamed; a cut ``json_schema`` output is
content with ``length``; whole calls are still ``tool_calls``."""

from __future__ import annotations

import json

import pytest

from berth import tooluse
from berth.api.replies import ChatDeltas, chat_reply
from berth.tasks.generate import Generation, TextDelta, ToolSpec

pytestmark = pytest.mark.unit
TOOLS = (
    ToolSpec(
        "get_weather",
        "The weather in a city.",
        json.dumps({"type": "object", "properties": {"city": {"type": "string"}}}),
    ),
)
CALL = '{"name": "get_weather", "arguments": {"city": "Oslo"}}'


def plan(choice: str, parallel: bool = False) -> tooluse.ToolPlan:
    return tooluse.plan(TOOLS, choice, parallel, tooluse.OutputFormat())


def streamed(plan: tooluse.ToolPlan, text: str, finish: str) -> tuple[list[str], str]:
    deltas = ChatDeltas(plan)
    names = []
    for start in range(0, len(text), 4):
        for delta, _ in deltas.text(TextDelta(text[start : start + 4])):
            names.extend(
                c.function.name for c in delta.tool_calls or [] if c.function and c.function.name
            )
    _, reason = deltas.finish(Generation(text, finish, 5, 9))  # type: ignore[arg-type]
    return names, reason


@pytest.mark.parametrize(
    ("choice", "parallel", "text"),
    [
        ("get_weather", False, CALL[:30]),
        ("required", True, f"[{CALL}, {CALL[:12]}"),
        ("required", True, f"[{CALL}"),
        ("auto", True, f"Let me look. <tool_call>{CALL}"),
        ("auto", True, f"Let me look. <tool_call>{CALL[:25]}"),
    ],
)
def test_a_cut_call_is_not_claimed(choice: str, parallel: bool, text: str) -> None:
    chosen = plan(choice, parallel)
    message, finish = chat_reply(chosen, Generation(text, "length", 5, 9))
    assert (finish, message.tool_calls, message.content) == ("length", None, text)
    _, reason = streamed(chosen, text, "length")
    assert reason == "length"


@pytest.mark.parametrize(
    ("choice", "parallel", "text"),
    [
        ("get_weather", False, CALL),
        ("required", True, f"[{CALL}, {CALL}]"),
        ("auto", True, f"Let me look. <tool_call>{CALL}</tool_call>"),
    ],
)
def test_whole_calls_are_claimed(choice: str, parallel: bool, text: str) -> None:
    chosen = plan(choice, parallel)
    message, finish = chat_reply(chosen, Generation(text, "stop", 5, 9))
    assert finish == "tool_calls" and message.tool_calls
    assert all(
        json.loads(call.function.arguments) == {"city": "Oslo"} for call in message.tool_calls
    )
    names, reason = streamed(chosen, text, "stop")
    assert reason == "tool_calls" and names and set(names) == {"get_weather"}


def test_a_cut_json_schema_output_is_content_with_length() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    chosen = tooluse.plan((), None, True, tooluse.OutputFormat("json_schema", schema))
    message, finish = chat_reply(chosen, Generation('{"city": "Os', "length", 5, 4))
    assert (finish, message.content, message.tool_calls) == ("length", '{"city": "Os', None)
