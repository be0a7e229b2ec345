"""What an upload must hold for its purpose: JSONL purposes are checked line by line, each
problem named by its line and field, before anything is stored."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from berth import errors
from berth.files.file import Purpose

MAX_PROBLEM_LINES = 200_000
ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
Check = Callable[[dict[str, Any]], str | None]


def records(stream: IO[bytes], filename: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-blank line; InvalidRequest for a line that is
    not one JSON object."""
    for number, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        try:
            value = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise errors.InvalidRequest(
                f"{filename}, line {number}: not JSON ({detail}). Each line must be one JSON "
                "object."
            ) from None
        if not isinstance(value, dict):
            raise errors.InvalidRequest(
                f"{filename}, line {number}: a JSON {type(value).__name__}, not an object. "
                "Each line must be one JSON object."
            )
        yield number, value


def _eval_item(record: dict[str, Any]) -> str | None:
    if not isinstance(record.get("item"), dict):
        return 'field item: each line must be {"item": {...}} (and optionally "sample")'
    if "sample" in record and not isinstance(record["sample"], dict):
        return "field sample: must be an object"
    return None


def _message(message: Any, where: str) -> str | None:
    if not isinstance(message, dict):
        return f"field {where}: a message must be an object with role and content"
    role = message.get("role")
    if role not in ROLES:
        return f"field {where}.role: {role!r} is not a role; use {', '.join(sorted(ROLES))}"
    content = message.get("content")
    if content is not None and not isinstance(content, str | list):
        return f"field {where}.content: must be text (or a list of parts)"
    if content is None and role != "assistant":
        return f"field {where}.content: missing"
    return None


def _fine_tune(record: dict[str, Any]) -> str | None:
    if "messages" not in record and "input" in record:
        for name in ("preferred_output", "non_preferred_output"):
            if not isinstance(record.get(name), list) or not record[name]:
                return f"field {name}: a preference line needs a non-empty list of messages"
        return None
    messages = record.get("messages")
    if not isinstance(messages, list) or not messages:
        return "field messages: each line needs a non-empty list of chat messages"
    for index, message in enumerate(messages):
        problem = _message(message, f"messages[{index}]")
        if problem:
            return problem
    if not any(m.get("role") == "assistant" for m in messages):
        return "field messages: no assistant message to learn from"
    return None


def _batch(record: dict[str, Any]) -> str | None:
    for name, kind in (("custom_id", str), ("method", str), ("url", str), ("body", dict)):
        if not isinstance(record.get(name), kind):
            return f"field {name}: missing or not a {kind.__name__}"
    return None


CHECKS: dict[Purpose, Check] = {
    Purpose.EVALS: _eval_item,
    Purpose.FINE_TUNE: _fine_tune,
    Purpose.BATCH: _batch,
}


def check_jsonl(stream: IO[bytes], filename: str, purpose: Purpose) -> int:
    """How many records a JSONL upload for ``purpose`` holds, each checked; InvalidRequest
    naming the first bad line and field."""
    check = CHECKS.get(purpose)
    count = 0
    for number, record in records(stream, filename):
        problem = check(record) if check is not None else None
        if problem is not None:
            raise errors.InvalidRequest(f"{filename}, line {number}: {problem}.")
        count += 1
    if count == 0:
        raise errors.InvalidRequest(f"{filename} holds no JSON lines. Put one object per line.")
    return count
