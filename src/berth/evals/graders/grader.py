"""What every grader is: built from one testing criterion, it grades one sample.

A criterion is a JSON object with a ``type`` (the grader family) and a ``name``; its family's
pydantic model checks the rest when the eval is created (so a bad criterion is a 400 naming
its field) and builds the :class:`Grader` that a run uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from berth.tasks.calls import ModelCalls
from berth.tasks.task import ModelTask

Scope = Mapping[str, Any]
"""What a template can reach: ``{"item": {...}, "sample": {...}}``."""


@dataclass(frozen=True)
class Grade:
    """One criterion's verdict on one sample: a score, whether it passes, and what it saw."""

    score: float
    passed: bool
    detail: dict[str, Any] = field(default_factory=dict)


class Grader(Protocol):
    """Grades one sample."""

    async def grade(self, scope: Scope) -> Grade: ...


class Criterion(BaseModel):
    """The fields every testing criterion has; each family adds its own."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)

    def type_name(self) -> str:
        """The criterion's ``type``."""
        return str(getattr(self, "type", type(self).__name__))

    def templates(self) -> dict[str, str]:
        """The criterion's template fields by name, for checks at create time."""
        return {}

    def models(self) -> list[tuple[str, ModelTask[Any]]]:
        """The catalog models this criterion calls (a judge, an embedding model), each with
        the task it must do."""
        return []

    def build(self, models: ModelCalls | None) -> Grader:
        """The grader a run uses; ``models`` for criteria that call models."""
        raise NotImplementedError
