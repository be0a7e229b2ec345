"""A job kind: a name, an input schema, and the coroutine that runs one job of it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pydantic

from berth import errors
from berth.jobs.job import JsonValue
from berth.jobs.paths import ROOTS_CONTEXT, DataRoots
from berth.tasks.task import ModelTask

if TYPE_CHECKING:
    from berth.jobs.context import JobContext

P = TypeVar("P")
REGISTRY_CONTEXT = "registry"
"""Where an input model's validators find the plugin registry (its tools, ...) at submit, to
check the names an input gives; absent when a worker parses the input to run it."""


@dataclass(frozen=True)
class JobKind(Generic[P]):
    """One kind of job.

    ``input_model`` is a pydantic model the input must fit (its JSON schema drives forms and
    docs); ``None`` accepts any JSON. ``run`` gets the validated input and returns the result.
    """

    name: str
    run: Callable[[JobContext, P], Coroutine[Any, Any, JsonValue]]
    description: str
    input_model: type[pydantic.BaseModel] | None = None
    concurrency: int | None = None
    """Most jobs of this kind one dispatcher runs at once (None: only the overall limit)."""
    task: ModelTask[Any] | None = None
    """What the job's model must do; a submit naming a model that does not is refused."""
    default_model: str | None = None
    """The model a job of this kind uses when it names none."""

    def parse(
        self, data: JsonValue, roots: DataRoots | None = None, registry: object | None = None
    ) -> P:
        """The input validated for this kind; raises InvalidJobInput saying what is wrong.
        With ``roots``, the files it names must lie under them (see :mod:`berth.jobs.paths`);
        with ``registry``, the names it gives of registered things must be registered."""
        if self.input_model is None:
            return data  # type: ignore[no-any-return]
        given = ((ROOTS_CONTEXT, roots), (REGISTRY_CONTEXT, registry))
        context = {key: value for key, value in given if value is not None} or None
        try:
            return self.input_model.model_validate(data, context=context)  # type: ignore[return-value]
        except pydantic.ValidationError as exc:
            raise errors.InvalidJobInput(
                f"Invalid input for job kind '{self.name}': {describe_validation(exc)}."
            ) from None

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the input."""
        if self.input_model is None:
            return {}
        return self.input_model.model_json_schema()


def describe_validation(exc: pydantic.ValidationError) -> str:
    """One line naming each bad field and what is wrong with it."""
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(part) for part in error["loc"]) or "input"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
