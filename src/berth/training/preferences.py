"""Preference examples for ``method: dpo`` in OpenAI's shape: a prompt (``input.messages``)
with one preferred and one non-preferred assistant answer, each problem named by line and
field; and the tokenized pair the DPO trainer scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.training.examples import Example, Message, encode, parse_message, read_lines

SHAPE = (
    '{"input": {"messages": [{"role": "user", "content": "..."}]}, '
    '"preferred_output": [{"role": "assistant", "content": "..."}], '
    '"non_preferred_output": [{"role": "assistant", "content": "..."}]}'
)
ANSWERS = ("preferred_output", "non_preferred_output")


@dataclass(frozen=True, slots=True)
class Preference:
    """A prompt and the answer to prefer over the other."""

    prompt: tuple[Message, ...]
    preferred: str
    rejected: str


@dataclass(frozen=True, slots=True)
class Pair:
    """A preference tokenized: the prompt with each answer, labels on the answer only."""

    chosen: Example
    rejected: Example


def _answer(value: Any, name: str) -> str:
    if not isinstance(value, list) or len(value) != 1:
        raise ValueError(f"{name}: must be a list of exactly one assistant message")
    message = parse_message(value[0], f"{name}[0]")
    if message.role != "assistant":
        raise ValueError(f"{name}[0].role: must be 'assistant', not {message.role!r}")
    return message.content


def parse_preference(record: Any) -> Preference:
    """The preference of one JSONL record; raises ValueError naming the field."""
    if not isinstance(record, dict):
        raise ValueError("the line must be a JSON object")
    if "messages" in record and "input" not in record:
        raise ValueError(
            "this is a supervised (chat) example; method dpo needs preference examples. "
            "Use method supervised for this file, or write preference lines"
        )
    given = record.get("input")
    messages = given.get("messages") if isinstance(given, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ValueError("input.messages: must be a non-empty list of {role, content} objects")
    prompt = tuple(parse_message(m, f"input.messages[{i}]") for i, m in enumerate(messages))
    if prompt[-1].role == "assistant":
        raise ValueError("input.messages: must end with a user (or system) turn to answer")
    preferred, rejected = (_answer(record.get(name), name) for name in ANSWERS)
    if preferred == rejected:
        raise ValueError("preferred_output and non_preferred_output: must differ")
    return Preference(prompt, preferred, rejected)


def read_preferences(path: Path, label: str) -> list[Preference]:
    """Every preference in a JSONL file; raises InvalidTrainingData naming the file
    (``label``), the line and the field."""
    return read_lines(path, label, parse_preference, f"Each line of a dpo file must be {SHAPE}.")


def encode_pair(tokenizer: Any, preference: Preference, max_length: int) -> Pair:
    """Tokenize both answers after the prompt with the chat template."""
    prompt: Sequence[Message] = preference.prompt
    return Pair(
        encode(tokenizer, [*prompt, Message("assistant", preference.preferred)], max_length),
        encode(tokenizer, [*prompt, Message("assistant", preference.rejected)], max_length),
    )
