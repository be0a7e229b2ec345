"""Chat training examples: read from JSONL (each problem named by line and field), and
tokenized with the model's chat template so that only assistant tokens carry a label."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from berth import errors

T = TypeVar("T")
CHAT_RULE = (
    'Each line must be {"messages": [{"role": "user", "content": "..."}, '
    '{"role": "assistant", "content": "..."}]}.'
)

ROLES = ("system", "user", "assistant")
IGNORED = -100
"""The label of a token the loss does not count (PyTorch's cross-entropy ignore index)."""


@dataclass(frozen=True, slots=True)
class Message:
    role: str
    content: str
    weight: int = 1
    """For an assistant message: 0 keeps it out of the loss (OpenAI's ``weight``)."""


@dataclass(frozen=True, slots=True)
class Example:
    """One tokenized conversation: ids and labels of the same length."""

    input_ids: list[int]
    labels: list[int]

    @property
    def trained(self) -> int:
        """How many tokens the loss counts."""
        return sum(1 for label in self.labels if label != IGNORED)


def parse_message(value: Any, where: str) -> Message:
    """One ``{role, content}`` message; raises ValueError naming the field ``where``."""
    if not isinstance(value, dict):
        raise ValueError(f"{where}: must be an object with 'role' and 'content'")
    role = value.get("role")
    if role not in ROLES:
        raise ValueError(f"{where}.role: must be one of {', '.join(ROLES)}, not {role!r}")
    content = value.get("content")
    if not isinstance(content, str) or (role == "assistant" and not content):
        raise ValueError(f"{where}.content: must be a non-empty string")
    weight = value.get("weight", 1)
    if weight not in (0, 1) or isinstance(weight, bool):
        raise ValueError(f"{where}.weight: must be 0 or 1")
    return Message(role, content, int(weight))


def parse_example(record: Any) -> list[Message]:
    """The messages of one JSONL record ``{"messages": [...]}``; raises ValueError naming
    the field."""
    if not isinstance(record, dict):
        raise ValueError("the line must be a JSON object with a 'messages' list")
    if "messages" not in record and "preferred_output" in record:
        raise ValueError(
            "this is a preference (dpo) example; method supervised needs chat examples. "
            "Create the job with method dpo for this file, or write chat lines"
        )
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages: must be a non-empty list of {role, content} objects")
    parsed = [parse_message(value, f"messages[{i}]") for i, value in enumerate(messages)]
    if not any(m.role == "assistant" and m.weight for m in parsed):
        raise ValueError("messages: needs at least one assistant message to learn from")
    return parsed


def read_examples(path: Path, label: str) -> list[list[Message]]:
    """Every conversation in a chat JSONL file; raises InvalidTrainingData naming the file
    (``label``: training_file or validation_file), the line and the field."""
    return read_lines(path, label, parse_example, CHAT_RULE)


def read_lines(path: Path, label: str, parse: Callable[[Any], T], rule: str) -> list[T]:
    """Each non-blank line of a JSONL file parsed by ``parse`` (which raises ValueError
    naming the field); a bad line raises InvalidTrainingData naming the file (``label``) and
    the line, then ``rule``, the sentence saying what a line must be."""
    found = []
    for number, line in lines(path):
        try:
            found.append(parse(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise _bad(label, number, f"is not valid JSON ({exc.msg})", rule) from None
        except ValueError as exc:
            raise _bad(label, number, str(exc), rule) from None
    if not found:
        raise errors.InvalidTrainingData(f"{label}: the file holds no examples.")
    return found


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line of a UTF-8 file."""
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, start=1):
            if line.strip():
                yield number, line


def _bad(label: str, number: int, problem: str, rule: str) -> errors.InvalidTrainingData:
    return errors.InvalidTrainingData(f"{label}, line {number}: {problem}. {rule}")


def _render(tokenizer: Any, messages: Sequence[Message], prompt: bool) -> list[int]:
    plain = [{"role": m.role, "content": m.content} for m in messages]
    ids = tokenizer.apply_chat_template(
        plain, tokenize=True, add_generation_prompt=prompt, return_dict=False
    )
    if isinstance(ids, dict) or hasattr(ids, "keys"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def encode(tokenizer: Any, messages: Sequence[Message], max_length: int) -> Example:
    """Tokenize a conversation with the chat template; each assistant turn's tokens (after
    its generation prompt) are labelled, everything else is ignored. Raises ValueError if
    the template does not render the conversation turn by turn as prefixes."""
    ids: list[int] = []
    labels: list[int] = []

    def extend(upto: list[int], trained: bool) -> None:
        if upto[: len(ids)] != ids:
            raise ValueError("the chat template does not render turns as prefixes")
        new = upto[len(ids) :]
        ids.extend(new)
        labels.extend(new if trained else [IGNORED] * len(new))

    for index, message in enumerate(messages):
        if message.role != "assistant":
            continue
        extend(_render(tokenizer, messages[:index], prompt=True), trained=False)
        extend(
            _render(tokenizer, messages[: index + 1], prompt=False), trained=bool(message.weight)
        )
    extend(_render(tokenizer, messages, prompt=False), trained=False)
    return Example(ids[:max_length], labels[:max_length])
