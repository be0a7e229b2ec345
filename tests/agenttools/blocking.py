"""Blocking tool functions the subprocess tests run in a child process."""

from __future__ import annotations

import time
from pathlib import Path


def sleep_then_mark(seconds: float, mark: str) -> str:
    """Sleep, then write ``mark``: the file exists only if the sleep was not stopped."""
    time.sleep(seconds)
    Path(mark).write_text("ran to the end")
    return "slept"


def add(a: int, b: int) -> int:
    return a + b


class Flaky(Exception):
    retryable = True


def always_flaky() -> None:
    raise Flaky("the service is busy")
