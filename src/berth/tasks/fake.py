"""A :class:`~berth.tasks.calls.ModelCalls` fake for unit tests: answers come from functions.

Each model alias maps to a function from one input to its output (``run``) or to an async
iterator of chunks (``stream``); every call is recorded in ``calls``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, cast

from berth import errors
from berth.tasks.calls import Out
from berth.tasks.task import ModelTask

Answer = Callable[[Any], Any]
Streamer = Callable[[Any], AsyncIterator[object]]


class FakeModelCalls:
    """Models by alias, answered by ``answers`` (run) and ``streams`` (stream)."""

    def __init__(
        self,
        answers: Mapping[str, Answer] | None = None,
        streams: Mapping[str, Streamer] | None = None,
    ) -> None:
        self.answers = dict(answers or {})
        self.streams = dict(streams or {})
        self.calls: list[tuple[str, object]] = []

    def check(self, alias: str, task: ModelTask[Any]) -> None:
        if alias not in self.answers and alias not in self.streams:
            raise errors.UnknownModel(f"No model '{alias}' in the fake.")

    async def run(self, alias: str, task: ModelTask[Out], items: Sequence[object]) -> list[Out]:
        self.check(alias, task)
        outputs = []
        for item in items:
            self.calls.append((alias, item))
            outputs.append(cast(Out, self.answers[alias](item)))
        return outputs

    def stream(self, alias: str, task: ModelTask[Out], item: object) -> AsyncIterator[object]:
        self.check(alias, task)
        self.calls.append((alias, item))
        return self.streams[alias](item)
