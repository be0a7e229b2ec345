"""The child process a blocking tool runs in, so that its timeout can kill it.

It reads ``{"target": "module:function", "arguments": {...}}`` on stdin, calls the function
with the arguments, and writes ``{"result": ...}`` or ``{"error": ..., "retryable": ...}`` on
stdout as one JSON line.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def _call(target: str, arguments: dict[str, Any]) -> Any:
    module, _, name = target.partition(":")
    function = getattr(importlib.import_module(module), name)
    return function(**arguments)


def main() -> None:
    """Run one call from stdin and answer on stdout."""
    request = json.loads(sys.stdin.read())
    try:
        answer: dict[str, Any] = {"result": _call(request["target"], request["arguments"])}
    except Exception as exc:
        answer = {
            "error": f"{type(exc).__name__}: {exc}",
            "retryable": bool(getattr(exc, "retryable", False)),
        }
    sys.stdout.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
