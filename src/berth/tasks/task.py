"""What a model does (its catalog ``task``), and :class:`ModelTask`: one kind of call into a
model, with what goes in and what comes out."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from berth import errors

Out = TypeVar("Out")


class Task(enum.StrEnum):
    """What a model does; the API routes requests by task."""

    EMBED = "embed"
    CHAT = "chat"
    COMPLETE = "complete"
    IMAGE = "image"
    VISION = "vision"
    TRANSCRIBE = "transcribe"
    SPEAK = "speak"
    OCR = "ocr"
    VAD = "vad"
    ECHO = "echo"


@dataclass(frozen=True)
class ModelTask(Generic[Out]):
    """One kind of call into a model: the catalog tasks whose models answer it, and the type
    of what comes back: ``output`` for each input of a run, ``chunks`` for a stream.

    The inference service checks a model's catalog task against ``tasks`` before a call and
    each answer against these types after it, so a caller holds typed results only and a
    wrong model is refused before it runs. ``echo`` stand-ins answer any task.
    """

    name: str
    """What the task makes, for messages: "embeddings", "speech", ..."""
    tasks: frozenset[Task]
    output: type[Out]
    chunks: tuple[type[Any], ...] = ()
    """The types a stream of this task yields (the last one is ``output``); none: no stream."""

    def accepts(self, task: Task, runner: str) -> bool:
        """Whether a model of catalog ``task`` run by ``runner`` answers this; ``echo``
        stand-ins (the task or the runner) answer anything."""
        return task in self.tasks or task is Task.ECHO or runner == "echo"

    def checked(self, alias: str, value: object) -> Out:
        """``value`` as this task's output; ModelError if the model gave something else."""
        if isinstance(value, BaseException):
            raise value
        if not isinstance(value, self.output):
            raise errors.ModelError(self.mismatch(alias, value))
        return value

    def checked_chunk(self, alias: str, value: object) -> object:
        """``value`` as one of this task's stream chunks; ModelError otherwise."""
        if not isinstance(value, self.chunks):
            raise errors.ModelError(self.mismatch(alias, value))
        return value

    def mismatch(self, alias: str, value: object) -> str:
        wanted = " or ".join(sorted(task.value for task in self.tasks))
        return (
            f"Model '{alias}' returned {type(value).__name__}, not {self.name}. Use a "
            f"{wanted} model."
        )
