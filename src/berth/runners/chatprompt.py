"""A conversation, its tools included, as a chat template reads it.

A model whose chat template has a tools section (it reads the ``tools`` variable) gets the
tools, the assistant's earlier calls and the tools' results in the shape transformers'
``apply_chat_template(..., tools=...)`` passes them. Any other template gets Berth's own
rendering: a system message that describes the tools and how to call one (the
``<tool_call>`` form the grammar of ``tool_choice: auto`` allows), earlier calls written in
that form in the assistant's text, and tool results as user messages.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from berth.tasks.generate import (
    TOOL_CALL_BEGIN,
    TOOL_CALL_END,
    ChatMessage,
    GenerationRequest,
    ToolCall,
    ToolSpec,
)

TemplateMessage = dict[str, Any]


def reads_tools(template: object) -> bool:
    """Whether a chat template (one, or a name -> template mapping) has a tools section."""
    if isinstance(template, dict):
        return any(reads_tools(one) for one in template.values())
    return isinstance(template, str) and "tools" in template


def template_tools(tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
    """The tools as chat templates take them (OpenAI's function tool shape)."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": json.loads(tool.parameters),
            },
        }
        for tool in tools
    ]


def native_messages(messages: Sequence[ChatMessage]) -> list[TemplateMessage]:
    """The conversation for a template with a tools section."""
    rendered: list[TemplateMessage] = []
    for message in messages:
        entry: TemplateMessage = {"role": message.role, "content": message.content}
        if message.tool_calls:
            entry["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": _arguments(call)},
                }
                for call in message.tool_calls
            ]
        if message.role == "tool":
            entry["tool_call_id"] = message.tool_call_id
            if message.name:
                entry["name"] = message.name
        rendered.append(entry)
    return rendered


def fallback_messages(request: GenerationRequest) -> list[TemplateMessage]:
    """The conversation for a template without a tools section (see the module doc)."""
    rendered: list[TemplateMessage] = []
    for message in request.messages:
        if message.role == "tool":
            rendered.append({"role": "user", "content": tool_result(message)})
        elif message.tool_calls:
            calls = "".join(written_call(call) for call in message.tool_calls)
            rendered.append({"role": message.role, "content": message.content + calls})
        else:
            rendered.append({"role": message.role, "content": message.content})
    if not request.tools:
        return rendered
    guide = tools_prompt(request.tools)
    if rendered and rendered[0]["role"] == "system":
        rendered[0] = {"role": "system", "content": f"{rendered[0]['content']}\n\n{guide}"}
    else:
        rendered.insert(0, {"role": "system", "content": guide})
    return rendered


def tools_prompt(tools: Sequence[ToolSpec]) -> str:
    """The system text that describes the tools to a model whose template cannot."""
    lines = [
        "You can call these tools. To call one, write "
        f'{TOOL_CALL_BEGIN}{{"name": <tool name>, "arguments": {{<its arguments>}}}}'
        f"{TOOL_CALL_END}; the result comes back in the next message.",
        "",
        "Tools:",
    ]
    for tool in tools:
        about = f": {tool.description}" if tool.description else ""
        lines.append(f"- {tool.name}{about} Arguments (JSON schema): {tool.parameters}")
    return "\n".join(lines)


def written_call(call: ToolCall) -> str:
    body = json.dumps({"name": call.name, "arguments": _arguments(call)})
    return f"{TOOL_CALL_BEGIN}{body}{TOOL_CALL_END}"


def tool_result(message: ChatMessage) -> str:
    about = f" of {message.name}" if message.name else ""
    return f"Result{about} (call {message.tool_call_id}): {message.content}"


def _arguments(call: ToolCall) -> Any:
    """A call's arguments as an object (templates write them out themselves)."""
    try:
        return json.loads(call.arguments)
    except json.JSONDecodeError:
        return call.arguments
