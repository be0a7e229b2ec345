"""Model pools for tests: catalog entries for the echo runner and pools over them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from berth import errors
from berth.clock import Clock
from berth.models.spec import ModelSpec
from berth.plugins import PluginRegistry
from berth.pool.pool import ModelPool
from berth.runners.builtin import register
from berth.runners.contract import RunnerType
from berth.settings import Settings


def spec(
    alias: str,
    runner: str = "echo",
    transport: str = "thread",
    runner_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> ModelSpec:
    """A catalog entry that needs no files."""
    return ModelSpec(
        alias=alias,
        task="echo",
        runner=runner,
        source="none:",
        options={"transport": transport, "runner_options": dict(runner_options or {}), **options},
    )


def runners(*extra: RunnerType) -> dict[str, RunnerType]:
    """The built-in runners plus ``extra``."""
    registry = PluginRegistry()
    register(registry)
    for runner in extra:
        registry.add_runner(runner)
    return registry.runners


def catalog(specs: Iterable[ModelSpec]) -> Any:
    """``specs`` as the pool's ``specs`` callable (UnknownModel for anything else)."""
    table = {s.alias: s for s in specs}

    def get(alias: str) -> ModelSpec:
        if alias not in table:
            raise errors.UnknownModel(f"No model '{alias}' in this test's catalog.")
        return table[alias]

    return get


def make_pool(
    specs: Iterable[ModelSpec],
    *,
    budget: Mapping[str, str | int] | None = None,
    extra: Iterable[RunnerType] = (),
    clock: Clock | None = None,
    **settings: Any,
) -> ModelPool:
    """A pool (not yet open) over ``specs`` with no files to resolve."""
    return ModelPool(
        Settings(memory_budget=dict(budget or {}), **settings),
        catalog(specs),
        lambda _: None,
        runners(*extra),
        clock=clock,
    )
