"""Loading plugins: every entry point in Berth's groups is called with the registry."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from berth import errors
from berth.agents.registry import ToolRegistry
from berth.agents.tool import Tool
from berth.hookspecs import ENTRY_POINT_GROUPS, RegisterHook
from berth.jobs.kind import JobKind
from berth.runners.contract import RunnerType
from berth.training.trainer import TrainerType

log = logging.getLogger(__name__)


class PluginRegistry:
    """Everything plugins registered: job kinds now, model runners later."""

    def __init__(self) -> None:
        self.kinds: dict[str, JobKind[Any]] = {}
        self.runners: dict[str, RunnerType] = {}
        self.trainers: dict[str, TrainerType] = {}
        self.tools = ToolRegistry()

    def add_tool(self, tool: Tool) -> None:
        self.tools.add(tool)

    def add_trainer(self, trainer: TrainerType) -> None:
        if trainer.name in self.trainers:
            raise errors.PluginError(
                f"Two plugins register the trainer '{trainer.name}'. Uninstall one of them."
            )
        self.trainers[trainer.name] = trainer

    def trainer_for(self, method: str) -> TrainerType:
        """The first trainer (by name) for a fine-tuning method; raises InvalidRequest."""
        for name in sorted(self.trainers):
            if method in self.trainers[name].methods:
                return self.trainers[name]
        known = sorted({m for t in self.trainers.values() for m in t.methods}) or ["none"]
        raise errors.InvalidRequest(
            f"method: no installed trainer does '{method}'. Methods: {', '.join(known)}."
        )

    def add_runner(self, runner: RunnerType) -> None:
        if runner.name in self.runners:
            raise errors.PluginError(
                f"Two plugins register the runner '{runner.name}'. Uninstall one of them."
            )
        self.runners[runner.name] = runner

    def runner(self, name: str) -> RunnerType:
        """The runner with this name; raises PluginError naming the ones there are."""
        try:
            return self.runners[name]
        except KeyError:
            known = ", ".join(sorted(self.runners)) or "none"
            raise errors.PluginError(
                f"There is no runner '{name}'. Known runners: {known}. "
                "Install the plugin that provides it."
            ) from None

    def add_kind(self, kind: JobKind[Any]) -> None:
        if kind.name in self.kinds:
            raise errors.PluginError(
                f"Two plugins register the job kind '{kind.name}'. Uninstall one of them."
            )
        self.kinds[kind.name] = kind

    def kind(self, name: str) -> JobKind[Any]:
        """The kind with this name; raises UnknownKind naming the ones there are."""
        try:
            return self.kinds[name]
        except KeyError:
            known = ", ".join(sorted(self.kinds)) or "none"
            raise errors.UnknownKind(
                f"There is no job kind '{name}'. Known kinds: {known}."
            ) from None

    def register(self, hook: RegisterHook, origin: str) -> None:
        """Call one plugin's hook, blaming ``origin`` if it fails."""
        try:
            hook(self)
        except errors.PluginError:
            raise
        except Exception as exc:
            raise errors.PluginError(f"The plugin '{origin}' failed to register: {exc}") from exc


def _load(entry: EntryPoint) -> RegisterHook:
    try:
        hook = entry.load()
    except Exception as exc:
        raise errors.PluginError(
            f"Cannot load the plugin '{entry.name}' ({entry.value}) from group "
            f"'{entry.group}': {exc}. Reinstall or uninstall it."
        ) from exc
    if not callable(hook):
        raise errors.PluginError(
            f"The plugin '{entry.name}' ({entry.value}) is not a register(registry) function."
        )
    return hook  # type: ignore[no-any-return]


def discover(groups: Iterable[str] = ENTRY_POINT_GROUPS) -> PluginRegistry:
    """A registry filled by every installed plugin in ``groups``."""
    registry = PluginRegistry()
    for group in groups:
        for entry in sorted(entry_points(group=group), key=lambda e: e.name):
            registry.register(_load(entry), f"{entry.name} ({entry.value})")
            log.debug("plugin loaded", extra={"action": "plugin.loaded", "plugin": entry.value})
    return registry
