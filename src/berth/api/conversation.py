"""A chat request's conversation and tools as the generation task takes them, checked: each
message with its text, images, earlier tool calls and tool results, and the request's
:class:`~berth.tooluse.ToolPlan`."""

from __future__ import annotations

import json

from berth import errors, tooluse
from berth.api.schemas.openai import ChatRequest, Message
from berth.api.schemas.tools import Tool
from berth.media.images import checked_image
from berth.tasks.generate import ChatMessage, ToolCall, ToolSpec


def text_of(message: Message) -> str:
    """A message's text (its image parts go to ``images_of``)."""
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    texts = []
    for part in message.content:
        if part.type == "image_url":
            continue
        if part.type != "text":
            raise errors.InvalidRequest(
                f"Message parts of type '{part.type}' need a model that reads them; "
                "send text parts to this model."
            )
        texts.append(part.text or "")
    return "".join(texts)


async def images_of(message: Message) -> tuple[bytes, ...]:
    """The encoded images of a message's ``image_url`` parts, each checked to decode."""
    if message.content is None or isinstance(message.content, str):
        return ()
    images = []
    for part in message.content:
        if part.type == "image_url":
            url = (part.image_url or {}).get("url")
            if not isinstance(url, str):
                raise errors.InvalidRequest(
                    'An image_url part needs {"image_url": {"url": "data:image/png;base64,..."}}.'
                )
            images.append(await checked_image(url))
    return tuple(images)


async def chat_messages(body: ChatRequest) -> tuple[ChatMessage, ...]:
    """The conversation, checked: a tool message answers a call an earlier assistant message
    made (and gets that call's function name)."""
    called: dict[str, str] = {}
    messages = []
    for index, message in enumerate(body.messages):
        calls = tuple(
            ToolCall(call.id, call.function.name, call.function.arguments)
            for call in message.tool_calls or ()
        )
        if calls and message.role != "assistant":
            raise errors.InvalidRequest(
                f"messages[{index}].tool_calls is set on a '{message.role}' message; only "
                "assistant messages make tool calls."
            )
        called.update((call.id, call.name) for call in calls)
        name = message.name
        if message.role == "tool":
            name = called.get(_answered(index, message, called)) or name
        messages.append(
            ChatMessage(
                message.role,
                text_of(message),
                await images_of(message),
                tool_calls=calls,
                tool_call_id=message.tool_call_id,
                name=name,
            )
        )
    return tuple(messages)


def _answered(index: int, message: Message, called: dict[str, str]) -> str:
    """The id of the call a tool message answers; InvalidRequest if it answers none."""
    if not message.tool_call_id:
        raise errors.InvalidRequest(
            f"messages[{index}].tool_call_id is missing: a tool message carries the result "
            "of one call, named by the id the assistant's tool_calls gave it."
        )
    if message.tool_call_id not in called:
        raise errors.InvalidRequest(
            f"messages[{index}].tool_call_id '{message.tool_call_id}' answers no call of an "
            "earlier assistant message. Send the assistant message with that call first."
        )
    return message.tool_call_id


def tool_plan(body: ChatRequest) -> tooluse.ToolPlan:
    """What the request's tools, tool_choice and response_format ask (checked)."""
    tools = [
        ToolSpec(
            tool.function.name,
            tool.function.description or "",
            json.dumps(tool.function.parameters or tooluse.EMPTY_PARAMETERS),
        )
        for tool in body.tools or ()
        if isinstance(tool, Tool)
    ]
    choice = body.tool_choice
    mode = choice if isinstance(choice, str) or choice is None else choice.function.name
    output = tooluse.OutputFormat()
    if body.response_format is not None:
        fmt = body.response_format
        schema = fmt.json_schema.json_schema if fmt.json_schema is not None else None
        output = tooluse.OutputFormat(fmt.type, schema)
    return tooluse.plan(tools, mode, body.parallel_tool_calls, output)
