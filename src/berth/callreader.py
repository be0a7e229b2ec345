"""Reading tool calls back out of generated text, piece by piece as it streams.

A :class:`CallReader` takes the text of one generation as it comes and gives back events in
the order a stream shows them: content text, the start of a call (its id and function name),
and pieces of that call's arguments (JSON text). The same reader reads a whole answer at once,
so a streamed answer and a whole one always agree. The calls' shape (``{"name": ...,
"arguments": {...}}``, alone, in an array, or between tags) is what the grammar of
:mod:`berth.tooluse` allows.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from berth.ids import new_id
from berth.tasks.generate import TOOL_CALL_BEGIN, TOOL_CALL_END, ToolCall
from berth.tooluse import Reading

HEAD = re.compile(r'\{\s*"name"\s*:\s*("(?:[^"\\]|\\.)*")\s*,\s*"arguments"\s*:\s*')


@dataclass(frozen=True)
class Content:
    text: str


@dataclass(frozen=True)
class CallStart:
    index: int
    id: str
    name: str


@dataclass(frozen=True)
class CallArguments:
    index: int
    text: str


Event = Content | CallStart | CallArguments


def call_id() -> str:
    """A new tool call id, ``call_...`` as OpenAI's are."""
    return f"call_{new_id()}"


class CallScanner:
    """Finds ``{"name": N, "arguments": A}`` objects in JSON text as it arrives: the start of
    each once its name is read, then its arguments as they come, up to the end of ``A``."""

    def __init__(self, first_index: int = 0, *, pause_after_call: bool = False) -> None:
        self.next_index = first_index
        self.pause_after_call = pause_after_call
        """Stop reading at the end of each call, leaving what follows in ``rest`` (for calls
        between tags: the end tag comes first)."""
        self.rest = ""
        """Text not yet part of a call (between calls, or after the last)."""
        self.in_call = False
        self._depth = 0
        self._string = False
        self._escape = False
        self._started = False

    def feed(self, text: str) -> list[Event]:
        events: list[Event] = []
        self.rest += text
        while self.rest:
            if not self.in_call:
                match = HEAD.search(self.rest)
                if match is None:
                    break
                events.append(CallStart(self.next_index, call_id(), json.loads(match.group(1))))
                self.rest, self.in_call = self.rest[match.end() :], True
                continue
            index, taken = self.next_index, self._arguments()
            if taken:
                events.append(CallArguments(index, taken))
            if self.pause_after_call and not self.in_call:
                break
        return events

    def _arguments(self) -> str:
        """Take the arguments' text from ``rest``, up to their end if it is there (the
        space before them, which may come in a later piece than the key, is not theirs)."""
        if not self._started:
            self.rest = self.rest.lstrip()
            self._started = bool(self.rest)
        for at, char in enumerate(self.rest):
            if self._string:
                self._string_char(char)
                continue
            if char == '"':
                self._string = True
            elif char in "{[":
                self._depth += 1
            elif char in "}]":
                self._depth -= 1
            if self._depth == 0 and not char.isspace():
                taken, self.rest = self.rest[: at + 1], self.rest[at + 1 :]
                self.in_call, self.next_index = False, self.next_index + 1
                self._started = False
                return taken
        taken, self.rest = self.rest, ""
        return taken

    def _string_char(self, char: str) -> None:
        """Follow one character inside a JSON string."""
        if self._escape:
            self._escape = False
        elif char == "\\":
            self._escape = True
        elif char == '"':
            self._string = False


class CallReader:
    """Turns one generation's text into events (see the module doc) as ``reading`` says."""

    def __init__(self, reading: Reading, parallel: bool = True) -> None:
        self.reading = reading
        self.parallel = parallel
        self._scanner = CallScanner(pause_after_call=reading == "tagged")
        self._tagged = False
        """With tagged reading: inside a call's tags."""
        self._opened = 0
        """The index of the call in the tags last opened."""
        self._held = ""
        self._text: list[str] = []
        """All the text fed (with forced calls: their JSON, to tell whether it closed)."""
        self.content = ""
        self.calls: list[ToolCall] = []
        self._pieces: dict[int, list[str]] = {}
        self._names: dict[int, tuple[str, str]] = {}

    def feed(self, text: str) -> list[Event]:
        if self.reading == "calls":
            self._text.append(text)
        if self.reading == "text":
            events: list[Event] = [Content(text)] if text else []
        elif self.reading == "calls":
            events = self._scanner.feed(text)
        else:
            events = self._tags(self._held + text)
        return self._kept(events)

    def finish(self) -> list[Event]:
        """What is left once the text is complete."""
        held, self._held = self._held, ""
        if self.reading == "tagged" and not self._tagged and held:
            return self._kept([Content(held)])
        return []

    def tool_calls(self) -> list[ToolCall]:
        """The calls read so far, each with its whole arguments' text."""
        return [
            ToolCall(id, name, "".join(self._pieces.get(index, [])))
            for index, (id, name) in sorted(self._names.items())
        ]

    def complete(self) -> bool:
        """Whether every call read so far has its whole arguments (valid JSON)."""
        for call in self.tool_calls():
            try:
                json.loads(call.arguments)
            except json.JSONDecodeError:
                return False
        return not self._scanner.in_call

    def whole(self) -> bool:
        """Whether the output is whole as its grammar makes it: every call complete, no call's
        tags left open, and forced calls' JSON (the call, or the array of them) closed. False
        for an answer that its token limit cut inside a call."""
        if not self.complete():
            return False
        if self.reading == "calls":
            try:
                json.loads("".join(self._text))
            except json.JSONDecodeError:
                return False
        return not self._tagged

    def _tags(self, text: str) -> list[Event]:
        events: list[Event] = []
        self._held = ""
        while text:
            if self._tagged:
                events.extend(self._scanner.feed(text))
                text = ""
                done = self._scanner.next_index > self._opened and not self._scanner.in_call
                if done and TOOL_CALL_END in self._scanner.rest:
                    _, _, text = self._scanner.rest.partition(TOOL_CALL_END)
                    self._scanner.rest, self._tagged = "", False
                continue
            before, begin, after = text.partition(TOOL_CALL_BEGIN)
            if begin:
                events.append(Content(before))
                text, self._tagged, self._opened = after, True, self._scanner.next_index
                continue
            keep = _prefix_at_end(text, TOOL_CALL_BEGIN)
            events.append(Content(text[: len(text) - keep]))
            self._held, text = text[len(text) - keep :], ""
        return [event for event in events if not isinstance(event, Content) or event.text]

    def _kept(self, events: list[Event]) -> list[Event]:
        """``events`` recorded; with one call allowed, those of later calls dropped."""
        kept: list[Event] = []
        for event in events:
            later = isinstance(event, CallStart | CallArguments) and event.index > 0
            if later and not self.parallel:
                continue
            if isinstance(event, Content):
                self.content += event.text
            elif isinstance(event, CallStart):
                self._names[event.index] = (event.id, event.name)
            else:
                self._pieces.setdefault(event.index, []).append(event.text)
            kept.append(event)
        return kept


def _prefix_at_end(text: str, marker: str) -> int:
    """How many trailing characters of ``text`` could begin ``marker``."""
    for size in range(min(len(marker) - 1, len(text)), 0, -1):
        if marker.startswith(text[-size:]):
            return size
    return 0
