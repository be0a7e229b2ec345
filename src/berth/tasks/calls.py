"""How code that holds no API key calls models (a job, a grader, a tool): by alias and task.

The inference service gives each such caller a :class:`ModelCalls` of its own (a job's calls
go in the pool's background lane); the task is checked before the call and every answer after.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, TypeVar

from berth.tasks.task import ModelTask

Out = TypeVar("Out")


class ModelCalls(Protocol):
    """Models by alias, for one kind of caller."""

    def check(self, alias: str, task: ModelTask[Any]) -> None:
        """Raise now (UnknownModel, InvalidRequest) unless ``alias`` is in the catalog and
        does ``task``: before a job reads its inputs, not after its first call."""
        ...

    async def run(self, alias: str, task: ModelTask[Out], items: Sequence[object]) -> list[Out]:
        """One output per item, batched with other callers' items."""
        ...

    def stream(self, alias: str, task: ModelTask[Out], item: object) -> AsyncIterator[object]:
        """The chunks a streaming model makes for ``item`` (``task.chunks``, the last one its
        output); closing the iterator stops the model's work on it."""
        ...
