"""A realtime conversation: its items in order, as the protocol shows them and as chat text.

Items are messages (``system``, ``user``, ``assistant``) whose content parts are text or
audio; audio parts carry their transcript, which is what the chat model reads.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from berth.realtime.events import BadEvent, server_id
from berth.tasks.generate import ChatMessage, ToolCall

ROLES = ("system", "user", "assistant")
INPUT_PARTS = {"input_text", "input_audio", "text"}
OUTPUT_PARTS = {"output_text", "output_audio", "text", "audio"}


@dataclass
class Part:
    """One content part: ``type`` as the protocol names it; ``text`` for text parts and the
    transcript for audio parts (None until it is known)."""

    type: str
    text: str | None = None
    audio: bytes | None = None

    def as_json(self) -> dict[str, Any]:
        if self.type in ("input_audio", "output_audio", "audio"):
            return {"type": self.type, "transcript": self.text}
        return {"type": self.type, "text": self.text or ""}


@dataclass
class Item:
    id: str
    role: str
    content: list[Part] = field(default_factory=list)
    status: str = "completed"
    spoken: list[tuple[str, int]] = field(default_factory=list)
    """For an assistant's audio: each sentence and where its audio ends (ms), so a
    truncation keeps the text of what was heard."""
    type: str = "message"
    """``message``, ``function_call`` (the assistant calls a tool) or
    ``function_call_output`` (the client's result of that call)."""
    call_id: str | None = None
    name: str | None = None
    arguments: str = ""
    output: str = ""

    @property
    def text(self) -> str:
        return " ".join(part.text for part in self.content if part.text).strip()

    def as_json(self) -> dict[str, Any]:
        head = {"id": self.id, "object": "realtime.item", "type": self.type, "status": self.status}
        if self.type == "function_call":
            return {**head, "call_id": self.call_id, "name": self.name, "arguments": self.arguments}
        if self.type == "function_call_output":
            return {**head, "call_id": self.call_id, "output": self.output}
        return {
            "id": self.id,
            "object": "realtime.item",
            "type": "message",
            "role": self.role,
            "status": self.status,
            "content": [part.as_json() for part in self.content],
        }


def _part(raw: object, param: str, allowed: set[str], role: object) -> Part:
    if not isinstance(raw, dict) or raw.get("type") not in allowed:
        kinds = ", ".join(sorted(allowed))
        raise BadEvent(f"{param}.type must be one of {kinds} for a {role} item.", param)
    part_type = str(raw["type"])
    if part_type == "input_audio":
        audio = raw.get("audio")
        if not isinstance(audio, str):
            raise BadEvent(f"{param}.audio must be base64 audio.", f"{param}.audio")
        try:
            data = base64.b64decode(audio, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BadEvent(f"{param}.audio is not base64 ({exc}).", f"{param}.audio") from exc
        return Part(part_type, raw.get("transcript"), data)
    text = raw.get("text", raw.get("transcript"))
    if not isinstance(text, str):
        raise BadEvent(f"{param}.text must be a string.", f"{param}.text")
    return Part(part_type, text)


def item_from_event(spec: object) -> Item:
    """The item of a ``conversation.item.create``; raises BadEvent naming the bad field."""
    if not isinstance(spec, dict):
        raise BadEvent("item must be an object.", "item")
    kind = spec.get("type", "message")
    if kind in ("function_call", "function_call_output"):
        return _function_item(spec, str(kind))
    if kind != "message":
        raise BadEvent(
            f"item.type {kind!r} is not an item type; send 'message', 'function_call' or "
            "'function_call_output'.",
            "item.type",
        )
    role = spec.get("role")
    if role not in ROLES:
        raise BadEvent(f"item.role must be one of {', '.join(ROLES)}; got {role!r}.", "item.role")
    content = spec.get("content")
    if not isinstance(content, list) or not content:
        raise BadEvent("item.content must be a non-empty list of parts.", "item.content")
    allowed = OUTPUT_PARTS if role == "assistant" else INPUT_PARTS
    parts = [
        _part(raw, f"item.content[{index}]", allowed, role) for index, raw in enumerate(content)
    ]
    return Item(_item_id(spec), str(role), parts)


def _item_id(spec: dict[str, Any]) -> str:
    given = spec.get("id")
    if given is not None and (not isinstance(given, str) or not 0 < len(given) <= 64):
        raise BadEvent("item.id must be a string of up to 64 characters.", "item.id")
    return given or server_id("item")


def _function_item(spec: dict[str, Any], kind: str) -> Item:
    fields = ("call_id", "output") if kind == "function_call_output" else ("call_id", "name")
    for name in fields:
        if not isinstance(spec.get(name), str) or not spec[name]:
            raise BadEvent(f"item.{name} must be a non-empty string for a {kind} item.", name)
    arguments = spec.get("arguments", "")
    if not isinstance(arguments, str):
        raise BadEvent("item.arguments must be the call's arguments as a JSON string.", "arguments")
    role = "tool" if kind == "function_call_output" else "assistant"
    return Item(
        _item_id(spec),
        role,
        type=kind,
        call_id=spec["call_id"],
        name=spec.get("name"),
        arguments=arguments,
        output=spec.get("output", ""),
    )


class Conversation:
    """The items of one session, in order."""

    def __init__(self) -> None:
        self.items: list[Item] = []

    def last_id(self) -> str | None:
        return self.items[-1].id if self.items else None

    def find(self, item_id: object, param: str = "item_id") -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise BadEvent(
            f"There is no item {item_id!r} in this conversation.", param, "item_not_found"
        )

    def add(self, item: Item, after: object = None) -> str | None:
        """Add ``item`` after the item ``after`` (None: at the end); the previous item's id.
        A function call's output must answer a call of this conversation."""
        if any(existing.id == item.id for existing in self.items):
            raise BadEvent(f"An item with id {item.id!r} exists already.", "item.id")
        if item.type == "function_call_output" and item.call_id not in self._calls():
            raise BadEvent(
                f"item.call_id {item.call_id!r} answers no function_call item of this "
                "conversation; send the output of a call the assistant made.",
                "item.call_id",
            )
        if after is None:
            previous = self.last_id()
            self.items.append(item)
            return previous
        anchor = self.find(after, "previous_item_id")
        self.items.insert(self.items.index(anchor) + 1, item)
        return anchor.id

    def user_before(self, item: Item) -> Item | None:
        """The newest user message with text before ``item`` (what ``item`` answers)."""
        at = next((i for i, known in enumerate(self.items) if known is item), len(self.items))
        for earlier in reversed(self.items[:at]):
            if earlier.type == "message" and earlier.role == "user" and earlier.text:
                return earlier
        return None

    def delete(self, item_id: object) -> None:
        self.items.remove(self.find(item_id))

    def _calls(self) -> dict[str, str]:
        return {
            item.call_id: item.name or ""
            for item in self.items
            if item.type == "function_call" and item.call_id
        }

    def messages(self, instructions: str) -> tuple[ChatMessage, ...]:
        """The conversation as chat messages, the session's instructions first; function
        calls as the assistant's tool calls and their outputs as tool messages."""
        messages = [ChatMessage("system", instructions)] if instructions.strip() else []
        calls = self._calls()
        for item in self.items:
            if item.type == "function_call":
                call = ToolCall(item.call_id or "", item.name or "", item.arguments)
                messages.append(ChatMessage("assistant", "", tool_calls=(call,)))
            elif item.type == "function_call_output":
                messages.append(
                    ChatMessage(
                        "tool",
                        item.output,
                        tool_call_id=item.call_id,
                        name=calls.get(item.call_id or ""),
                    )
                )
            elif item.text:
                messages.append(ChatMessage(item.role, item.text))
        return tuple(messages)
