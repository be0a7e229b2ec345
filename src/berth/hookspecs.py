"""Berth's one extension point.

A plugin is an installed package with an entry point in the group ``berth.kinds`` (job kinds),
``berth.runners`` (model runners), ``berth.trainers`` (fine-tuning trainers) or ``berth.tools``
(tools agents call) that names a function::

    def register(registry: berth.hookspecs.Registry) -> None:
        registry.add_kind(JobKind(name="my-kind", run=..., input_model=...))
        registry.add_runner(RunnerType(name="my-runner", create=MyRunner, tasks=...))
        registry.add_trainer(TrainerType(name="my-trainer", methods=..., create=MyTrainer))
        registry.add_tool(Tool(name="my_tool", description=..., input_schema=..., call=...))

Berth's own kinds and runners register through the same entry points as third-party ones
(see ``[project.entry-points]`` in ``pyproject.toml``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from berth.agents.tool import Tool
    from berth.jobs.kind import JobKind
    from berth.runners.contract import RunnerType
    from berth.training.trainer import TrainerType

ENTRY_POINT_GROUPS = ("berth.kinds", "berth.runners", "berth.trainers", "berth.tools")
"""The entry-point groups Berth loads plugins from."""


class Registry(Protocol):
    """What a plugin's ``register`` function is given."""

    def add_kind(self, kind: JobKind[Any]) -> None:
        """Make a job kind available to submit and to run."""
        ...

    def add_runner(self, runner: RunnerType) -> None:
        """Make a model runner available to catalog entries (``runner = "<name>"``)."""
        ...

    def add_trainer(self, trainer: TrainerType) -> None:
        """Make a trainer available to fine-tuning jobs of its methods."""
        ...

    def add_tool(self, tool: Tool) -> None:
        """Make a tool available to agents (each agent names the tools it may call)."""
        ...


RegisterHook = Callable[[Registry], None]
"""The signature of the function each entry point names."""
